#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include <thread>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  at::set_num_threads(
      static_cast<int>(std::max(1u, std::min(4u, std::thread::hardware_concurrency()))));
  return RUN_ALL_TESTS();
}
