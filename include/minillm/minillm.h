// mini-llm: a CPU inference engine for Llama- and Mistral-family models.
//
//   #include <minillm/minillm.h>
//
//   auto model = minillm::Model::load("model.gguf");          // or a Hugging Face model folder
//   auto tokenizer = minillm::Tokenizer::from_path("model.gguf");
//   minillm::Session session(model, {.n_ctx = 2048});          // one KV cache per sequence
//
//   // Text in, text out, streamed:
//   minillm::GenerateParams params;
//   params.max_tokens = 64;
//   minillm::generate(session, tokenizer, "Once upon a time", params,
//                     [](std::string_view text, int32_t) { std::cout << text; return true; });
//
//   // Or logits directly:
//   session.reset();
//   std::vector<int32_t> ids = tokenizer.encode("Once upon a time");   // BOS first
//   std::span<const float> logits = session.eval(ids);                  // last position
//   minillm::Sampler sampler({.temperature = 0});                       // greedy
//   session.eval(std::vector<int32_t>{sampler.sample(logits)});         // one more token
//
//   // Many sequences in one forward pass (batch_session.h, generate_batch.h), on threads of your
//   // own (runtime.h):
//   auto runtime = std::make_shared<minillm::Runtime>(minillm::RuntimeOptions{.n_threads = 4});
//   minillm::BatchSession batch(model, {.n_ctx = 8192, .runtime = runtime});
//
// Errors (bad files, bad arguments, a full context) are thrown as minillm::Error.
#pragma once

#include "minillm/batch_session.h"
#include "minillm/chat.h"
#include "minillm/chat_template.h"
#include "minillm/error.h"
#include "minillm/generate.h"
#include "minillm/generate_batch.h"
#include "minillm/gguf.h"
#include "minillm/grammar.h"
#include "minillm/model.h"
#include "minillm/runtime.h"
#include "minillm/safetensors.h"
#include "minillm/sampler.h"
#include "minillm/session.h"
#include "minillm/tensor_type.h"
#include "minillm/tokenizer.h"
