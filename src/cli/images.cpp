#include "images.h"

#include <boosthead/data/idx.h>
#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <stdexcept>

namespace boosthead::cli {

torch::Tensor read_images(const std::string& path, const std::string& option) {
  auto images = data::read_idx_images(path);
  if (images.size(0) == 0)
    throw std::invalid_argument(fmt::format("{} '{}': no images", option, path));
  return images;
}

torch::Tensor read_labels(const std::string& path, int64_t num_images,
                          const std::string& images_path, const std::string& option,
                          const std::string& images_option) {
  auto labels = data::read_idx_labels(path);
  if (labels.size(0) != num_images) {
    throw std::invalid_argument(fmt::format("{} '{}' has {} labels but {} '{}' has {} images",
                                            option, path, labels.size(0), images_option,
                                            images_path, num_images));
  }
  return labels;
}

ImageFeatures read_image_features(FrozenBackbone& backbone, const std::string& images_path,
                                  const std::string& labels_path, const std::string& cache,
                                  int64_t batch_size, const std::string& images_option,
                                  const std::string& labels_option, bool quiet) {
  const auto start = std::chrono::steady_clock::now();
  ImageFeatures out;
  const auto images = read_images(images_path, images_option);
  out.labels = read_labels(labels_path, images.size(0), images_path, labels_option, images_option);
  out.features = backbone.extract_cached(images, cache, batch_size,
                                         extraction_progress(images_option + " features", quiet),
                                         &out.from_cache);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

std::vector<std::string> class_names_for(const torch::Tensor& labels, const std::string& names) {
  const int64_t max_label = labels.max().item<int64_t>();
  std::vector<std::string> out;
  if (names.empty()) {
    for (int64_t k = 0; k <= std::max<int64_t>(max_label, 1); ++k) out.push_back(std::to_string(k));
    return out;
  }
  size_t start = 0;
  while (true) {
    const size_t comma = names.find(',', start);
    out.push_back(
        names.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (out.back().empty())
      throw std::invalid_argument(fmt::format("--class-names '{}' has an empty name", names));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.size() < 2 || static_cast<int64_t>(out.size()) <= max_label) {
    throw std::invalid_argument(
        fmt::format("--class-names gives {} names but the labels go up to {} (need at least {})",
                    out.size(), max_label, std::max<int64_t>(max_label + 1, 2)));
  }
  return out;
}

LoadedModel load_tabular_model(const std::string& path, torch::Device device) {
  // A damaged file must fail here, before archive_format hands it to LibTorch's reader.
  check_torchscript_archive(path, "model file");
  try {
    return load_model(path, device);
  } catch (const std::invalid_argument&) {
    bool pipeline = false;
    try {
      pipeline = archive_format(path) == "boosthead-pipeline";
    } catch (const std::exception&) {
    }
    if (pipeline) {
      throw std::invalid_argument(fmt::format(
          "model file '{}' is an image pipeline (format 'boosthead-pipeline'); give --images "
          "instead of --data",
          path));
    }
    throw;
  }
}

ExtractProgress extraction_progress(const std::string& what, bool quiet) {
  if (quiet) return {};
  auto next = std::make_shared<int64_t>(0);
  return [what, next](int64_t done, int64_t total) {
    if (done < *next && done < total) return;
    std::cerr << fmt::format("boosthead: {} {} / {} rows\n", what, done, total);
    *next = done + std::max<int64_t>(1, total / 10);
  };
}

}  // namespace boosthead::cli
