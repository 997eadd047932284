#include "model/arch/gguf_keys.h"

namespace minillm {

using C = ModelConfig;
using W = KeyWritten;
const HParamKey kHParamKeys[13] = {
    {"context_length", &C::n_ctx_train, nullptr, true, W::Always},
    {"embedding_length", &C::n_embd, nullptr, true, W::Always},
    {"block_count", &C::n_layer, nullptr, true, W::Always},
    {"feed_forward_length", &C::n_ff, nullptr, true, W::Always},
    {"attention.head_count", &C::n_head, nullptr, true, W::Always},
    {"attention.head_count_kv", &C::n_head_kv, nullptr, false, W::Always, &C::n_head},
    {"attention.key_length", &C::head_dim, nullptr, false, W::UnlessDerived},
    {"rope.dimension_count", &C::n_rot, nullptr, false, W::Always},
    {"rope.freq_base", nullptr, &C::rope_theta, false, W::Always},
    {"attention.layer_norm_rms_epsilon", nullptr, &C::rms_eps, false, W::Always},
    {"attention.sliding_window", &C::sliding_window, nullptr, false, W::UnlessZero},
    {"expert_count", &C::n_expert, nullptr, false, W::UnlessZero},
    {"expert_used_count", &C::n_expert_used, nullptr, false, W::UnlessZero},
};

const MoeVariantKey kMoeVariantKeys[5] = {{"expert_shared_count", 0},
                                          {"expert_gating_func", 1},  // llama.cpp's "softmax"
                                          {"expert_weights_scale", 1},
                                          {"expert_weights_norm", 1},
                                          {"expert_group_count", 0}};

}  // namespace minillm
