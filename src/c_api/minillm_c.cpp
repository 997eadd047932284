// The C API (include/minillm/minillm_c.h) over the C++ one. Every entry point that can fail runs
// its body through `guarded`, which turns any exception into a status and this thread's message.
#include "minillm/minillm_c.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "minillm/error.h"
#include "minillm/generate.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "minillm/tokenizer.h"

struct minillm_model {
  std::shared_ptr<const minillm::Model> model;
  minillm::Tokenizer tokenizer;
};

struct minillm_session {
  minillm::Session session;
  minillm::Tokenizer tokenizer;  // shares the model's (immutable) tokenizer
};

struct minillm_grammar {
  std::shared_ptr<minillm::GrammarConstraint> constraint;
};

namespace {

using minillm::Error;
using minillm::ErrorKind;

thread_local std::string t_last_error;

minillm_status status_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument:
      return MINILLM_ERR_INVALID_ARGUMENT;
    case ErrorKind::BadFile:
      return MINILLM_ERR_BAD_FILE;
    case ErrorKind::Unsupported:
      return MINILLM_ERR_UNSUPPORTED;
    case ErrorKind::ContextFull:
      return MINILLM_ERR_CONTEXT_FULL;
    case ErrorKind::Cancelled:
      return MINILLM_ERR_CANCELLED;
    case ErrorKind::OutOfMemory:
      return MINILLM_ERR_OUT_OF_MEMORY;
    case ErrorKind::Internal:
      return MINILLM_ERR_INTERNAL;
  }
  return MINILLM_ERR_INTERNAL;
}

// Records the message; never throws (a message that cannot be stored is cut to nothing).
minillm_status fail(minillm_status status, const char* message) noexcept {
  try {
    t_last_error = message;
  } catch (...) {
    t_last_error.clear();
  }
  return status;
}

template <class Body>
minillm_status guarded(Body&& body) noexcept {
  try {
    body();
    return MINILLM_OK;
  } catch (const Error& e) {
    return fail(status_of(e.kind()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(MINILLM_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(MINILLM_ERR_INTERNAL, e.what());
  } catch (...) {
    return fail(MINILLM_ERR_INTERNAL, "unknown exception");
  }
}

// Throws InvalidArgument naming the argument when it is NULL.
void require(const void* p, const char* function, const char* argument) {
  if (!p) throw Error(std::string(function) + ": " + argument + " is NULL");
}

// Copies `bytes` and a NUL into out[capacity] when they fit; *len is always set.
void copy_text(const std::string& bytes, char* out, size_t capacity, size_t* len,
               const char* function) {
  *len = bytes.size();
  if (bytes.size() >= capacity)
    throw Error(std::string(function) + ": the text needs " + std::to_string(bytes.size() + 1) +
                " bytes with its NUL, capacity is " + std::to_string(capacity));
  std::memcpy(out, bytes.data(), bytes.size());
  out[bytes.size()] = '\0';
}

}  // namespace

extern "C" {

const char* minillm_last_error(void) {
  return t_last_error.c_str();
}

const char* minillm_status_name(minillm_status status) {
  switch (status) {
    case MINILLM_OK:
      return "ok";
    case MINILLM_ERR_INVALID_ARGUMENT:
      return minillm::error_kind_name(ErrorKind::InvalidArgument);
    case MINILLM_ERR_BAD_FILE:
      return minillm::error_kind_name(ErrorKind::BadFile);
    case MINILLM_ERR_UNSUPPORTED:
      return minillm::error_kind_name(ErrorKind::Unsupported);
    case MINILLM_ERR_CONTEXT_FULL:
      return minillm::error_kind_name(ErrorKind::ContextFull);
    case MINILLM_ERR_CANCELLED:
      return minillm::error_kind_name(ErrorKind::Cancelled);
    case MINILLM_ERR_OUT_OF_MEMORY:
      return minillm::error_kind_name(ErrorKind::OutOfMemory);
    case MINILLM_ERR_INTERNAL:
      return minillm::error_kind_name(ErrorKind::Internal);
  }
  return "unknown";
}

minillm_sampling minillm_sampling_default(void) {
  const minillm::GenerateParams defaults;
  const minillm::SamplerParams& s = defaults.sampling;
  return minillm_sampling{s.temperature,      s.top_k, s.top_p, s.min_p, s.repeat_penalty, s.seed,
                          defaults.max_tokens};
}

minillm_status minillm_model_load(const char* path, minillm_model** out) {
  return guarded([&] {
    require(path, "minillm_model_load", "path");
    require(out, "minillm_model_load", "out");
    auto model = minillm::Model::load(path);
    *out = new minillm_model{std::move(model), minillm::Tokenizer::from_path(path)};
  });
}

void minillm_model_free(minillm_model* model) {
  delete model;
}

int32_t minillm_model_n_vocab(const minillm_model* model) {
  return model ? model->tokenizer.n_vocab() : 0;
}

int32_t minillm_model_bos(const minillm_model* model) {
  return model ? model->tokenizer.bos_id() : -1;
}

int32_t minillm_model_eos(const minillm_model* model) {
  return model ? model->tokenizer.eos_id() : -1;
}

minillm_status minillm_session_new(const minillm_model* model, uint32_t n_ctx, int32_t n_threads,
                                   minillm_session** out) {
  return guarded([&] {
    require(model, "minillm_session_new", "model");
    require(out, "minillm_session_new", "out");
    minillm::SessionOptions options;
    options.n_ctx = n_ctx;
    options.n_threads = n_threads;
    *out = new minillm_session{minillm::Session(model->model, options), model->tokenizer};
  });
}

void minillm_session_free(minillm_session* session) {
  delete session;
}

minillm_status minillm_session_reset(minillm_session* session) {
  return guarded([&] {
    require(session, "minillm_session_reset", "session");
    session->session.reset();
  });
}

uint32_t minillm_session_n_past(const minillm_session* session) {
  return session ? session->session.n_past() : 0;
}

uint32_t minillm_session_n_ctx(const minillm_session* session) {
  return session ? session->session.n_ctx() : 0;
}

minillm_status minillm_tokenize(const minillm_model* model, const char* text, int32_t add_bos,
                                int32_t* ids, size_t capacity, size_t* n_ids) {
  return guarded([&] {
    require(model, "minillm_tokenize", "model");
    require(text, "minillm_tokenize", "text");
    require(n_ids, "minillm_tokenize", "n_ids");
    if (capacity > 0) require(ids, "minillm_tokenize", "ids");
    minillm::EncodeOptions options;
    options.add_bos = add_bos != 0;
    const std::vector<int32_t> out = model->tokenizer.encode(text, options);
    *n_ids = out.size();
    if (out.size() > capacity)
      throw Error("minillm_tokenize: the text has " + std::to_string(out.size()) +
                  " tokens, capacity is " + std::to_string(capacity));
    std::copy(out.begin(), out.end(), ids);
  });
}

minillm_status minillm_detokenize(const minillm_model* model, const int32_t* ids, size_t n,
                                  char* text, size_t capacity, size_t* len) {
  return guarded([&] {
    require(model, "minillm_detokenize", "model");
    if (n > 0) require(ids, "minillm_detokenize", "ids");
    require(len, "minillm_detokenize", "len");
    if (capacity > 0) require(text, "minillm_detokenize", "text");
    const std::string bytes = model->tokenizer.decode(std::span<const int32_t>(ids, n));
    copy_text(bytes, text, capacity, len, "minillm_detokenize");
  });
}

minillm_status minillm_token_to_piece(const minillm_model* model, int32_t token, char* piece,
                                      size_t capacity, size_t* len) {
  return guarded([&] {
    require(model, "minillm_token_to_piece", "model");
    require(len, "minillm_token_to_piece", "len");
    if (capacity > 0) require(piece, "minillm_token_to_piece", "piece");
    copy_text(model->tokenizer.token_to_piece(token), piece, capacity, len,
              "minillm_token_to_piece");
  });
}

minillm_status minillm_eval(minillm_session* session, const int32_t* ids, size_t n,
                            const float** logits, size_t* n_vocab) {
  return guarded([&] {
    require(session, "minillm_eval", "session");
    if (n > 0) require(ids, "minillm_eval", "ids");
    const std::span<const float> out = session->session.eval(std::span<const int32_t>(ids, n));
    if (logits) *logits = out.data();
    if (n_vocab) *n_vocab = out.size();
  });
}

minillm_status minillm_grammar_from_gbnf(const minillm_model* model, const char* gbnf,
                                         minillm_grammar** out) {
  return guarded([&] {
    require(model, "minillm_grammar_from_gbnf", "model");
    require(gbnf, "minillm_grammar_from_gbnf", "gbnf");
    require(out, "minillm_grammar_from_gbnf", "out");
    *out = nullptr;
    auto grammar = minillm::Grammar::parse(gbnf);
    *out = new minillm_grammar{minillm::GrammarConstraint::create(grammar, model->tokenizer)};
  });
}

minillm_status minillm_grammar_from_json_schema(const minillm_model* model, const char* schema,
                                                minillm_grammar** out) {
  return guarded([&] {
    require(model, "minillm_grammar_from_json_schema", "model");
    require(out, "minillm_grammar_from_json_schema", "out");
    *out = nullptr;
    auto grammar =
        schema ? minillm::Grammar::from_json_schema(schema) : minillm::Grammar::any_json_object();
    *out = new minillm_grammar{minillm::GrammarConstraint::create(grammar, model->tokenizer)};
  });
}

void minillm_grammar_free(minillm_grammar* grammar) {
  delete grammar;
}

minillm_status minillm_generate(minillm_session* session, const char* prompt,
                                const minillm_sampling* params, minillm_piece_fn on_piece,
                                void* user) {
  return minillm_generate_constrained(session, prompt, params, nullptr, on_piece, user);
}

minillm_status minillm_generate_constrained(minillm_session* session, const char* prompt,
                                            const minillm_sampling* params,
                                            const minillm_grammar* grammar,
                                            minillm_piece_fn on_piece, void* user) {
  return guarded([&] {
    require(session, "minillm_generate", "session");
    require(prompt, "minillm_generate", "prompt");
    const minillm_sampling s = params ? *params : minillm_sampling_default();
    minillm::GenerateParams gp;
    gp.max_tokens = s.max_tokens;
    gp.sampling.temperature = s.temperature;
    gp.sampling.top_k = s.top_k;
    gp.sampling.top_p = s.top_p;
    gp.sampling.min_p = s.min_p;
    gp.sampling.repeat_penalty = s.repeat_penalty;
    gp.sampling.seed = s.seed;
    gp.add_bos = session->session.n_past() == 0;  // BOS starts a sequence, not a continuation
    if (grammar) gp.grammar = grammar->constraint;
    minillm::TokenCallback callback;
    if (on_piece) {
      callback = [&](std::string_view text, int32_t token) {
        const std::string piece(text);  // NUL-terminated for C
        return on_piece(piece.c_str(), piece.size(), token, user) != 0;
      };
    }
    minillm::generate(session->session, session->tokenizer, prompt, gp, callback);
  });
}

}  // extern "C"
