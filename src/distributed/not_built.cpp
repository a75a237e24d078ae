// join_process_group() in a build without the Gloo headers (Debian's libgloo-dev): no backend.

#include <boosthead/distributed.h>

#include <cstdlib>
#include <stdexcept>

namespace boosthead {

std::vector<std::string> process_group_backends() { return {}; }

std::shared_ptr<Collective> join_process_group(const ProcessGroupOptions&) {
  throw std::runtime_error(
      "this build of boosthead cannot join a process group: it was built without the Gloo "
      "headers (install libgloo-dev, or run scripts/setup.sh, and rebuild)");
}

}  // namespace boosthead
