// --quantize TYPE for the commands that load a model: re-encode the weights while loading.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "minillm/error.h"
#include "minillm/model.h"
#include "minillm/tensor_type.h"

namespace minillm::cli {

inline void add_quantize_option(CLI::App& cmd, std::string& type) {
  cmd.add_option("--quantize", type,
                 "Quantize the weights while loading (q8_0, q4_0, q4_k, ...; matrices whose row "
                 "length the type's block does not divide keep their type)");
}

inline LoadOptions load_options(const std::string& quantize) {
  LoadOptions o;
  if (quantize.empty()) return o;
  o.quantize = parse_tensor_type(quantize);
  if (!o.quantize) throw Error("--quantize: '" + quantize + "' is not a tensor type");
  return o;
}

}  // namespace minillm::cli
