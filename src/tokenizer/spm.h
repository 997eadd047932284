// Internal state of a Tokenizer: the checked vocabulary plus lookup tables built once at load.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "minillm/tokenizer.h"

namespace minillm {

struct BpeModel;  // tokenizer/bpe.h

// Hashing std::string_view lets the tables be searched without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Tokenizer::Impl {
  Vocab vocab;
  TokenMap all_tokens;    // every token text -> first id with that text
  TokenMap merge_pieces;  // texts a merge may produce: Normal, UserDefined and Unused tokens
  std::array<int32_t, 256> byte_ids;  // <0xNN> token per byte, -1 where the vocabulary lacks it
  bool has_byte_tokens = false;
  std::vector<std::string> pieces;  // decoded bytes per token (control/unknown: empty)

  // Texts matched as whole tokens before BPE, longest first within each first byte.
  std::array<std::vector<int32_t>, 256> always_match;   // UserDefined
  std::array<std::vector<int32_t>, 256> special_match;  // + Control and Unknown (parse_special)

  // Builds the tables; throws Error on an inconsistent vocabulary.
  explicit Impl(Vocab v);
  void check_id(int32_t id) const;

  // SentencePiece BPE over one run of plain text (no special tokens inside); appends the ids.
  // Appends the bytes of token `id` for decoding; `at_start` is true until the first visible
  // non-control token, whose dummy-prefix space may be dropped.
  void append_piece(int32_t id, const DecodeOptions& options, bool& at_start,
                    std::string& out) const;
  void encode_plain(std::string_view text, bool add_prefix, std::vector<int32_t>& out) const;

  // Byte-level BPE (model "gpt2"; bpe.cpp): tables built from the merges, and its encoder.
  std::shared_ptr<const BpeModel> bpe;
  void init_byte_level();
  void encode_byte_level(std::string_view text, std::vector<int32_t>& out) const;

  // One run of plain text with the vocabulary's algorithm.
  void encode_run(std::string_view text, std::vector<int32_t>& out) const {
    if (bpe)
      encode_byte_level(text, out);
    else
      encode_plain(text, vocab.add_space_prefix, out);
  }

  std::vector<int32_t> eog_ids;  // end-of-generation tokens, sorted (end_of_generation.cpp)
  void init_end_of_generation();
};

}  // namespace minillm
