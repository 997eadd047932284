// config.json of a Hugging Face Llama/Mistral/Mixtral checkpoint. Defaults are those of
// transformers' LlamaConfig / MistralConfig / MixtralConfig for fields the file leaves out.
#include "formats/hf_config.h"

#include <cmath>
#include <numbers>

#include "formats/json_file.h"
#include "minillm/error.h"

namespace minillm {
namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(const json& j, const std::string& source) : j_(j), src_(source) {}

  // The value, or nullptr when absent or null (HF writes null for "not set").
  const json* get(const char* key) const {
    const auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  uint32_t u32(const char* key) const {
    const json* v = get(key);
    if (!v) throw Error(ErrorKind::BadFile, src_ + ": '" + key + "' is missing");
    return as_u32(*v, key);
  }
  uint32_t u32_or(const char* key, uint32_t fallback) const {
    const json* v = get(key);
    return v ? as_u32(*v, key) : fallback;
  }
  float f32_or(const char* key, float fallback) const {
    const json* v = get(key);
    return v ? as_f32(*v, key) : fallback;
  }
  bool bool_or(const char* key, bool fallback) const {
    const json* v = get(key);
    if (!v) return fallback;
    if (!v->is_boolean())
      throw Error(ErrorKind::BadFile, src_ + ": '" + key + "' is not true or false");
    return v->get<bool>();
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    const json* v = get(key);
    if (!v) return fallback;
    if (!v->is_string()) throw Error(ErrorKind::BadFile, src_ + ": '" + key + "' is not a string");
    return v->get<std::string>();
  }
  // A token id, or the first of a list (generation may stop at several EOS ids).
  int32_t token_id(const char* key) const {
    const json* v = get(key);
    if (!v) return -1;
    if (v->is_array()) {
      if (v->empty()) return -1;
      v = &v->front();
    }
    return int32_t(as_u32(*v, key));
  }

  uint32_t as_u32(const json& v, const std::string& key) const {
    uint64_t n = 0;
    if (!json_uint(v, n) || n > 0x7FFFFFFFu)
      throw Error(ErrorKind::BadFile,
                  src_ + ": '" + key + "' is not a non-negative integer below 2^31");
    return uint32_t(n);
  }
  float as_f32(const json& v, const std::string& key) const {
    if (!v.is_number()) throw Error(ErrorKind::BadFile, src_ + ": '" + key + "' is not a number");
    const double d = v.get<double>();
    if (!std::isfinite(d)) throw Error(ErrorKind::BadFile, src_ + ": '" + key + "' is not finite");
    return float(d);
  }
  [[noreturn]] void unsupported(const std::string& what) const {
    throw Error(ErrorKind::Unsupported, src_ + ": " + what + " is not supported yet");
  }
  const std::string& src() const { return src_; }

 private:
  const json& j_;
  const std::string& src_;
};

void check_architecture(const Reader& r) {
  static const char* const kSupported[] = {"LlamaForCausalLM", "MistralForCausalLM",
                                           "MixtralForCausalLM"};
  if (const json* arch = r.get("architectures")) {
    if (!arch->is_array())
      throw Error(ErrorKind::BadFile, r.src() + ": 'architectures' is not a list");
    std::string names;
    for (const json& a : *arch) {
      if (!a.is_string()) continue;
      for (const char* s : kSupported)
        if (a.get<std::string>() == s) return;
      names += (names.empty() ? "" : ", ") + a.get<std::string>();
    }
    throw Error(ErrorKind::Unsupported,
                r.src() + ": architecture '" + names +
                    "' is not supported (mini-llm runs LlamaForCausalLM, MistralForCausalLM and "
                    "MixtralForCausalLM)");
  }
  const std::string type = r.string_or("model_type", "");
  if (type != "llama" && type != "mistral" && type != "mixtral")
    throw Error(ErrorKind::Unsupported, r.src() + ": no 'architectures' and model_type '" + type +
                                            "' is not llama, mistral or mixtral");
}

void read_rope_scaling(const Reader& r, HFModelConfig& out) {
  const json* s = r.get("rope_scaling");
  if (!s) return;
  if (!s->is_object())
    throw Error(ErrorKind::BadFile, r.src() + ": 'rope_scaling' is not an object");
  const Reader rs(*s, r.src());
  // transformers accepts both spellings; rope_type is the newer one.
  std::string type = rs.string_or("rope_type", "");
  if (type.empty()) type = rs.string_or("type", "default");
  if (type == "default") return;
  const float factor = rs.f32_or("factor", 1.0f);
  if (!(factor > 0.0f))
    throw Error(ErrorKind::BadFile, r.src() + ": rope_scaling.factor must be positive");
  if (type == "linear") {
    out.config.rope_freq_scale = 1.0f / factor;
  } else if (type == "llama3") {
    const float low = rs.f32_or("low_freq_factor", 1.0f);
    const float high = rs.f32_or("high_freq_factor", 4.0f);
    const float original = float(rs.u32("original_max_position_embeddings"));
    if (!(high > low) || !(low > 0.0f) || !(original > 0.0f))
      throw Error(ErrorKind::BadFile,
                  r.src() +
                      ": rope_scaling needs 0 < low_freq_factor < high_freq_factor and a "
                      "positive original_max_position_embeddings");
    out.rope_freq_factors =
        llama3_rope_factors(out.config.rope_theta, out.config.n_rot, factor, low, high, original);
  } else {
    r.unsupported("rope_scaling type '" + type + "'");
  }
}

}  // namespace

std::vector<float> llama3_rope_factors(float theta, uint32_t n_rot, float factor,
                                       float low_freq_factor, float high_freq_factor,
                                       float original_max_positions) {
  const double low_wavelen = double(original_max_positions) / low_freq_factor;
  const double high_wavelen = double(original_max_positions) / high_freq_factor;
  std::vector<float> divisors(n_rot / 2);
  for (size_t i = 0; i < divisors.size(); ++i) {
    const double freq = std::pow(double(theta), -2.0 * double(i) / double(n_rot));
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double d;
    if (wavelen < high_wavelen) {
      d = 1.0;  // high frequencies are kept
    } else if (wavelen > low_wavelen) {
      d = factor;  // low frequencies are slowed down by the full factor
    } else {
      // In between, the new frequency blends freq / factor and freq linearly in
      // original_max_positions / wavelen.
      const double smooth = (double(original_max_positions) / wavelen - low_freq_factor) /
                            (double(high_freq_factor) - low_freq_factor);
      d = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    divisors[i] = float(d);
  }
  return divisors;
}

HFModelConfig parse_hf_config(const json& j, const std::string& source) {
  if (!j.is_object()) throw Error(ErrorKind::BadFile, source + ": config is not a JSON object");
  const Reader r(j, source);
  check_architecture(r);
  if (r.string_or("hidden_act", "silu") != "silu")
    r.unsupported("hidden_act '" + r.string_or("hidden_act", "") + "' (only silu)");
  if (r.bool_or("attention_bias", false)) r.unsupported("attention_bias");
  if (r.bool_or("mlp_bias", false)) r.unsupported("mlp_bias");
  if (r.f32_or("partial_rotary_factor", 1.0f) != 1.0f) r.unsupported("partial_rotary_factor");
  // GPTQ / AWQ / bitsandbytes / FP8 checkpoints store packed weights under other names.
  if (r.get("quantization_config"))
    r.unsupported("a pre-quantized checkpoint (quantization_config)");

  HFModelConfig out;
  ModelConfig& c = out.config;
  c.architecture = "llama";  // the graph (and GGUF) name for Llama and Mistral alike
  c.name = r.string_or("_name_or_path", "");
  c.n_embd = r.u32("hidden_size");
  c.n_ff = r.u32("intermediate_size");
  c.n_layer = r.u32("num_hidden_layers");
  c.n_head = r.u32("num_attention_heads");
  c.n_head_kv = r.u32_or("num_key_value_heads", c.n_head);
  if (c.n_head == 0) throw Error(ErrorKind::BadFile, source + ": num_attention_heads is 0");
  if (!r.get("head_dim") && c.n_embd % c.n_head != 0)
    throw Error(ErrorKind::BadFile, source + ": hidden_size " + std::to_string(c.n_embd) +
                                        " is not divisible by head count " +
                                        std::to_string(c.n_head) + " (and no head_dim)");
  c.head_dim = r.u32_or("head_dim", c.n_embd / c.n_head);
  c.n_rot = c.head_dim;
  c.n_vocab = r.u32_or("vocab_size", 0);
  c.n_ctx_train = r.u32_or("max_position_embeddings", 2048);
  c.rms_eps = r.f32_or("rms_norm_eps", 1e-6f);
  c.rope_theta = r.f32_or("rope_theta", 10000.0f);
  c.sliding_window = r.u32_or("sliding_window", 0);
  // Mixtral: intermediate_size is each expert's hidden width.
  c.n_expert = r.u32_or("num_local_experts", 0);
  c.n_expert_used = r.u32_or("num_experts_per_tok", 0);
  if (r.get("num_local_experts") && c.n_expert == 0)
    throw Error(ErrorKind::BadFile, source + ": num_local_experts is 0");
  if (c.n_expert > 0 && (c.n_expert_used == 0 || c.n_expert_used > c.n_expert))
    throw Error(ErrorKind::BadFile, source + ": num_experts_per_tok " +
                                        std::to_string(c.n_expert_used) + " must be 1 to " +
                                        "num_local_experts " + std::to_string(c.n_expert));
  if (c.n_expert == 0 && c.n_expert_used > 0)
    throw Error(ErrorKind::BadFile, source + ": num_experts_per_tok without num_local_experts");
  c.tied_embeddings = r.bool_or("tie_word_embeddings", false);
  c.bos_token = r.token_id("bos_token_id");
  c.eos_token = r.token_id("eos_token_id");
  out.torch_dtype = r.string_or("torch_dtype", "");
  if (!(c.rope_theta > 0.0f))
    throw Error(ErrorKind::BadFile, source + ": rope_theta must be positive");
  read_rope_scaling(r, out);
  c.has_rope_freq_factors = !out.rope_freq_factors.empty();
  return out;
}

HFModelConfig read_hf_config(const std::filesystem::path& config_json) {
  return parse_hf_config(read_json_file(config_json, 16 << 20), config_json.string());
}

}  // namespace minillm
