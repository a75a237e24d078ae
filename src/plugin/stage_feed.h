#pragma once
// A callback that hands each stage's record to another thread and stops training on request:
// the Python package runs a fit on a worker thread (the plugin's methods release the GIL) and
// polls it for progress, since a custom class cannot call back into Python. In lockstep mode
// the fit waits after each stage until the other thread has acknowledged it, so that a Python
// callback's decision to stop applies to the stage it saw.

#include <boosthead/callbacks.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace boosthead::plugin {

class StageFeed : public Callback {
 public:
  void on_train_begin(int64_t planned_stages) override {
    std::lock_guard<std::mutex> lock(mutex_);
    records_.clear();
    acknowledged_ = 0;
    stop_ = false;
    running_ = true;
  }

  bool on_stage_end(const StageRecord& record, const BoostedHeadImpl&) override {
    std::unique_lock<std::mutex> lock(mutex_);
    records_.push_back(record);
    changed_.notify_all();
    if (lockstep_) {
      changed_.wait(lock, [&] { return stop_ || acknowledged_ >= records_.size(); });
    }
    return !stop_;
  }

  void on_train_end(const std::string&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
    changed_.notify_all();
  }

  // The records from index `first` on, waiting up to `timeout` seconds for one while a fit
  // runs.
  std::vector<StageRecord> since(size_t first, double timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, std::chrono::duration<double>(timeout),
                      [&] { return records_.size() > first || !running_; });
    if (first >= records_.size()) return {};
    return {records_.begin() + static_cast<std::ptrdiff_t>(first), records_.end()};
  }

  // The first `count` records have been seen; `keep_going` false stops training after them.
  void acknowledge(size_t count, bool keep_going) {
    std::lock_guard<std::mutex> lock(mutex_);
    acknowledged_ = std::max(acknowledged_, count);
    if (!keep_going) stop_ = true;
    changed_.notify_all();
  }

  // Training stops after the stage in progress.
  void request_stop() { acknowledge(0, false); }

  // Whether the next fits wait for each stage's acknowledgement.
  void set_lockstep(bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    lockstep_ = on;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<StageRecord> records_;
  size_t acknowledged_ = 0;
  bool stop_ = false;
  bool running_ = false;
  bool lockstep_ = false;
};

}  // namespace boosthead::plugin
