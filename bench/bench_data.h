// Where the benchmarks find the shared, read-only data: MINILLM_SHARED_DIR, else ../shared beside
// the source tree.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace minillm::bench {

inline std::filesystem::path shared_file(const std::string& relative) {
  if (const char* env = std::getenv("MINILLM_SHARED_DIR"); env && *env)
    return std::filesystem::path(env) / relative;
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" /
         relative;
}

}  // namespace minillm::bench
