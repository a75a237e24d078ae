#include <CLI/CLI.hpp>
#include <vector>

#include "common.h"

#ifndef BOOSTHEAD_VERSION
#define BOOSTHEAD_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  using namespace boosthead::cli;
  CLI::App app{"Boosted neural-network heads: fit, evaluate and apply models on CSV data",
               "boosthead"};
  app.set_version_flag("--version", "boosthead " BOOSTHEAD_VERSION);
  app.require_subcommand(1);
  const std::vector<Command> commands = {add_fit_command(app), add_eval_command(app),
                                         add_predict_command(app), add_bench_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end the parse with status 0; everything else is a usage error in
    // the tool's own format.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string command = "boosthead";
    for (const auto* sub : app.get_subcommands()) command += " " + sub->get_name();
    print_error(e.what(), command, true);
    return kExitUsage;
  }
  for (const auto& command : commands) {
    if (command.app->parsed()) {
      return run_guarded(command.run, "boosthead " + command.app->get_name());
    }
  }
  return kExitError;
}
