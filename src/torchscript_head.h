#pragma once
// Internal: what the model file and the image pipeline share. Both are TorchScript modules built
// in C++ around the same fused head, written to disk the same way.

#include <boosthead/data/standardizer.h>
#include <boosthead/head.h>
#include <torch/script.h>

#include <string>
#include <vector>

namespace boosthead::detail {

c10::List<std::string> string_list(const std::vector<std::string>& v);
std::vector<std::string> strings_of(const c10::IValue& v);

// Registers the head's weights, the standardisation and the head attributes (loss, activation,
// stages, units_per_stage) that the methods of head_methods() read.
void register_head(torch::jit::Module& m, const BoostedHeadImpl& head,
                   const data::Standardizer& standardizer);

// TorchScript source of two methods over the registered head: `scores_name(x, stages)` gives
// raw scores of the first `stages` stages on N x d features (standardised inside, in float64 as
// in training), `outputs_name(x, stages)` the same through the loss's link. `columns` names the
// feature columns in the width error ("feature columns", "features from the backbone").
std::string head_methods(const std::string& scores_name, const std::string& outputs_name,
                         const std::string& columns);

}  // namespace boosthead::detail
