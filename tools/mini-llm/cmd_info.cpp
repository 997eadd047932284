// mini-llm info MODEL.gguf [--json]: what a GGUF file holds, without loading weights.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "commands.h"
#include "minillm/gguf.h"
#include "minillm/model.h"
#include "minillm/safetensors.h"
#include "minillm/tokenizer.h"
#include "model_source.h"

namespace minillm::cli {
namespace {

using nlohmann::ordered_json;

// Metadata numbers are read leniently (any integer width), since converters differ.
std::optional<uint64_t> uint_key(const GGUFFile& f, const std::string& key) {
  const GGUFValue* v = f.find(key);
  if (!v || v->is_array()) return std::nullopt;
  return v->as_uint(key);
}
// A float becomes the double nearest to its shortest decimal form, so that it prints as the
// number that was stored (1e-05), not as the float's exact binary value (9.99999974737875e-06).
double shortest(float f) {
  char text[64];
  const auto [end, ec] = std::to_chars(text, text + sizeof(text), f);
  double d = f;
  if (ec == std::errc()) std::from_chars(text, end, d);
  return d;
}
std::optional<double> float_key(const GGUFFile& f, const std::string& key) {
  const GGUFValue* v = f.find(key);
  if (!v) return std::nullopt;
  if (v->type() == GGUFType::FLOAT32) return shortest(v->as<float>(key));
  return v->as_float(key);
}
// Special token ids: 0xFFFFFFFF and -1 mean "none".
std::optional<int64_t> token_id_key(const GGUFFile& f, const std::string& key) {
  const GGUFValue* v = f.find(key);
  if (!v) return std::nullopt;
  const int64_t id = v->type() == GGUFType::INT32 ? v->as<int32_t>(key) : v->as_int(key);
  if (id < 0 || id == 0xFFFFFFFF) return std::nullopt;
  return id;
}

struct TensorRow {
  std::string name, type;
  std::vector<uint64_t> shape;
  uint64_t n_elements, n_bytes;
};

// "tensors" and "totals" (parameters, bytes, bits per weight).
void add_tensor_table(ordered_json& j, const std::vector<TensorRow>& rows) {
  ordered_json tensors = ordered_json::array();
  uint64_t params = 0, bytes = 0;
  for (const TensorRow& t : rows) {
    tensors.push_back(
        {{"name", t.name}, {"type", t.type}, {"shape", t.shape}, {"bytes", t.n_bytes}});
    params += t.n_elements;
    bytes += t.n_bytes;
  }
  j["tensors"] = tensors;
  j["totals"] = {{"tensors", rows.size()},
                 {"parameters", params},
                 {"bytes", bytes},
                 {"bits_per_weight", params ? 8.0 * double(bytes) / double(params) : 0.0}};
}

ordered_json summarize(const GGUFFile& f) {
  ordered_json j;
  j["file"] = f.source_name();
  j["gguf_version"] = f.version();
  j["file_bytes"] = f.file_size();
  j["alignment"] = f.alignment();
  j["metadata_count"] = f.metadata().size();
  const std::string arch = f.get_or<std::string>("general.architecture", "");
  j["architecture"] = arch.empty() ? ordered_json(nullptr) : ordered_json(arch);
  if (const GGUFValue* name = f.find("general.name"); name && name->type() == GGUFType::STRING)
    j["name"] = name->as<std::string>();

  ordered_json hp;
  const std::string p = arch + ".";
  auto put_uint = [&](const char* field, const std::string& key) {
    const auto v = uint_key(f, key);
    hp[field] = v ? ordered_json(*v) : ordered_json(nullptr);
  };
  put_uint("context_length", p + "context_length");
  put_uint("embedding_length", p + "embedding_length");
  put_uint("block_count", p + "block_count");
  put_uint("head_count", p + "attention.head_count");
  // Absent head_count_kv means as many KV heads as query heads.
  put_uint("head_count_kv", p + "attention.head_count_kv");
  if (hp["head_count_kv"].is_null()) hp["head_count_kv"] = hp["head_count"];
  put_uint("feed_forward_length", p + "feed_forward_length");
  const auto theta = float_key(f, p + "rope.freq_base");
  hp["rope_freq_base"] = theta ? *theta : 10000.0;  // the Llama default when the key is absent
  put_uint("rope_dimension_count", p + "rope.dimension_count");
  if (hp["rope_dimension_count"].is_null() && hp["embedding_length"].is_number() &&
      hp["head_count"].is_number() && hp["head_count"].get<uint64_t>() > 0)
    hp["rope_dimension_count"] =
        hp["embedding_length"].get<uint64_t>() / hp["head_count"].get<uint64_t>();
  const auto eps = float_key(f, p + "attention.layer_norm_rms_epsilon");
  hp["rms_norm_epsilon"] = eps ? ordered_json(*eps) : ordered_json(nullptr);
  if (const auto sw = uint_key(f, p + "attention.sliding_window")) hp["sliding_window"] = *sw;
  if (const auto kl = uint_key(f, p + "attention.key_length")) hp["head_width"] = *kl;
  // A mixture of experts: feed_forward_length is each expert's hidden width.
  if (const auto n = uint_key(f, p + "expert_count")) {
    hp["expert_count"] = *n;
    put_uint("expert_used_count", p + "expert_used_count");
  }
  if (const GGUFValue* tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->is_array())
    hp["vocab_size"] = tokens->array().items.size();
  else
    put_uint("vocab_size", p + "vocab_size");
  j["hyperparameters"] = hp;

  ordered_json tok;
  tok["model"] = f.get_or<std::string>("tokenizer.ggml.model", "");
  if (f.has("tokenizer.ggml.pre")) tok["pre"] = f.get<std::string>("tokenizer.ggml.pre");
  for (const char* which : {"bos", "eos", "unknown", "padding", "separator"}) {
    std::string key = std::string("tokenizer.ggml.") + which + "_token_id";
    // llama.cpp writes the separator key misspelled as "seperator".
    if (!f.has(key) && key == "tokenizer.ggml.separator_token_id")
      key = "tokenizer.ggml.seperator_token_id";
    const auto id = token_id_key(f, key);
    tok[std::string(which) + "_token_id"] = id ? ordered_json(*id) : ordered_json(nullptr);
  }
  j["tokenizer"] = tok;

  std::vector<TensorRow> rows;
  for (const GGUFTensorInfo& t : f.tensors())
    rows.push_back({t.name, std::string(type_name(t.type)), t.shape, t.n_elements, t.n_bytes});
  add_tensor_table(j, rows);
  return j;
}

// A Hugging Face folder: hyperparameters as the loader reads config.json, the tokenizer files'
// special ids, and the safetensors tensors as stored (row-major shapes).
ordered_json summarize_folder(const std::filesystem::path& folder) {
  const auto model = Model::load(folder);
  const ModelConfig& c = model->config();
  ordered_json j;
  j["file"] = folder.string();
  j["format"] = "huggingface";
  j["architecture"] = c.architecture;
  ordered_json hp;
  hp["context_length"] = c.n_ctx_train;
  hp["embedding_length"] = c.n_embd;
  hp["block_count"] = c.n_layer;
  hp["head_count"] = c.n_head;
  hp["head_count_kv"] = c.n_head_kv;
  hp["feed_forward_length"] = c.n_ff;
  hp["rope_freq_base"] = shortest(c.rope_theta);
  hp["rope_dimension_count"] = c.n_rot;
  hp["rms_norm_epsilon"] = shortest(c.rms_eps);
  if (c.sliding_window) hp["sliding_window"] = c.sliding_window;
  if (c.head_dim != c.n_embd / c.n_head) hp["head_width"] = c.head_dim;
  if (c.n_expert) {
    hp["expert_count"] = c.n_expert;
    hp["expert_used_count"] = c.n_expert_used;
  }
  hp["vocab_size"] = c.n_vocab;
  j["hyperparameters"] = hp;
  ordered_json tok;
  const Tokenizer t = Tokenizer::from_path(folder);
  tok["model"] = t.vocab().model;
  auto id = [](int32_t v) { return v >= 0 ? ordered_json(v) : ordered_json(nullptr); };
  tok["bos_token_id"] = id(t.bos_id());
  tok["eos_token_id"] = id(t.eos_id());
  tok["unknown_token_id"] = id(t.unk_id());
  tok["padding_token_id"] = id(t.pad_id());
  j["tokenizer"] = tok;
  std::vector<TensorRow> rows;
  const SafetensorsSet set = SafetensorsSet::open_folder(folder);
  for (const SafetensorsTensor* st : set.tensors())
    rows.push_back({st->name, st->dtype, st->shape, st->n_elements, st->data.size()});
  add_tensor_table(j, rows);
  return j;
}

std::string text_of(const ordered_json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

void print_text(const ordered_json& j) {
  std::printf("file:          %s\n", j["file"].get<std::string>().c_str());
  if (j.contains("gguf_version"))
    std::printf("gguf version:  %u   alignment: %llu   metadata keys: %zu\n",
                j["gguf_version"].get<unsigned>(),
                (unsigned long long)j["alignment"].get<uint64_t>(),
                j["metadata_count"].get<size_t>());
  else
    std::printf("format:        %s\n", text_of(j["format"]).c_str());
  std::printf("architecture:  %s\n", text_of(j["architecture"]).c_str());
  if (j.contains("name")) std::printf("name:          %s\n", text_of(j["name"]).c_str());
  std::printf("hyperparameters:\n");
  for (const auto& [k, v] : j["hyperparameters"].items())
    std::printf("  %-22s %s\n", k.c_str(), text_of(v).c_str());
  std::printf("tokenizer:\n");
  for (const auto& [k, v] : j["tokenizer"].items())
    std::printf("  %-22s %s\n", k.c_str(), text_of(v).c_str());
  std::printf("tensors:\n  %-32s %-8s %-24s %12s\n", "name", "type", "shape", "bytes");
  for (const auto& t : j["tensors"]) {
    std::string shape;
    for (const auto& d : t["shape"]) shape += (shape.empty() ? "" : " x ") + d.dump();
    std::printf("  %-32s %-8s %-24s %12llu\n", t["name"].get<std::string>().c_str(),
                t["type"].get<std::string>().c_str(), shape.c_str(),
                (unsigned long long)t["bytes"].get<uint64_t>());
  }
  const auto& tot = j["totals"];
  std::printf("totals: %zu tensors, %llu parameters, %llu bytes, %.3f bits per weight\n",
              tot["tensors"].get<size_t>(), (unsigned long long)tot["parameters"].get<uint64_t>(),
              (unsigned long long)tot["bytes"].get<uint64_t>(),
              tot["bits_per_weight"].get<double>());
}

}  // namespace

void add_info_command(CLI::App& app) {
  struct Options {
    ModelFlags model;
    bool json = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "info",
      "Describe a model (GGUF file or Hugging Face folder): hyperparameters, tokenizer, tensors");
  add_model_options(*cmd, opt->model, /*positional=*/true);
  cmd->add_flag("--json", opt->json, "Print one JSON object instead of text");
  cmd->callback([opt] {
    const auto path = resolve_model(opt->model);
    const ordered_json j = std::filesystem::is_directory(path)
                               ? summarize_folder(path)
                               : summarize(GGUFFile::open_model(path));
    if (opt->json)
      std::cout << j.dump(2) << "\n";
    else
      print_text(j);
  });
}

}  // namespace minillm::cli
