/* A C11 program that uses the installed minillm C API as a C user would: loads the demo model,
 * tokenizes, evaluates and generates greedily, and checks each result against a file that the
 * test script made with the C++ library through the mini-llm command. Then it checks that bad
 * input (NULL pointers, zero sizes, a missing file, bad parameters, a full context) gives the
 * right status and a message. Prints "ok" and exits 0 when every check passes.
 *
 * usage: consumer_c MODEL PROMPT N_TOKENS IDS_FILE LOGITS_FILE TEXT_FILE
 *   IDS_FILE: the prompt's ids with BOS, space-separated; LOGITS_FILE: float32 logits of the
 *   last prompt position; TEXT_FILE: the greedy continuation of N_TOKENS tokens. */
#include <minillm/minillm_c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* The call must return `want`, and leave a message when that is a failure. */
#define CHECK_STATUS(call, want)                                                           \
  do {                                                                                     \
    minillm_status got_ = (call);                                                          \
    if (got_ != (want)) {                                                                  \
      fprintf(stderr, "%s:%d: %s gave %s (%s), expected %s\n", __FILE__, __LINE__, #call,  \
              minillm_status_name(got_), minillm_last_error(), minillm_status_name(want)); \
      ++failures;                                                                          \
    } else if ((want) != MINILLM_OK && minillm_last_error()[0] == '\0') {                  \
      fprintf(stderr, "%s:%d: %s left no message\n", __FILE__, __LINE__, #call);           \
      ++failures;                                                                          \
    }                                                                                      \
  } while (0)

/* The whole file, NUL-terminated; *size is its length. Exits on failure. */
static char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(2);
  }
  size_t cap = 4096, n = 0;
  char* data = malloc(cap);
  for (;;) {
    if (n + 1 >= cap) data = realloc(data, cap *= 2);
    const size_t got = fread(data + n, 1, cap - n - 1, f);
    if (got == 0) break;
    n += got;
  }
  fclose(f);
  data[n] = '\0';
  *size = n;
  return data;
}

/* Collects generated pieces; stops after `stop_after` pieces when that is > 0. */
typedef struct {
  char text[8192];
  size_t len;
  int pieces;
  int stop_after;
  int bad_piece; /* a piece that was not NUL-terminated or had an invalid token */
} Collector;

static int collect(const char* piece, size_t len, int32_t token, void* user) {
  Collector* c = user;
  if (piece[len] != '\0' || token < 0) c->bad_piece = 1;
  if (c->len + len < sizeof c->text) {
    memcpy(c->text + c->len, piece, len);
    c->len += len;
    c->text[c->len] = '\0';
  }
  ++c->pieces;
  return c->stop_after <= 0 || c->pieces < c->stop_after;
}

static void check_bad_input(minillm_model* model) {
  minillm_model* none = NULL;
  CHECK_STATUS(minillm_model_load(NULL, &none), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_model_load("model.gguf", NULL), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_model_load("/nonexistent/minillm/model.gguf", &none), MINILLM_ERR_BAD_FILE);
  CHECK(strstr(minillm_last_error(), "/nonexistent/minillm/model.gguf") != NULL);
  CHECK(none == NULL);
  minillm_model_free(NULL);
  minillm_session_free(NULL);
  CHECK(minillm_model_n_vocab(NULL) == 0);

  int32_t ids[4] = {-7, -7, -7, -7};
  size_t n_ids = 0;
  CHECK_STATUS(minillm_tokenize(NULL, "a", 1, ids, 4, &n_ids), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_tokenize(model, NULL, 1, ids, 4, &n_ids), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_tokenize(model, "a", 1, ids, 4, NULL), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_tokenize(model, "a", 1, NULL, 4, &n_ids), MINILLM_ERR_INVALID_ARGUMENT);
  /* Too small: the count comes back, nothing is written. Capacity 0 asks for the count. */
  CHECK_STATUS(minillm_tokenize(model, "Once upon a time there was", 1, ids, 2, &n_ids),
               MINILLM_ERR_INVALID_ARGUMENT);
  CHECK(n_ids > 2);
  CHECK(ids[0] == -7 && ids[1] == -7);
  const size_t needed = n_ids;
  n_ids = 0;
  CHECK_STATUS(minillm_tokenize(model, "Once upon a time there was", 1, NULL, 0, &n_ids),
               MINILLM_ERR_INVALID_ARGUMENT);
  CHECK(n_ids == needed);

  char text[8];
  size_t len = 0;
  CHECK_STATUS(minillm_token_to_piece(model, -1, text, sizeof text, &len),
               MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_token_to_piece(model, minillm_model_n_vocab(model), text, sizeof text, &len),
               MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_detokenize(model, NULL, 3, text, sizeof text, &len),
               MINILLM_ERR_INVALID_ARGUMENT);

  minillm_session* session = NULL;
  CHECK_STATUS(minillm_session_new(NULL, 16, 1, &session), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_session_new(model, 16, 1, NULL), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_session_new(model, 16, -1, &session), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK(session == NULL);

  CHECK_STATUS(minillm_session_new(model, 4, 1, &session), MINILLM_OK);
  if (!session) return;
  const float* logits = NULL;
  size_t n_vocab = 0;
  const int32_t five[5] = {1, 2, 3, 4, 5};
  const int32_t outside[1] = {minillm_model_n_vocab(model)};
  CHECK_STATUS(minillm_eval(NULL, five, 1, &logits, &n_vocab), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_eval(session, NULL, 2, &logits, &n_vocab), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_eval(session, five, 0, &logits, &n_vocab), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_eval(session, outside, 1, &logits, &n_vocab), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_eval(session, five, 5, &logits, &n_vocab), MINILLM_ERR_CONTEXT_FULL);
  CHECK(logits == NULL && n_vocab == 0);
  CHECK(minillm_session_n_past(session) == 0);
  CHECK_STATUS(minillm_generate(session, "Once upon a time there was a", NULL, NULL, NULL),
               MINILLM_ERR_CONTEXT_FULL);

  minillm_sampling bad = minillm_sampling_default();
  bad.temperature = -1;
  CHECK_STATUS(minillm_generate(session, "Once", &bad, NULL, NULL), MINILLM_ERR_INVALID_ARGUMENT);
  bad = minillm_sampling_default();
  bad.top_p = 2;
  CHECK_STATUS(minillm_generate(session, "Once", &bad, NULL, NULL), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_generate(session, NULL, NULL, NULL, NULL), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_generate(NULL, "Once", NULL, NULL, NULL), MINILLM_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(minillm_session_reset(NULL), MINILLM_ERR_INVALID_ARGUMENT);
  minillm_session_free(session);

  CHECK(strcmp(minillm_status_name(MINILLM_OK), "ok") == 0);
  CHECK(strcmp(minillm_status_name(MINILLM_ERR_CONTEXT_FULL), "context full") == 0);
  CHECK(strcmp(minillm_status_name(MINILLM_ERR_BAD_FILE), "bad file") == 0);
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: consumer_c MODEL PROMPT N_TOKENS IDS_FILE LOGITS_FILE TEXT_FILE\n");
    return 2;
  }
  const char* prompt = argv[2];
  const int32_t n_tokens = atoi(argv[3]);
  size_t ids_text_size = 0, logits_size = 0, text_size = 0;
  char* ids_text = read_file(argv[4], &ids_text_size);
  char* expected_logits = read_file(argv[5], &logits_size);
  char* expected_text = read_file(argv[6], &text_size);

  minillm_model* model = NULL;
  CHECK_STATUS(minillm_model_load(argv[1], &model), MINILLM_OK);
  if (!model) return 1;
  const int32_t n_vocab = minillm_model_n_vocab(model);
  CHECK(n_vocab > 0);
  CHECK(minillm_model_bos(model) >= 0);

  /* Tokenize: the same ids as the C++ tokenizer. */
  int32_t ids[256];
  size_t n_ids = 0;
  CHECK_STATUS(minillm_tokenize(model, prompt, 1, ids, 256, &n_ids), MINILLM_OK);
  CHECK(n_ids > 1 && ids[0] == minillm_model_bos(model));
  {
    char* cursor = ids_text;
    size_t n_expected = 0;
    for (;;) {
      char* end = NULL;
      const long id = strtol(cursor, &end, 10);
      if (end == cursor) break;
      CHECK(n_expected < n_ids && ids[n_expected] == id);
      ++n_expected;
      cursor = end;
    }
    CHECK(n_expected == n_ids);
  }
  /* Detokenize (without BOS) gives the prompt back. */
  char text[1024];
  size_t len = 0;
  CHECK_STATUS(minillm_detokenize(model, ids + 1, n_ids - 1, text, sizeof text, &len), MINILLM_OK);
  CHECK(len == strlen(prompt) && strcmp(text, prompt) == 0);
  CHECK_STATUS(minillm_detokenize(model, ids + 1, n_ids - 1, text, 3, &len),
               MINILLM_ERR_INVALID_ARGUMENT);
  CHECK(len == strlen(prompt));

  /* Eval: the same logits, bit for bit, as the C++ session. */
  minillm_session* session = NULL;
  CHECK_STATUS(minillm_session_new(model, 128, 1, &session), MINILLM_OK);
  if (!session) return 1;
  CHECK(minillm_session_n_ctx(session) == 128);
  const float* logits = NULL;
  size_t logits_n = 0;
  CHECK_STATUS(minillm_eval(session, ids, n_ids, &logits, &logits_n), MINILLM_OK);
  CHECK(logits_n == (size_t)n_vocab);
  CHECK(logits_size == logits_n * sizeof(float));
  CHECK(logits && logits_size == logits_n * sizeof(float) &&
        memcmp(logits, expected_logits, logits_size) == 0);
  CHECK(minillm_session_n_past(session) == n_ids);

  /* Generate greedily: the same text as the C++ generate(). The model may go first. */
  CHECK_STATUS(minillm_session_reset(session), MINILLM_OK);
  CHECK(minillm_session_n_past(session) == 0);
  minillm_model_free(model);
  model = NULL;
  minillm_sampling greedy = minillm_sampling_default();
  greedy.temperature = 0;
  greedy.max_tokens = n_tokens;
  Collector all = {.len = 0};
  CHECK_STATUS(minillm_generate(session, prompt, &greedy, collect, &all), MINILLM_OK);
  CHECK(!all.bad_piece);
  if (all.len != text_size || memcmp(all.text, expected_text, text_size) != 0) {
    fprintf(stderr, "generated '%s'\nexpected  '%s'\n", all.text, expected_text);
    ++failures;
  }
  CHECK(minillm_session_n_past(session) == n_ids + (size_t)n_tokens - 1);

  /* A callback that returns 0 stops generation after its piece. */
  CHECK_STATUS(minillm_session_reset(session), MINILLM_OK);
  Collector two = {.stop_after = 2};
  CHECK_STATUS(minillm_generate(session, prompt, &greedy, collect, &two), MINILLM_OK);
  CHECK(two.pieces == 2);
  CHECK(two.len > 0 && two.len < all.len && memcmp(two.text, all.text, two.len) == 0);
  minillm_session_free(session);

  CHECK_STATUS(minillm_model_load(argv[1], &model), MINILLM_OK);
  if (model) check_bad_input(model);
  minillm_model_free(model);
  free(ids_text);
  free(expected_logits);
  free(expected_text);
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
