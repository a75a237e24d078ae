#pragma once
// Internal: the trainer's state between stages, saved so that a killed fit can resume and end
// with the same model as an uninterrupted one.

#include <boosthead/callbacks.h>
#include <boosthead/head.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace boosthead::detail {

struct TrainerState {
  // Compatibility checks: a checkpoint only resumes the same problem and options.
  std::string fingerprint;
  HeadTensors head;
  // Scores on the training and validation rows, exactly as accumulated.
  torch::Tensor scores, valid_scores;
  double train_loss = 0.0;
  double elapsed = 0.0;
  std::string rng;  // std::mt19937_64 state as text
  std::vector<StageRecord> history;
};

// Writes a temporary file, flushes it to disk, then renames it over `path`.
void save_state(const std::string& path, const TrainerState& state);

// Throws std::invalid_argument naming the path when it is unreadable or not a checkpoint.
TrainerState load_state(const std::string& path);

}  // namespace boosthead::detail
