// Writes a GGUF model as gguf-split does: NAME-00001-of-0000N.gguf ... with the metadata in the
// first part, split.no / split.count / split.tensors.count in every part, and the tensors shared
// out in order. For the tests of split loading and of pulling split files from the Hub.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "minillm/gguf.h"

namespace minillm::test {

inline std::vector<std::filesystem::path> write_split_gguf(const GGUFFile& model,
                                                           const std::filesystem::path& dir,
                                                           const std::string& name,
                                                           uint16_t n_parts) {
  std::vector<std::filesystem::path> paths;
  const auto& tensors = model.tensors();
  const size_t per_part = (tensors.size() + n_parts - 1) / n_parts;
  for (uint16_t part = 0; part < n_parts; ++part) {
    GGUFWriter w;
    if (part == 0)
      for (const auto& [key, value] : model.metadata())
        if (key != "general.alignment") w.set(key, value);
    w.set("split.no", GGUFValue(uint16_t(part)));
    w.set("split.count", GGUFValue(uint16_t(n_parts)));
    w.set("split.tensors.count", GGUFValue(int32_t(tensors.size())));
    for (size_t i = part * per_part; i < std::min(tensors.size(), (part + 1) * per_part); ++i)
      w.add_tensor_view(tensors[i].name, tensors[i].type, tensors[i].shape, tensors[i].data);
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "-%05u-of-%05u.gguf", unsigned(part + 1),
                  unsigned(n_parts));
    paths.push_back(dir / (name + suffix));
    w.write(paths.back());
  }
  return paths;
}

}  // namespace minillm::test
