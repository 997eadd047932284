// Text <-> token ids for Llama 2 / Mistral style SentencePiece BPE vocabularies and byte-level
// BPE vocabularies (GPT-2, Llama 3, Falcon, DeepSeek, StarCoder, ...).
//
//   auto tok = minillm::Tokenizer::from_file("model.gguf");     // or from_gguf(file)
//   std::vector<int32_t> ids = tok.encode("Hello world");        // [BOS, ▁Hello, ▁world]
//   std::string text = tok.decode(ids);                          // "Hello world"
//
//   minillm::StreamDecoder out(tok, {.strip_leading_space = false});
//   for (int32_t id : generated) std::cout << out.push(id);      // only complete UTF-8 characters
//   std::cout << out.flush();
//
// The algorithm works on a plain Vocab (token texts, scores, types, special ids, flags), so any
// file format can feed it; GGUF is the one loader today.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace minillm {

class GGUFFile;

// Token types, numbered as in GGUF's tokenizer.ggml.token_type (and SentencePiece's model proto).
enum class TokenType : uint8_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,      // the <unk> token
  Control = 3,      // <s>, </s>, chat markers: never produced from plain text
  UserDefined = 4,  // always matched as a whole wherever its text appears
  Unused = 5,       // kept in the vocabulary but split back into its parts when encoding
  Byte = 6,         // <0xNN>: byte fallback for characters missing from the vocabulary
};

// Everything the tokenizer algorithms need, independent of the file it came from.
struct Vocab {
  // Tokenizer kind: "llama" (SentencePiece BPE) or "gpt2" (byte-level BPE).
  std::string model = "llama";
  // Token text: U+2581 stands for a space ("llama"); bytes are GPT-2 characters ("gpt2": 'Ġ' is a
  // space), except in UserDefined tokens, which hold plain text.
  std::vector<std::string> tokens;
  std::vector<float> scores;     // merge priority: higher merges first (empty = all 0)
  std::vector<TokenType> types;  // empty = all Normal (with <0xNN> texts as Byte)
  int32_t bos_id = -1;           // -1 = none
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = true;           // encode() prepends BOS by default
  bool add_eos = false;          // encode() appends EOS by default
  bool add_space_prefix = true;  // SentencePiece's "dummy prefix": text starts with U+2581
                                 // (byte-level BPE has none; cleared for "gpt2")

  // End of a turn / of a message (tokenizer.ggml.eot_token_id, eom_token_id), -1 = none.
  int32_t eot_id = -1;
  int32_t eom_id = -1;
  std::string chat_template;  // Jinja chat template shipped with the vocabulary ("" = none)

  // Byte-level BPE ("gpt2") only:
  std::vector<std::string> merges;        // "left right" token texts; index = rank (first first)
  std::string pre_tokenizer = "default";  // tokenizer.ggml.pre: the expressions that cut words
  bool ignore_merges = false;             // a word that is itself a token skips merging (Llama 3)
};

struct EncodeOptions {
  bool add_bos = true;  // prepend BOS if the vocabulary asks for it (Vocab::add_bos)
  bool add_eos = true;  // append EOS if the vocabulary asks for it (Vocab::add_eos)
  // Recognise the text of control tokens ("<s>", "</s>", ...) as those tokens. Off by default,
  // so user text cannot inject them. User-defined tokens are always recognised (SentencePiece's
  // definition of that type).
  bool parse_special = false;
};

struct DecodeOptions {
  bool render_special = false;  // control tokens produce their text instead of nothing
  // Drop the space that the dummy prefix put before the first word, as SentencePiece does. Turn
  // off when decoding a continuation (e.g. generated tokens after a prompt).
  bool strip_leading_space = true;
};

class Tokenizer {
 public:
  // Checks the vocabulary (sizes agree, ids in range, byte tokens well formed, kind supported)
  // and throws Error naming the problem.
  static Tokenizer from_vocab(Vocab vocab);
  // Reads tokenizer.ggml.* keys; throws Error for a missing vocabulary or an unsupported kind.
  static Tokenizer from_gguf(const GGUFFile& file);
  // Opens a GGUF file (a vocabulary-only file or a full model; weights are not read).
  static Tokenizer from_file(const std::filesystem::path& gguf_path);
  // Any tokenizer source: a .gguf file, a tokenizer.json (Hugging Face BPE: with byte fallback,
  // or byte-level with a known pre-tokenizer expression such as GPT-2's or Llama 3's), a
  // tokenizer.model (SentencePiece BPE) or a folder holding one of them (tokenizer.json
  // preferred). tokenizer_config.json / generation_config.json next to the file supply special
  // ids, add_bos/add_eos and the chat template.
  static Tokenizer from_path(const std::filesystem::path& path);

  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Concatenated bytes of the tokens (invalid UTF-8 from byte tokens is passed through as is).
  // Throws Error for an id outside the vocabulary.
  std::string decode(std::span<const int32_t> ids, const DecodeOptions& options = {}) const;

  // The bytes one token stands for (U+2581 -> space, <0xNN> -> that byte, control -> "" unless
  // render_special). No leading-space handling.
  std::string token_to_piece(int32_t id, bool render_special = false) const;
  const std::string& token_text(int32_t id) const;  // as stored in the vocabulary
  TokenType token_type(int32_t id) const;
  float token_score(int32_t id) const;
  std::optional<int32_t> token_id(std::string_view text) const;  // exact text lookup

  int32_t n_vocab() const;
  int32_t bos_id() const;  // -1 = none
  int32_t eos_id() const;
  int32_t unk_id() const;
  int32_t pad_id() const;
  bool is_control(int32_t id) const;
  // True for tokens that end a generation: EOS, the EOT and EOM ids when the vocabulary names
  // them, and control tokens whose text is <|eot_id|>, <|eom_id|>, <|end_of_text|>, <|im_end|>,
  // <|endoftext|>, <end_of_turn> or <|end|>. False for ids outside the vocabulary.
  bool is_end_of_generation(int32_t id) const;
  const std::vector<int32_t>& end_of_generation_ids() const;  // all of them, ascending
  const Vocab& vocab() const;

  struct Impl;

 private:
  friend class StreamDecoder;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // immutable, so copies are cheap and thread-safe
};

// Turns a stream of ids into text, holding back the bytes of a UTF-8 character until it is
// complete (byte tokens of one character arrive one by one). Bytes that cannot start or continue
// a valid character are passed on as they are. The concatenation of every push() and the final
// flush() equals Tokenizer::decode of the same ids with the same options.
class StreamDecoder {
 public:
  explicit StreamDecoder(Tokenizer tokenizer, DecodeOptions options = {});
  std::string push(int32_t id);  // throws Error for an id outside the vocabulary
  std::string flush();           // whatever bytes are held back (call once at the end)
  void reset();                  // forget held bytes and start as at the beginning of a text

 private:
  Tokenizer tokenizer_;
  DecodeOptions options_;
  std::string pending_;  // the start of a UTF-8 character not yet complete
  bool at_start_ = true;
};

}  // namespace minillm
