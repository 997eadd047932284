// Where tests find the shared, read-only test data (models, vocabularies, reference logits).
//
//   const auto path = minillm::test::shared_file("models/stories260K.gguf");
//   REQUIRE_SHARED_FILE(path);  // FAILs under CI=true, otherwise skips, when the file is missing
//
// A few small files are bundled with the repository (the demo model, tests/data/): shared_file()
// answers with the bundled copy, so the tests that use only those run on a clone without
// ../shared. Everything else comes from the folder named by the environment variable
// MINILLM_SHARED_DIR (CTest sets it from the CMake cache variable of the same name); without it,
// ../shared next to the source tree.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace minillm::test {

// The source tree: CMake passes it (a compiler cache's base_dir makes __FILE__ relative to the
// build folder, which is not where tests run); else this header is tests/test_data.h.
inline std::filesystem::path source_dir() {
#ifdef MINILLM_SOURCE_DIR
  return MINILLM_SOURCE_DIR;
#else
  return std::filesystem::path(__FILE__).parent_path().parent_path();
#endif
}

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("MINILLM_SHARED_DIR"); env && *env) return env;
  return source_dir().parent_path() / "shared";
}

// The shared files bundled with the repository, by their path under ../shared; tests/data/
// holds them at the same relative paths, except the demo model, which lives in models/.
inline std::filesystem::path bundled_file(const std::filesystem::path& relative) {
  if (relative == "models/stories260K.gguf") return source_dir() / relative;
  for (const char* bundled :
       {"vocab/stories260K.gguf.inp", "vocab/stories260K.gguf.out",
        "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-llama-spm.gguf.inp",
        "vocab/ggml-vocab-llama-spm.gguf.out", "hf/stories260K"})
    if (relative == bundled || relative.parent_path() == bundled)
      return source_dir() / "tests/data" / relative;
  return {};
}

inline std::filesystem::path shared_file(const std::filesystem::path& relative) {
  if (auto bundled = bundled_file(relative); !bundled.empty()) return bundled;
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
