// Reading a Vocab from GGUF metadata (tokenizer.ggml.* keys).
#include <string>
#include <vector>

#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/tokenizer.h"

namespace minillm {
namespace {

// Errors below do not name the file: Tokenizer::from_gguf puts its name in front of every one.

// Special token ids: absent, negative or 0xFFFFFFFF (how some converters write "none") -> -1.
int32_t special_id(const GGUFFile& f, const char* key) {
  const GGUFValue* v = f.find(key);
  if (!v) return -1;
  const int64_t id = v->as_int(key);
  if (id < 0 || id == 0xFFFFFFFF) return -1;
  if (id > INT32_MAX)
    throw Error(ErrorKind::BadFile,
                std::string(key) + " = " + std::to_string(id) + " is not a valid token id");
  return static_cast<int32_t>(id);
}

// GGUFFile::get_string_array, whose missing-key message would name the file a second time.
std::vector<std::string> string_array(const GGUFFile& f, const char* key) {
  const GGUFValue* v = f.find(key);
  if (!v) throw Error(ErrorKind::BadFile, std::string("missing metadata key '") + key + "'");
  return v->as_vector<std::string>(key);
}

Vocab read_vocab(const GGUFFile& f) {
  const GGUFValue* model = f.find("tokenizer.ggml.model");
  if (!model)
    throw Error(ErrorKind::BadFile, "no tokenizer in this file (tokenizer.ggml.model is missing)");
  Vocab v;
  v.model = model->as<std::string>("tokenizer.ggml.model");
  // Checked before anything else so the message names the kind, not a missing key.
  if (v.model != "llama" && v.model != "gpt2")
    throw Error(
        ErrorKind::Unsupported,
        "tokenizer kind '" + v.model +
            "' is not supported (supported: 'llama' SentencePiece BPE, 'gpt2' byte-level BPE)");
  const bool spm = v.model == "llama";

  v.tokens = string_array(f, "tokenizer.ggml.tokens");
  if (const GGUFValue* scores = f.find("tokenizer.ggml.scores")) {
    const auto& items = scores->array().items;
    v.scores.reserve(items.size());
    for (const GGUFValue& s : items)
      v.scores.push_back(static_cast<float>(s.as_float("tokenizer.ggml.scores")));
  }
  if (const GGUFValue* types = f.find("tokenizer.ggml.token_type")) {
    const auto& items = types->array().items;
    v.types.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const int64_t t = items[i].as_int("tokenizer.ggml.token_type");
      if (t < 0 || t > static_cast<int64_t>(TokenType::Byte))
        throw Error(ErrorKind::BadFile, "tokenizer.ggml.token_type[" + std::to_string(i) + "] = " +
                                            std::to_string(t) + " is not a token type (0..6)");
      v.types.push_back(static_cast<TokenType>(t));
    }
  }
  v.bos_id = special_id(f, "tokenizer.ggml.bos_token_id");
  v.eos_id = special_id(f, "tokenizer.ggml.eos_token_id");
  v.unk_id = special_id(f, "tokenizer.ggml.unknown_token_id");
  v.pad_id = special_id(f, "tokenizer.ggml.padding_token_id");
  v.eot_id = special_id(f, "tokenizer.ggml.eot_token_id");
  v.eom_id = special_id(f, "tokenizer.ggml.eom_token_id");
  // Defaults by kind: SentencePiece adds BOS and the dummy prefix, byte-level BPE neither.
  v.add_bos = f.get_or<bool>("tokenizer.ggml.add_bos_token", spm);
  v.add_eos = f.get_or<bool>("tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = f.get_or<bool>("tokenizer.ggml.add_space_prefix", spm);
  v.chat_template = f.get_or<std::string>("tokenizer.chat_template", "");
  if (!spm) {
    v.merges = string_array(f, "tokenizer.ggml.merges");
    // Files converted before the key existed: llama.cpp's "default" expressions.
    v.pre_tokenizer = f.get_or<std::string>("tokenizer.ggml.pre", "default");
    // Llama 3's tokenizer.json sets ignore_merges; GGUF only names the pre-tokenizer.
    v.ignore_merges = v.pre_tokenizer == "llama-bpe" || v.pre_tokenizer == "llama3" ||
                      v.pre_tokenizer == "llama-v3";
  }
  return v;
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GGUFFile& file) {
  try {
    return from_vocab(read_vocab(file));
  } catch (const Error& e) {
    // Neither layer names the file, so it is named here once.
    throw Error(e.kind(), file.source_name() + ": " + e.what());
  }
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& gguf_path) {
  return from_gguf(GGUFFile::open(gguf_path));
}

}  // namespace minillm
