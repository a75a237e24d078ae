// GPU against CPU on one large synthetic set: the boosted head's fit seconds on CUDA and on a
// fixed number of CPU threads, and the test accuracy of each, printed and written as JSON.
//
//   bench_device [--rows 1000000] [--features 256] [--classes 10] [--stages 100] [--units 8]
//                [--cpu-stages 3] [--cpu-threads 2] [--devices cuda,cpu] [--out FILE.json]
//
// The data: Gaussian features, labels from the argmax of a fixed random tanh network of them
// (seed 0); the last 10 % of rows are the test set. The CPU fits the same options on the same
// rows for --cpu-stages stages (a full CPU fit at this size takes hours): its seconds per stage
// give a projected time for all stages, and accuracies are compared at that stage count too.

#include <ATen/Parallel.h>
#include <boosthead/trainer.h>
#include <torch/cuda.h>
#include <torch/types.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

using namespace boosthead;

namespace {

struct Args {
  int64_t rows = 1000000, features = 256, classes = 10, stages = 100, units = 8;
  int64_t cpu_stages = 3, cpu_threads = 2;
  std::string devices = "cuda,cpu", out;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("missing value for " + k);
    const std::string v = argv[++i];
    if (k == "--rows")
      a.rows = std::stoll(v);
    else if (k == "--features")
      a.features = std::stoll(v);
    else if (k == "--classes")
      a.classes = std::stoll(v);
    else if (k == "--stages")
      a.stages = std::stoll(v);
    else if (k == "--units")
      a.units = std::stoll(v);
    else if (k == "--cpu-stages")
      a.cpu_stages = std::stoll(v);
    else if (k == "--cpu-threads")
      a.cpu_threads = std::stoll(v);
    else if (k == "--devices")
      a.devices = v;
    else if (k == "--out")
      a.out = v;
    else
      throw std::invalid_argument("unknown option " + k);
  }
  return a;
}

struct Data {
  torch::Tensor x_train, y_train, x_test, y_test;
};

Data make_data(const Args& a) {
  torch::manual_seed(0);
  auto x = torch::randn({a.rows, a.features});
  auto w1 = torch::randn({a.features, 32}) / std::sqrt(static_cast<double>(a.features));
  auto w2 = torch::randn({32, a.classes});
  auto y = torch::tanh(x.mm(w1) * 2.0).mm(w2).argmax(1);
  const int64_t test = a.rows / 10, train = a.rows - test;
  return {x.narrow(0, 0, train), y.narrow(0, 0, train), x.narrow(0, train, test),
          y.narrow(0, train, test)};
}

struct Outcome {
  double fit_seconds = 0.0, accuracy = 0.0, accuracy_at_cpu_stages = 0.0;
  int64_t stages = 0;
};

Outcome fit_on(const Data& data, const Args& a, torch::Device device, int64_t stages) {
  // The paper preset: sigmoid stages fitted by the fused CUDA lbfgs kernel (up to 8 units).
  auto o =
      trainer_preset("paper").stages(stages).units_per_stage(a.units).loss("multinomial").seed(0);
  o.device(device).dtype(torch::kFloat);
  auto fit = Trainer(o).fit(data.x_train.to(device), data.y_train.to(device));
  torch::NoGradGuard no_grad;
  auto x_test = data.x_test.to(device);
  auto y_test = data.y_test.to(device);
  auto accuracy = [&](int64_t t) {
    return fit.head->predict(x_test, t).eq(y_test).to(torch::kDouble).mean().item<double>();
  };
  Outcome out;
  out.fit_seconds = fit.fit_seconds;
  out.stages = fit.head->num_stages();
  out.accuracy = accuracy(out.stages);
  out.accuracy_at_cpu_stages = accuracy(std::min(a.cpu_stages, out.stages));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    const bool want_cuda = a.devices.find("cuda") != std::string::npos;
    const bool want_cpu = a.devices.find("cpu") != std::string::npos;
    if (want_cuda && !torch::cuda::is_available())
      throw std::runtime_error("no CUDA device is available (use --devices cpu)");
    const Data data = make_data(a);
    std::ostringstream json;
    json << "{\"rows_train\": " << data.x_train.size(0)
         << ", \"rows_test\": " << data.x_test.size(0) << ", \"features\": " << a.features
         << ", \"classes\": " << a.classes << ", \"stages\": " << a.stages
         << ", \"units\": " << a.units
         << ", \"dtype\": \"float32\", \"cpu_threads\": " << a.cpu_threads;
    std::printf(
        "data: %lld training and %lld test rows, %lld float32 features, %lld classes; "
        "%lld stages of %lld units\n",
        static_cast<long long>(data.x_train.size(0)), static_cast<long long>(data.x_test.size(0)),
        static_cast<long long>(a.features), static_cast<long long>(a.classes),
        static_cast<long long>(a.stages), static_cast<long long>(a.units));
    Outcome gpu, cpu;
    if (want_cuda) {
      gpu = fit_on(data, a, torch::kCUDA, a.stages);
      std::printf("cuda: %lld stages in %.2f s, test accuracy %.4f (%.4f after %lld stages)\n",
                  static_cast<long long>(gpu.stages), gpu.fit_seconds, gpu.accuracy,
                  gpu.accuracy_at_cpu_stages, static_cast<long long>(a.cpu_stages));
      json << ", \"cuda\": {\"fit_seconds\": " << gpu.fit_seconds << ", \"stages\": " << gpu.stages
           << ", \"accuracy\": " << gpu.accuracy
           << ", \"accuracy_at_cpu_stages\": " << gpu.accuracy_at_cpu_stages << "}";
    }
    if (want_cpu) {
      at::set_num_threads(static_cast<int>(a.cpu_threads));
      cpu = fit_on(data, a, torch::kCPU, a.cpu_stages);
      const double per_stage = cpu.fit_seconds / static_cast<double>(cpu.stages);
      std::printf(
          "cpu (%lld threads): %lld stages in %.2f s (%.2f s per stage, %.0f s projected "
          "for %lld), test accuracy %.4f\n",
          static_cast<long long>(a.cpu_threads), static_cast<long long>(cpu.stages),
          cpu.fit_seconds, per_stage, per_stage * a.stages, static_cast<long long>(a.stages),
          cpu.accuracy);
      json << ", \"cpu\": {\"fit_seconds\": " << cpu.fit_seconds << ", \"stages\": " << cpu.stages
           << ", \"seconds_per_stage\": " << per_stage
           << ", \"projected_seconds\": " << per_stage * a.stages
           << ", \"accuracy\": " << cpu.accuracy << "}";
      if (want_cuda) {
        const double gpu_per_stage = gpu.fit_seconds / static_cast<double>(gpu.stages);
        std::printf("speed-up per stage: %.1fx; accuracy after %lld stages: cuda %.4f, cpu %.4f\n",
                    per_stage / gpu_per_stage, static_cast<long long>(cpu.stages),
                    gpu.accuracy_at_cpu_stages, cpu.accuracy);
        json << ", \"speedup_per_stage\": " << per_stage / gpu_per_stage;
      }
    }
    json << "}\n";
    if (!a.out.empty()) {
      std::ofstream f(a.out);
      f << json.str();
      if (!f) throw std::runtime_error("cannot write " + a.out);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_device: error: " << e.what() << std::endl;
    return 1;
  }
}
