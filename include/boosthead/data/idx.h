#pragma once
/// \file
/// Readers for the IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.

#include <torch/types.h>

#include <string>

namespace boosthead::data {

/// Reads an IDX file (plain or .gz, detected from the magic bytes) as a tensor of its own shape
/// and element type (uint8 stays uint8). Throws std::invalid_argument naming the file on a bad
/// magic number, an unsupported type code, a truncated payload or trailing bytes.
torch::Tensor read_idx(const std::string& path);

/// Reads IDX images (N x H x W, uint8) as float32 N x 1 x H x W scaled to [0, 1].
torch::Tensor read_idx_images(const std::string& path);

/// Reads IDX labels (N, uint8) as int64 N.
torch::Tensor read_idx_labels(const std::string& path);

}  // namespace boosthead::data
