// distributed.h in a build without c10d's Gloo headers (Debian's libgloo-dev): no backend.

#include <boosthead/distributed.h>

#include <cstdlib>
#include <stdexcept>

namespace boosthead {

bool launched_as_process_group() {
  const char* size = std::getenv("WORLD_SIZE");
  const char* rank = std::getenv("RANK");
  return size != nullptr && *size != '\0' && rank != nullptr && *rank != '\0';
}

std::vector<std::string> process_group_backends() { return {}; }

std::shared_ptr<Collective> join_process_group(const ProcessGroupOptions&) {
  throw std::runtime_error(
      "this build of boosthead cannot join a process group: it was built without the Gloo "
      "headers (install libgloo-dev, or run scripts/setup.sh, and rebuild)");
}

}  // namespace boosthead
