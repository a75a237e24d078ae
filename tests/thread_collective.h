#pragma once
// A Collective over threads of one process, for tests of data-parallel fits: each thread plays
// one process. Sums add the threads' values in rank order.

#include <boosthead/collective.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace boosthead::test {

class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), values_(size), bytes_(size) {}

  // Waits until every thread has arrived.
  void barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t gen = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != gen; });
    }
  }

  int size_;
  std::vector<std::vector<double>> values_;
  std::vector<std::string> bytes_;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
};

class ThreadCollective final : public Collective {
 public:
  ThreadCollective(std::shared_ptr<ThreadGroup> group, int rank)
      : group_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size_; }

 protected:
  void all_reduce_sum(double* values, size_t count) override {
    group_->values_[rank_].assign(values, values + count);
    group_->barrier();
    for (size_t i = 0; i < count; ++i) {
      double s = 0.0;
      for (const auto& v : group_->values_) s += v.at(i);
      values[i] = s;
    }
    group_->barrier();
  }
  std::vector<std::string> gather_bytes(const std::string& bytes) override {
    group_->bytes_[rank_] = bytes;
    group_->barrier();
    auto out = group_->bytes_;
    group_->barrier();
    return out;
  }

 private:
  std::shared_ptr<ThreadGroup> group_;
  int rank_;
};

// Runs body(collective) on `size` threads, one per rank; rethrows the first rank's exception.
inline void run_ranks(int size, const std::function<void(std::shared_ptr<Collective>)>& body) {
  auto group = std::make_shared<ThreadGroup>(size);
  std::vector<std::exception_ptr> errors(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      try {
        body(std::make_shared<ThreadCollective>(group, r));
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace boosthead::test
