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
    return app.exit(e);
  }
  for (const auto& command : commands) {
    if (command.app->parsed()) return run_guarded(command.run);
  }
  return 1;
}
