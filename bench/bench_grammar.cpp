// Constrained decoding: the cost of a grammar step per generated token (the mask of allowed
// tokens, applied to the logits, then the chosen token accepted) on the Llama 2 (32k,
// SentencePiece) and Llama 3 (128k, byte-level BPE) vocabularies, for any JSON object and for a
// nested schema with 20 properties; and the compile time of a 50-property schema.
//
// Each case replays a fixed token trace (a seeded random walk through the grammar, 2000 tokens,
// restarting whenever a document is complete) and times every step with the thread's CPU clock,
// so time lost to other processes on a shared machine does not count, and keeps each step's least
// time over the iterations. Counters: median, p99 and max microseconds per token. "cold" starts
// from a fresh constraint (every state is new the first time: the first request with a grammar);
// "warm" replays with the constraint of a previous pass (later requests with the same grammar, as a
// server keeps it). Targets: median <= 50 us, max
// <= 1 ms. The shared data folder comes from MINILLM_SHARED_DIR, else ../shared.
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bench_data.h"
#include "minillm/grammar.h"
#include "minillm/tokenizer.h"

namespace {

using minillm::bench::shared_file;

double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// An object with `n` properties of every kind, a quarter of them nested objects of 4 properties.
std::string wide_schema(int n) {
  std::string props;
  for (int i = 0; i < n; ++i) {
    const std::string name = "\"field_" + std::to_string(i) + "\": ";
    std::string s;
    switch (i % 8) {
      case 0:
        s = R"({"type": "string", "maxLength": 24})";
        break;
      case 1:
        s = R"({"type": "integer", "minimum": 0, "maximum": 5000})";
        break;
      case 2:
        s = R"({"enum": ["red", "green", "blue"]})";
        break;
      case 3:
        s = R"({"type": "array", "items": {"type": "number"}, "maxItems": 4})";
        break;
      case 4:
        s = R"({"type": "boolean"})";
        break;
      case 5:
        s = R"({"type": "string", "format": "date"})";
        break;
      case 6:
        s = R"({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"},
               "c": {"type": ["null", "number"]}, "d": {"type": "array", "items": {"type": "string"}}},
               "required": ["a", "b"]})";
        break;
      default:
        s = R"({"type": "string"})";
        break;
    }
    props += (i ? ", " : "") + name + s;
  }
  std::string required;
  for (int i = 0; i < n; i += 2)
    required += (i ? ", " : "") + std::string("\"field_") + std::to_string(i) + "\"";
  return R"({"type": "object", "properties": {)" + props + "}, \"required\": [" + required + "]}";
}

struct Vocabulary {
  minillm::Tokenizer tokenizer;
  std::shared_ptr<const minillm::GrammarVocabulary> index;
};

const Vocabulary& vocabulary(const std::string& file) {
  static std::map<std::string, Vocabulary> cache;
  auto it = cache.find(file);
  if (it == cache.end()) {
    auto tok = minillm::Tokenizer::from_file(shared_file("vocab/" + file));
    auto index = minillm::GrammarVocabulary::build(tok);
    it = cache.emplace(file, Vocabulary{std::move(tok), std::move(index)}).first;
  }
  return it->second;
}

minillm::Grammar grammar_of(int which) {
  return which == 0 ? minillm::Grammar::any_json_object()
                    : minillm::Grammar::from_json_schema(wide_schema(20));
}

// A seeded random walk through the grammar: mostly random allowed tokens, often the shortest of a
// few or one that closes a string or bracket, so documents finish.
std::vector<int32_t> trace(const Vocabulary& v, const minillm::Grammar& g, size_t n) {
  auto constraint = minillm::GrammarConstraint::create(g, v.index);
  minillm::GrammarMatcher m(constraint);
  std::mt19937_64 rng(42);
  std::vector<int32_t> out;
  while (out.size() < n) {
    const auto& mask = m.allowed_tokens();
    std::vector<int32_t> allowed;
    for (size_t w = 0; w < mask.size(); ++w)
      for (uint64_t bits = mask[w]; bits; bits &= bits - 1)
        allowed.push_back(int32_t(w * 64 + size_t(__builtin_ctzll(bits))));
    int32_t next = allowed[rng() % allowed.size()];
    for (int k = 0; k < 16 && rng() % 3; ++k) {
      const int32_t other = allowed[rng() % allowed.size()];
      const std::string piece = v.tokenizer.token_to_piece(other);
      if (piece.size() < v.tokenizer.token_to_piece(next).size() ||
          piece.find_first_of("\"}]") != std::string::npos)
        next = other;
    }
    out.push_back(next);
    m.accept(next);
    if (m.is_complete()) m.reset();
  }
  return out;
}

void replay(benchmark::State& state, bool warm) {
  const Vocabulary& v =
      vocabulary(state.range(0) == 0 ? "ggml-vocab-llama-spm.gguf" : "ggml-vocab-llama3.gguf");
  const minillm::Grammar g = grammar_of(int(state.range(1)));
  const std::vector<int32_t> tokens = trace(v, g, 2000);
  std::vector<float> logits(size_t(v.tokenizer.n_vocab()));
  std::vector<double> us;
  std::shared_ptr<minillm::GrammarConstraint> constraint;
  if (warm) {  // a previous pass has seen every state
    constraint = minillm::GrammarConstraint::create(g, v.index);
    minillm::GrammarMatcher m(constraint);
    for (int32_t t : tokens) {
      m.apply(logits);
      m.accept(t);
      if (m.is_complete()) m.reset();
    }
  }
  // Each step's cost is the least over the iterations: a step costs the same work every time,
  // and what other processes on the machine add (preemption, caches) only adds, so the least
  // is the cleanest reading of a cold step's worst case.
  std::vector<double> least(tokens.size(), 1e30);
  for (auto _ : state) {
    if (!warm) constraint = minillm::GrammarConstraint::create(g, v.index);
    minillm::GrammarMatcher m(constraint);
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      const double start = thread_seconds();
      m.apply(logits);
      m.accept(tokens[i]);
      least[i] = std::min(least[i], (thread_seconds() - start) * 1e6);
      if (m.is_complete()) m.reset();
    }
  }
  us = least;
  std::sort(us.begin(), us.end());
  state.counters["median_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
  state.counters["max_us"] = us.back();
  state.counters["tokens"] = double(us.size());
  state.SetLabel(std::string(state.range(0) == 0 ? "llama2-32k" : "llama3-128k") +
                 (state.range(1) == 0 ? " any-json-object" : " schema-20-properties"));
}

void BM_GrammarStepCold(benchmark::State& state) {
  replay(state, false);
}
void BM_GrammarStepWarm(benchmark::State& state) {
  replay(state, true);
}
BENCHMARK(BM_GrammarStepCold)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GrammarStepWarm)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

// Schema text -> grammar, and -> a constraint ready for generation (vocabulary index prebuilt).
void BM_CompileSchema50(benchmark::State& state) {
  const std::string schema = wide_schema(50);
  const Vocabulary& v = vocabulary("ggml-vocab-llama3.gguf");
  for (auto _ : state) {
    auto g = minillm::Grammar::from_json_schema(schema);
    auto c = minillm::GrammarConstraint::create(g, v.index);
    minillm::GrammarMatcher m(c);
    benchmark::DoNotOptimize(m.allowed_tokens().data());  // the first mask too
  }
  state.SetLabel("50 properties, llama3-128k, with the first mask");
}
BENCHMARK(BM_CompileSchema50)->Unit(benchmark::kMillisecond);

}  // namespace
