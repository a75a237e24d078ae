#pragma once
// A tiny TorchScript backbone built in C++ for the backbone and pipeline tests.

#include <torch/script.h>
#include <torch/types.h>

#include <filesystem>
#include <string>

namespace boosthead::test {

// Net: features (flatten + linear 16 -> 6 + tanh, counting its calls in `calls`), classifier
// (linear 6 -> 3); methods forward, embed (2 * features) and pair (returns a tuple).
// Inputs are N x 1 x 4 x 4.
inline std::string write_tiny_backbone(const std::string& name, uint64_t seed = 3) {
  torch::manual_seed(seed);
  torch::jit::Module features(c10::QualifiedName("__torch__.bhtest.Features"));
  features.register_parameter("weight", torch::randn({6, 16}), false);
  features.register_parameter("bias", torch::randn({6}), false);
  features.register_attribute("calls", c10::IntType::get(), int64_t{0});
  features.register_attribute("training", c10::BoolType::get(), true);
  features.define(R"JIT(
def forward(self, x: Tensor) -> Tensor:
    self.calls = self.calls + 1
    return torch.tanh(torch.addmm(self.bias, x.reshape(x.size(0), -1), self.weight.t()))
)JIT");
  torch::jit::Module classifier(c10::QualifiedName("__torch__.bhtest.Classifier"));
  classifier.register_parameter("weight", torch::randn({3, 6}), false);
  classifier.register_parameter("bias", torch::randn({3}), false);
  classifier.register_attribute("training", c10::BoolType::get(), true);
  classifier.define(R"JIT(
def forward(self, x: Tensor) -> Tensor:
    return torch.addmm(self.bias, x, self.weight.t())
)JIT");
  torch::jit::Module net(c10::QualifiedName("__torch__.bhtest.Net"));
  net.register_module("features", features);
  net.register_module("classifier", classifier);
  net.register_attribute("training", c10::BoolType::get(), true);
  net.define(R"JIT(
def forward(self, x: Tensor) -> Tensor:
    return self.classifier.forward(self.features.forward(x))

def embed(self, x: Tensor) -> Tensor:
    return self.features.forward(x) * 2.0

def pair(self, x: Tensor) -> Tuple[Tensor, Tensor]:
    return (x, x)
)JIT");
  const auto path =
      (std::filesystem::temp_directory_path() / ("boosthead_bb_" + name + ".pt")).string();
  net.save(path);
  return path;
}

// Images N x 1 x 4 x 4 and labels (3 classes) that depend on the tiny backbone's features.
inline std::pair<torch::Tensor, torch::Tensor> tiny_images(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto images = torch::rand({n, 1, 4, 4});
  auto flat = images.reshape({n, 16});
  auto score = torch::stack({flat.narrow(1, 0, 5).sum(1), flat.narrow(1, 5, 5).sum(1),
                             flat.narrow(1, 10, 6).sum(1) * 5.0 / 6.0},
                            1);
  return {images, score.argmax(1)};
}

}  // namespace boosthead::test
