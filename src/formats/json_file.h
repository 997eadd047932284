// Reading a whole JSON file (config.json, tokenizer.json, ...) with errors that name the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace minillm {

// Throws Error naming the path when the file is missing, larger than max_bytes, or not JSON.
nlohmann::json read_json_file(const std::filesystem::path& path, uint64_t max_bytes = uint64_t(256)
                                                                                      << 20);

// A non-negative integer, whether the JSON value stores it signed or unsigned (parsed files give
// unsigned, values built in code often signed). False for anything else.
inline bool json_uint(const nlohmann::json& v, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out = uint64_t(v.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace minillm
