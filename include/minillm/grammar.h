// Constrained decoding: the generated text must match a grammar (GBNF, llama.cpp's syntax) or a
// JSON Schema. Every step masks the tokens that cannot continue the grammar, end-of-generation
// tokens are allowed only where the grammar may end, and generation stops once it is complete.
//
//   auto grammar = minillm::Grammar::from_json_schema(R"({"type": "object", ...})");
//   // or Grammar::parse(gbnf_text), Grammar::any_json_object()
//   auto constraint = minillm::GrammarConstraint::create(grammar, tokenizer);  // share it
//   minillm::GenerateParams params;
//   params.grammar = constraint;           // generate() and generate_batch() both honour it
//   auto result = minillm::generate(session, tokenizer, prompt, params);
//
// A GrammarConstraint is the grammar bound to one vocabulary: it caches the token masks of the
// grammar states seen so far, so share one between the sequences (and requests) that use the
// same grammar. It is thread-safe. A GrammarMatcher is one sequence's position in the grammar.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "minillm/tokenizer.h"

namespace minillm {

// A compiled grammar, independent of any vocabulary. Immutable; copies share the rules.
class Grammar {
 public:
  // GBNF text (rules `name ::= ...`, the start rule named `root_rule`). Throws Error
  // (InvalidArgument) for a syntax error ("line L, column C: expected ..."), an undefined or
  // duplicate rule, a rule that can never finish, or left recursion.
  static Grammar parse(std::string_view gbnf, std::string_view root_rule = "root");
  // JSON Schema text -> grammar for JSON text that validates against it (see json_schema_to_gbnf).
  static Grammar from_json_schema(std::string_view schema_json);
  // Any JSON object (`--json`, response_format json_object).
  static Grammar any_json_object();

  const std::string& gbnf() const;  // the source text the grammar was compiled from
  size_t n_rules() const;           // rules after expanding groups and repetitions

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Grammar(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// JSON Schema text -> GBNF. Supported: type (and unions), properties/required (in schema order,
// optional ones may be left out), additionalProperties, items, prefixItems, minItems/maxItems,
// enum, const, anyOf/oneOf, allOf of objects, $ref/$defs/definitions (recursion included),
// minLength/maxLength, pattern (a regex subset), format (date, time, date-time, uuid, email),
// minimum/maximum/exclusiveMinimum/exclusiveMaximum for integers. Annotations (title,
// description, default, examples, ...) are ignored. Throws Error: Unsupported naming any other
// keyword, InvalidArgument for malformed JSON or a schema that can never be satisfied.
// Bounds that keep every value finite: numbers have at most 16 integral and 16 fractional digits
// (and 2 exponent digits, so every number fits a double), and at most 20 whitespace characters
// stand between two JSON tokens.
std::string json_schema_to_gbnf(std::string_view schema_json);

// The token texts of a vocabulary, sorted for the mask computation. Building one for a 128k
// vocabulary takes tens of milliseconds; GrammarConstraint::create(grammar, tokenizer) builds it
// each time, so keep one per tokenizer when many grammars are compiled (a server).
class GrammarVocabulary {
 public:
  static std::shared_ptr<const GrammarVocabulary> build(const Tokenizer& tokenizer);
  int32_t n_vocab() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }
  explicit GrammarVocabulary(std::unique_ptr<Impl> impl);
  ~GrammarVocabulary();

 private:
  std::unique_ptr<Impl> impl_;
};

// A grammar bound to a vocabulary, with the caches all its matchers share.
class GrammarConstraint {
 public:
  static std::shared_ptr<GrammarConstraint> create(Grammar grammar, const Tokenizer& tokenizer);
  static std::shared_ptr<GrammarConstraint> create(
      Grammar grammar, std::shared_ptr<const GrammarVocabulary> vocabulary);
  ~GrammarConstraint();

  const Grammar& grammar() const;
  int32_t n_vocab() const;
  // Memory held for what sequences have met so far (automaton states, cached masks). It grows
  // as new texts are seen: a long-running owner can replace a constraint once it is large (the
  // sequences using the old one keep it).
  size_t memory_bytes() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit GrammarConstraint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One sequence's position in the grammar.
class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<GrammarConstraint> constraint);

  // Bit t of the mask (word t / 64, bit t % 64) is set when token t may come next.
  // End-of-generation tokens are set exactly where the grammar may end.
  const std::vector<uint64_t>& allowed_tokens();
  bool is_allowed(int32_t token);
  // Sets every logit of a token that may not come next to -infinity. Throws Error when no token
  // of the vocabulary can continue (a grammar that needs a character the vocabulary lacks).
  void apply(std::span<float> logits);
  // Moves past `token`; throws Error (InvalidArgument) when the grammar does not allow it.
  void accept(int32_t token);
  // Moves past raw text (for a prompt prefix the output must continue). Returns false, leaving
  // the matcher as it was, when the grammar does not allow it.
  bool accept_text(std::string_view text);

  bool can_end() const;      // the text so far is a complete match
  bool is_complete() const;  // ... and nothing may follow it: generation should stop
  bool ended() const;        // an end-of-generation token was accepted
  void reset();              // back to the start of the grammar

 private:
  std::shared_ptr<GrammarConstraint> constraint_;
  int32_t state_;
  bool ended_ = false;
  int32_t mask_state_ = -1;  // the state allowed_ holds the mask of
  std::vector<uint64_t> allowed_;
};

}  // namespace minillm
