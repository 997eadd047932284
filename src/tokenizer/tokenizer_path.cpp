// Tokenizer::from_path: one entry point for every tokenizer source mini-llm reads.
#include <filesystem>

#include "formats/json_file.h"
#include "minillm/error.h"
#include "runtime/mapped_file.h"
#include "tokenizer/hf_vocab.h"

namespace minillm {
namespace {

namespace fs = std::filesystem;

// The settings files transformers keeps next to the vocabulary, when present.
void apply_sibling_configs(Vocab& v, const fs::path& folder) {
  if (const auto p = folder / "tokenizer_config.json"; fs::exists(p))
    apply_tokenizer_config(v, read_json_file(p, 64 << 20), p.string());
  if (const auto p = folder / "generation_config.json"; fs::exists(p))
    apply_generation_config(v, read_json_file(p, 16 << 20), p.string());
}

// from_vocab's errors do not name the file (the readers' own errors do).
Tokenizer checked(Vocab v, const std::string& source) {
  try {
    return Tokenizer::from_vocab(std::move(v));
  } catch (const Error& e) {
    throw Error(e.kind(), source + ": " + e.what());
  }
}

Tokenizer from_tokenizer_json(const fs::path& path) {
  Vocab v = vocab_from_tokenizer_json(read_json_file(path), path.string());
  apply_sibling_configs(v, path.parent_path());
  return checked(std::move(v), path.string());
}

Tokenizer from_sentencepiece(const fs::path& path) {
  const auto file = MappedFile::open(path);
  Vocab v = vocab_from_sentencepiece(file->bytes(), path.string());
  apply_sibling_configs(v, path.parent_path());
  return checked(std::move(v), path.string());
}

}  // namespace

Tokenizer Tokenizer::from_path(const fs::path& path) {
  if (fs::is_directory(path)) {
    if (fs::exists(path / "tokenizer.json")) return from_tokenizer_json(path / "tokenizer.json");
    if (fs::exists(path / "tokenizer.model")) return from_sentencepiece(path / "tokenizer.model");
    throw Error(path.string() + ": no tokenizer.json or tokenizer.model in the folder");
  }
  if (path.extension() == ".json") return from_tokenizer_json(path);
  if (path.extension() == ".model") return from_sentencepiece(path);
  return from_file(path);
}

}  // namespace minillm
