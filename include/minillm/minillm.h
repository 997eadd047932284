// mini-llm: a CPU inference engine for Llama- and Mistral-family models.
//
//   #include <minillm/minillm.h>
//
//   auto model = minillm::Model::load("stories260K.gguf");       // weights stay memory-mapped
//   minillm::Session session(model, {.n_ctx = 512});              // one KV cache per sequence
//   std::vector<int32_t> prompt = {1, 403, 407, 261};             // token ids (BOS first)
//   std::span<const float> logits = session.eval(prompt);         // logits of the last position
//   int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
//   session.eval(std::vector<int32_t>{next});                      // continue one token at a time
//   session.truncate(1);                                           // or rewind to a shared prefix
//
// Errors (bad files, bad arguments, a full context) are thrown as minillm::Error.
#pragma once

#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "minillm/tensor_type.h"
