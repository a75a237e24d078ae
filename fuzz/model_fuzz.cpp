// Model file reader: any bytes either load as a consistent model that runs on zeros, or fail
// with std::invalid_argument naming the file. Any other exception or a crash is a finding.
#include <boosthead/model_file.h>
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz_util.h"

using boosthead::fuzz::check;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = boosthead::fuzz::scratch_path(".pt");
  boosthead::fuzz::write_file(path, data, size);
  boosthead::LoadedModel model;
  try {
    model = boosthead::load_model(path);
  } catch (const std::invalid_argument& e) {
    check(std::string(e.what()).find(path) != std::string::npos, "error does not name the file");
    return 0;
  }
  const auto& head = *model.head;
  check(head.num_features() == static_cast<int64_t>(model.info.feature_names.size()),
        "feature count differs from the feature names");
  torch::NoGradGuard no_grad;
  const auto x = torch::zeros({2, head.num_features()}, head.hidden_weight.options());
  for (int64_t t = 0; t <= head.num_stages(); ++t) {
    const auto f = head.forward(x, t);
    check(f.size(0) == 2 && f.size(1) == head.num_outputs(), "scores have the wrong shape");
  }
  return 0;
}
