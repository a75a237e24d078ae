#pragma once
// Small helpers shared by the data-layer tests.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace boosthead::test {

// Runs `fn`, expects std::invalid_argument and returns its message for substring checks.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected std::invalid_argument, got: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected std::invalid_argument, nothing was thrown";
  return {};
}

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = std::filesystem::temp_directory_path() /
            ("boosthead_test_" + std::to_string(stamp) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string data_path(const std::string& name) {
  return std::string(BOOSTHEAD_DATA_DIR) + "/" + name;
}

}  // namespace boosthead::test

#define EXPECT_ERROR_HAS(stmt, needle)                                                     \
  do {                                                                                     \
    const std::string boosthead_msg_ = ::boosthead::test::error_of([&] { (void)(stmt); }); \
    const std::string boosthead_needle_ = (needle);                                        \
    EXPECT_NE(boosthead_msg_.find(boosthead_needle_), std::string::npos)                   \
        << "message: '" << boosthead_msg_ << "' lacks '" << boosthead_needle_ << "'";      \
  } while (0)
