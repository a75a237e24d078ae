#include <boosthead/collective.h>

#include <chrono>
#include <string>

namespace boosthead {
namespace {

class Timer {
 public:
  explicit Timer(double& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Timer() {
    total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  double& total_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

void Collective::all_reduce_sum(std::vector<double>& values) {
  Timer timer(stats_.seconds);
  ++stats_.reductions;
  stats_.values += static_cast<int64_t>(values.size());
  all_reduce_sum(values.data(), values.size());
}

double Collective::sum(double value) {
  std::vector<double> v{value};
  all_reduce_sum(v);
  return v[0];
}

std::vector<std::string> Collective::all_gather(const std::string& bytes) {
  Timer timer(stats_.seconds);
  ++stats_.gathers;
  return gather_bytes(bytes);
}

namespace detail {

void sum_across(Collective* collective, std::vector<double>& values) {
  if (collective != nullptr) collective->all_reduce_sum(values);
}

int64_t row_offset(Collective* collective, int64_t rows) {
  if (collective == nullptr) return 0;
  const auto counts = collective->all_gather(std::to_string(rows));
  int64_t offset = 0;
  for (int r = 0; r < collective->rank(); ++r) offset += std::stoll(counts[static_cast<size_t>(r)]);
  return offset;
}

}  // namespace detail
}  // namespace boosthead
