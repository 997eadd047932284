// Tokenizer throughput on ~1 MB of English-like prose (random sentences from common words,
// punctuation, digits and paragraph breaks; fixed seed): encode with the SentencePiece vocabulary
// (llama-spm, Llama 2) and the byte-level BPE vocabularies (llama3, gpt-2), and decode of the ids.
// The shared data folder comes from MINILLM_SHARED_DIR, else ../shared beside the source tree.
// Target: encoding 1 MB takes under 1 s on one core (bytes_per_second above 1 MB/s).
#include <benchmark/benchmark.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bench_data.h"
#include "minillm/tokenizer.h"

namespace {

using minillm::bench::shared_file;

std::string english_text(size_t bytes) {
  static const char* const kWords[] = {
      "the",      "of",       "and",       "to",         "in",        "a",           "is",
      "that",     "for",      "it",        "as",         "was",       "with",        "be",
      "by",       "on",       "not",       "he",         "this",      "are",         "or",
      "his",      "from",     "at",        "which",      "but",       "have",        "an",
      "had",      "they",     "you",       "were",       "their",     "one",         "all",
      "we",       "can",      "her",       "has",        "there",     "been",        "if",
      "more",     "when",     "will",      "would",      "who",       "so",          "no",
      "model",    "language", "inference", "memory",     "quickly",   "between",     "government",
      "children", "history",  "important", "question",   "different", "university",  "because",
      "through",  "without",  "something", "everything", "thought",   "developed",   "tokenizer",
      "weather",  "morning",  "mountains", "river",      "library",   "computation", "yesterday",
      "don't",    "it's",     "we're",     "they've",    "I'll",      "you'd",       "Mr.",
  };
  std::mt19937 rng(42);
  std::uniform_int_distribution<size_t> word(0, std::size(kWords) - 1);
  std::uniform_int_distribution<int> len(4, 22), roll(0, 99);
  std::string text;
  text.reserve(bytes + 256);
  while (text.size() < bytes) {
    const int n = len(rng);
    for (int i = 0; i < n; ++i) {
      std::string w = kWords[word(rng)];
      if (i == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
      text += w;
      const int r = roll(rng);
      if (r < 6 && i + 1 < n) text += ',';
      if (r == 7) text.append(" ").append(std::to_string(rng() % 5000));
      text += i + 1 < n ? " " : "";
    }
    const int end = roll(rng);
    text += end < 80 ? ". " : end < 90 ? "? " : ".\n\n";
  }
  return text;
}

void encode(benchmark::State& state, const char* vocab) {
  const auto path = shared_file(std::string("vocab/") + vocab);
  if (!std::filesystem::exists(path)) {
    state.SkipWithError(("missing " + path.string()).c_str());
    return;
  }
  const minillm::Tokenizer tok = minillm::Tokenizer::from_file(path);
  const std::string text = english_text(1 << 20);
  size_t n_tokens = 0;
  for (auto _ : state) {
    const std::vector<int32_t> ids = tok.encode(text);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

void decode(benchmark::State& state, const char* vocab) {
  const auto path = shared_file(std::string("vocab/") + vocab);
  if (!std::filesystem::exists(path)) {
    state.SkipWithError(("missing " + path.string()).c_str());
    return;
  }
  const minillm::Tokenizer tok = minillm::Tokenizer::from_file(path);
  const std::string text = english_text(1 << 20);
  const std::vector<int32_t> ids = tok.encode(text);
  for (auto _ : state) {
    const std::string out = tok.decode(ids);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

BENCHMARK_CAPTURE(encode, spm_llama2_1MB, "ggml-vocab-llama-spm.gguf")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, bpe_llama3_1MB, "ggml-vocab-llama3.gguf")->Unit(benchmark::kMillisecond);
// GPT-2 has no ignore_merges, so every word goes through the merge loop.
BENCHMARK_CAPTURE(encode, bpe_gpt2_1MB, "ggml-vocab-gpt-2.gguf")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode, spm_llama2_1MB, "ggml-vocab-llama-spm.gguf")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode, bpe_llama3_1MB, "ggml-vocab-llama3.gguf")->Unit(benchmark::kMillisecond);

}  // namespace
