// The pre-tokenizer table: expressions as published in each vocabulary's Hugging Face
// tokenizer.json, or as llama.cpp transcribed them where the original is a Sequence of
// pre-tokenizers.
#include "tokenizer/pretokenizer_table.h"

#include <algorithm>

namespace minillm {
namespace {

// GPT-2's expression: English contractions, letter runs, digit runs and other-symbol runs (each
// optionally after one space), whitespace not followed by a non-space, other whitespace.
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Llama 3: case-insensitive contractions, a letter run after at most one other non-newline
// character, numbers of at most three digits, symbol runs that swallow following newlines.
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Qwen 2: as Llama 3 but every digit on its own.
constexpr const char* kQwen2 = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
                               R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// CJK ideographs, the blocks before them (U+0800..) and Hangul: DeepSeek keeps these runs whole.
constexpr const char* kDeepSeekCjk = R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";

// DeepSeek LLM's letter class: the cased letters (Lu, Ll, Lt), spelled out as ranges.
constexpr const char* kDeepSeekLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})"
    R"(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A})"
    R"(\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})"
    R"(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})"
    R"(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})"
    R"(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D})"
    R"(\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})"
    R"(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})"
    R"(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})"
    R"(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})"
    R"(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
    R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})"
    R"(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})"
    R"(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3})"
    R"(\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})"
    R"(\x{1E900}-\x{1E943}]+)";

// Falcon and "default" first isolate punctuation runs (Unicode P plus the ASCII symbols that
// Rust counts as punctuation), then apply GPT-2's expression, then cut digit runs into threes.
const PreTokenizerSpec kSpecs[] = {
    {{"gpt-2", "olmo"}, {kGpt2}},
    {{"mpt", "gpt-neox"}, {kGpt2}, /*nfc=*/true},
    {{"llama-bpe", "llama3", "llama-v3", "dbrx", "smaug-bpe"}, {kLlama3}},
    {{"qwen2"}, {kQwen2}},
    {{"starcoder", "refact"}, {R"(\p{N})", kGpt2}},
    {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}},
    {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
    {{"deepseek-coder"}, {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepSeekCjk, R"(\p{N})"}},
    {{"deepseek-llm"},
     {"[\r\n]", kDeepSeekLetters,
      R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E})"
      R"(\x{2018}-\x{201F}\x{3000}-\x{3002}]+)",
      R"(\s+$)", kDeepSeekCjk, R"(\p{N}+)"}},
};

}  // namespace

std::span<const PreTokenizerSpec> pre_tokenizer_specs() {
  return kSpecs;
}

std::optional<std::string> pre_tokenizer_name_for(const std::vector<std::string>& regexes,
                                                  bool nfc) {
  for (const PreTokenizerSpec& spec : kSpecs)
    if (spec.nfc == nfc &&
        std::equal(regexes.begin(), regexes.end(), spec.regexes.begin(), spec.regexes.end()))
      return std::string(*spec.names.begin());
  return std::nullopt;
}

std::vector<std::string> pre_tokenizer_regexes(const std::string& name) {
  for (const PreTokenizerSpec& spec : kSpecs)
    for (const char* n : spec.names)
      if (name == n) return {spec.regexes.begin(), spec.regexes.end()};
  return {};
}

}  // namespace minillm
