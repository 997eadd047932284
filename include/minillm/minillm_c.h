/* The C API of mini-llm, for C programs and for bindings (Python ctypes, Go cgo, ...): plain
 * C11, opaque handles, no C++ types, and no C++ exception ever crosses it.
 *
 *   minillm_model* model = NULL;
 *   if (minillm_model_load("model.gguf", &model) != MINILLM_OK) {   // or a Hugging Face folder
 *     fprintf(stderr, "%s\n", minillm_last_error());
 *     return 1;
 *   }
 *   minillm_session* session = NULL;
 *   minillm_session_new(model, 2048, 0, &session);             // n_ctx 2048, default threads
 *   minillm_sampling sampling = minillm_sampling_default();
 *   sampling.temperature = 0;                                   // greedy
 *   sampling.max_tokens = 64;
 *   minillm_generate(session, "Once upon a time", &sampling, print_piece, NULL);
 *   minillm_session_free(session);
 *   minillm_model_free(model);
 *
 * with
 *
 *   int print_piece(const char* piece, size_t len, int32_t token, void* user) {
 *     fwrite(piece, 1, len, stdout);
 *     return 1;                                                 // 0 stops generation
 *   }
 *
 * Every function that can fail returns a minillm_status; on failure minillm_last_error() holds
 * the message (per thread) and the output arguments are left as they were, except where a
 * function says otherwise. NULL pointers, zero sizes and unreadable files give a status, never
 * a crash. A model may be used by many threads at once; a session by one thread at a time.
 * A session keeps what it needs of its model, so the model may be freed before the session.
 *
 * Link with the minillm library (CMake: minillm::minillm, or the shared minillm::minillm_c;
 * pkg-config: minillm_c for the shared library).
 */
#ifndef MINILLM_MINILLM_C_H
#define MINILLM_MINILLM_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct minillm_model minillm_model;
typedef struct minillm_session minillm_session;
typedef struct minillm_grammar minillm_grammar;

/* The kinds of minillm::Error (include/minillm/error.h), one to one, after MINILLM_OK. */
typedef enum {
  MINILLM_OK = 0,
  MINILLM_ERR_INVALID_ARGUMENT, /* a NULL pointer, a size out of range, a bad parameter */
  MINILLM_ERR_BAD_FILE,         /* missing, unreadable, truncated or malformed file */
  MINILLM_ERR_UNSUPPORTED,      /* a tensor type, architecture or feature mini-llm lacks */
  MINILLM_ERR_CONTEXT_FULL,     /* the tokens do not fit in the session's context */
  MINILLM_ERR_CANCELLED,        /* the caller asked to stop */
  MINILLM_ERR_OUT_OF_MEMORY,
  MINILLM_ERR_INTERNAL, /* a bug in mini-llm */
} minillm_status;

typedef struct {
  float temperature;    /* 0 = greedy */
  int32_t top_k;        /* 0 = off */
  float top_p;          /* 1 = off */
  float min_p;          /* 0 = off */
  float repeat_penalty; /* 1 = off */
  uint64_t seed;
  int32_t max_tokens; /* -1 = until an end-of-generation token or a full context */
} minillm_sampling;

/* Receives each piece of generated text as soon as it is complete UTF-8: `len` bytes at `piece`
 * (piece[len] is 0), and the id of the token that completed it. Return 0 to stop. */
typedef int (*minillm_piece_fn)(const char* piece, size_t len, int32_t token, void* user);

/* The message of this thread's last failure ("" when none); valid until its next failure. */
const char* minillm_last_error(void);
/* "ok", "invalid argument", "bad file", ...; "unknown" for a value outside the enum. */
const char* minillm_status_name(minillm_status status);

/* The library's defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1,
 * seed 0, max_tokens 128. */
minillm_sampling minillm_sampling_default(void);

/* Loads a .gguf file (part 1 of a split one loads every part) or a Hugging Face model folder,
 * with its tokenizer. */
minillm_status minillm_model_load(const char* path, minillm_model** out);
void minillm_model_free(minillm_model* model); /* NULL is ignored */
/* Vocabulary size (the length of a logits row); 0 for NULL. */
int32_t minillm_model_n_vocab(const minillm_model* model);
/* Beginning- and end-of-sequence token ids; -1 when the vocabulary has none or model is NULL. */
int32_t minillm_model_bos(const minillm_model* model);
int32_t minillm_model_eos(const minillm_model* model);

/* A sequence with its own KV cache of n_ctx tokens (0 = the model's training context, at most
 * 4096) evaluated with n_threads threads (0 = one per physical core). */
minillm_status minillm_session_new(const minillm_model* model, uint32_t n_ctx, int32_t n_threads,
                                   minillm_session** out);
void minillm_session_free(minillm_session* session); /* NULL is ignored */
/* Forgets every token, to start a new sequence. */
minillm_status minillm_session_reset(minillm_session* session);
/* Tokens in the cache, and its capacity; 0 for NULL. */
uint32_t minillm_session_n_past(const minillm_session* session);
uint32_t minillm_session_n_ctx(const minillm_session* session);

/* Token ids of `text` (NUL-terminated UTF-8), with BOS first when add_bos is non-zero and the
 * vocabulary uses one. Writes at most `capacity` ids; *n_ids is always set to the full count,
 * and when it exceeds capacity nothing is written and the status is
 * MINILLM_ERR_INVALID_ARGUMENT (so capacity 0 asks for the count). */
minillm_status minillm_tokenize(const minillm_model* model, const char* text, int32_t add_bos,
                                int32_t* ids, size_t capacity, size_t* n_ids);
/* The text of `n` token ids (control tokens give nothing), NUL-terminated in `text`. *len is
 * always set to the byte length without the NUL; when len + 1 exceeds capacity nothing is
 * written and the status is MINILLM_ERR_INVALID_ARGUMENT. */
minillm_status minillm_detokenize(const minillm_model* model, const int32_t* ids, size_t n,
                                  char* text, size_t capacity, size_t* len);
/* The bytes of one token (no leading-space handling), as minillm_detokenize writes them. */
minillm_status minillm_token_to_piece(const minillm_model* model, int32_t token, char* piece,
                                      size_t capacity, size_t* len);

/* Appends `n` (>= 1) tokens to the session's sequence and evaluates them. *logits points to the
 * n_vocab logits of the last token, valid until the session is next used or freed; logits and
 * n_vocab may be NULL. A sequence that would overflow the context gives
 * MINILLM_ERR_CONTEXT_FULL and leaves the session unchanged. */
minillm_status minillm_eval(minillm_session* session, const int32_t* ids, size_t n,
                            const float** logits, size_t* n_vocab);

/* Appends `prompt` to the session's sequence (with BOS when the session is empty and the
 * vocabulary uses one) and generates until max_tokens, an end-of-generation token, a full
 * context or on_piece returning 0 (all of them MINILLM_OK). params NULL = the defaults;
 * on_piece may be NULL. Afterwards the session holds the prompt and every generated token but
 * the last (sampled, not yet evaluated). A prompt that does not fit gives
 * MINILLM_ERR_CONTEXT_FULL. */
minillm_status minillm_generate(minillm_session* session, const char* prompt,
                                const minillm_sampling* params, minillm_piece_fn on_piece,
                                void* user);

/* A grammar the output must match, bound to the model's vocabulary (include/minillm/grammar.h):
 * GBNF text (start rule "root"), or a JSON Schema (NUL-terminated JSON text; NULL = any JSON
 * object). A grammar error, an unsupported keyword or a schema that can never be satisfied gives
 * a status (INVALID_ARGUMENT / UNSUPPORTED) and the message in minillm_last_error(). One grammar
 * may serve many generations, also from several threads; free it after the last. */
minillm_status minillm_grammar_from_gbnf(const minillm_model* model, const char* gbnf,
                                         minillm_grammar** out);
minillm_status minillm_grammar_from_json_schema(const minillm_model* model, const char* schema,
                                                minillm_grammar** out);
void minillm_grammar_free(minillm_grammar* grammar); /* NULL is ignored */

/* minillm_generate with the output constrained to `grammar` (NULL = none): generation also ends
 * as soon as the grammar is complete. */
minillm_status minillm_generate_constrained(minillm_session* session, const char* prompt,
                                            const minillm_sampling* params,
                                            const minillm_grammar* grammar,
                                            minillm_piece_fn on_piece, void* user);

#ifdef __cplusplus
}
#endif

#endif /* MINILLM_MINILLM_C_H */
