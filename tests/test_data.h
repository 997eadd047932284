// Where tests find the shared, read-only test data (models, vocabularies, reference logits).
//
//   const auto path = minillm::test::shared_file("models/stories260K.gguf");
//   REQUIRE_SHARED_FILE(path);  // FAILs under CI=true, otherwise skips, when the file is missing
//
// The folder comes from the environment variable MINILLM_SHARED_DIR (CTest sets it from the CMake
// cache variable of the same name); without it, ../shared next to the source tree.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace minillm::test {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("MINILLM_SHARED_DIR"); env && *env) return env;
  // This header is tests/test_data.h, so the source root is two levels up.
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared";
}

inline std::filesystem::path shared_file(const std::filesystem::path& relative) {
  return shared_dir() / relative;
}

// True when the environment variable CI is "true" or "1": missing data is then an error.
inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  if (!ci) return false;
  const std::string v = ci;
  return v == "true" || v == "TRUE" || v == "True" || v == "1";
}

}  // namespace minillm::test

// Use at the top of a test body (it returns from the enclosing void function when the file is
// missing): FAILs under CI=true, GTEST_SKIPs otherwise.
#define REQUIRE_SHARED_FILE(required_path)                                              \
  do {                                                                                  \
    const ::std::filesystem::path minillm_required_file_(required_path);                \
    if (!::std::filesystem::exists(minillm_required_file_)) {                           \
      if (::minillm::test::running_in_ci())                                             \
        FAIL() << "missing shared test file " << minillm_required_file_.string()        \
               << " (CI=true; set MINILLM_SHARED_DIR)";                                 \
      else                                                                              \
        GTEST_SKIP() << "missing shared test file " << minillm_required_file_.string(); \
    }                                                                                   \
  } while (0)
