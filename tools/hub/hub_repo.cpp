#include "hub_repo.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "minillm/error.h"

namespace minillm::hub {
namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

bool ends_with_ci(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && upper(s.substr(s.size() - suffix.size())) == upper(suffix);
}

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "NAME-00001-of-00003.gguf": the parts of a split model.
const std::regex& split_part_name() {
  static const std::regex re(R"((.*)-(\d{5})-of-(\d{5})\.gguf)", std::regex::icase);
  return re;
}

// One loadable GGUF model: a single file, or the parts of a split one in order.
struct GgufModel {
  std::string name;  // the file to load (part 1 of a split model)
  std::vector<const RepoFile*> parts;
};

std::vector<GgufModel> gguf_models(const RepoInfo& repo) {
  std::vector<GgufModel> models;
  std::map<std::string, std::map<int, const RepoFile*>> splits;  // prefix + count -> parts
  for (const RepoFile& f : repo.files) {
    if (!ends_with_ci(f.name, ".gguf")) continue;
    // Projector files of multimodal repos are not language models.
    if (upper(base_name(f.name)).find("MMPROJ") != std::string::npos) continue;
    std::smatch m;
    if (std::regex_match(f.name, m, split_part_name()))
      splits[m[1].str() + "|" + m[3].str()][std::stoi(m[2].str())] = &f;
    else
      models.push_back({f.name, {&f}});
  }
  for (const auto& [key, parts] : splits) {
    const int count = std::stoi(key.substr(key.rfind('|') + 1));
    GgufModel model;
    for (int i = 1; i <= count; ++i) {
      const auto it = parts.find(i);
      if (it == parts.end()) {
        model.parts.clear();
        break;
      }
      model.parts.push_back(it->second);
    }
    if (model.parts.empty()) continue;  // an incomplete set is not a model
    model.name = model.parts.front()->name;
    models.push_back(std::move(model));
  }
  std::sort(models.begin(), models.end(),
            [](const GgufModel& a, const GgufModel& b) { return a.name < b.name; });
  return models;
}

// True when `tag` stands in the file name as a word of its own: "Q4_K" matches "m-Q4_K.gguf"
// but not "m-Q4_K_M.gguf"; case does not matter.
bool names_quant(const std::string& path, const std::string& tag) {
  const std::string name = upper(base_name(path)), t = upper(tag);
  for (size_t at = name.find(t); at != std::string::npos; at = name.find(t, at + 1)) {
    const bool start_ok = at == 0 || !std::isalnum(static_cast<unsigned char>(name[at - 1]));
    const size_t end = at + t.size();
    const bool end_ok = end == name.size() ||
                        (!std::isalnum(static_cast<unsigned char>(name[end])) && name[end] != '_');
    if (start_ok && end_ok) return true;
  }
  return false;
}

// The quantization tags found in the names (for error messages): Q4_K_M, IQ4_XS, F16, ...
std::string quant_list(const std::vector<GgufModel>& models) {
  static const std::regex tag(
      R"((^|[^A-Z0-9])((I?Q\d+(_[A-Z0-9]+)*)|BF16|F16|F32)(?=[^A-Z0-9_]|$))");
  std::set<std::string> tags;
  for (const GgufModel& m : models) {
    const std::string name = upper(base_name(m.name));
    for (auto it = std::sregex_iterator(name.begin(), name.end(), tag);
         it != std::sregex_iterator(); ++it)
      tags.insert((*it)[2].str());
  }
  std::string out;
  for (const std::string& t : tags) out += (out.empty() ? "" : ", ") + t;
  if (out.empty())
    for (const GgufModel& m : models) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

Selection select_gguf(const GgufModel& model) {
  Selection s;
  for (const RepoFile* f : model.parts) s.files.push_back(*f);
  s.model_path = model.name;
  return s;
}

std::string names_of(const std::vector<GgufModel>& models) {
  std::string out;
  for (const GgufModel& m : models) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

}  // namespace

bool is_hub_uri(const std::string& text) {
  return text.rfind("hf://", 0) == 0;
}

ModelRef parse_model_ref(const std::string& text) {
  std::string rest = is_hub_uri(text) ? text.substr(5) : text;
  ModelRef ref;
  if (const size_t colon = rest.find(':'); colon != std::string::npos) {
    ref.quant = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (ref.quant.empty() || ref.quant.find_first_of("/:") != std::string::npos)
      throw Error("'" + text + "': the text after ':' must be a quantization such as Q4_K_M");
  }
  static const std::regex repo_id(R"([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)");
  if (!std::regex_match(rest, repo_id) || rest.find("..") != std::string::npos)
    throw Error("'" + text + "' is not a Hugging Face model (USER/REPO or USER/REPO:QUANT)");
  ref.repo = rest;
  return ref;
}

RepoInfo parse_repo_info(const std::string& json_text) {
  const auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error("the Hub's file list is not a JSON object");
  RepoInfo info;
  try {
    info.id = j.value("id", std::string());
    info.commit = j.at("sha").get<std::string>();
    for (const auto& s : j.at("siblings")) {
      RepoFile f;
      f.name = s.at("rfilename").get<std::string>();
      if (s.contains("lfs") && s["lfs"].is_object()) {
        f.sha256 = s["lfs"].at("sha256").get<std::string>();
        f.size = s["lfs"].at("size").get<uint64_t>();
      } else {
        f.size = s.value("size", uint64_t(0));
      }
      f.blob_id = s.value("blobId", std::string());
      info.files.push_back(std::move(f));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("the Hub's file list lacks a field: ") + e.what());
  }
  static const std::regex hex(R"([0-9a-f]{40}|[0-9a-f]{64})");
  if (!std::regex_match(info.commit, hex)) throw Error("the Hub's file list has a bad commit id");
  for (const RepoFile& f : info.files) {
    // Names become paths in the cache: nothing may climb out of the snapshot folder.
    if (f.name.empty() || f.name.front() == '/' || f.name.find("..") != std::string::npos ||
        f.name.find('\\') != std::string::npos)
      throw Error("the Hub's file list has an unsafe file name '" + f.name + "'");
    if (!std::regex_match(f.etag(), hex))
      throw Error("the Hub's file list has no valid sha256 or blob id for '" + f.name + "'");
  }
  return info;
}

Selection select_model_files(const RepoInfo& repo, const std::string& quant) {
  const std::vector<GgufModel> models = gguf_models(repo);
  if (!quant.empty()) {
    std::vector<GgufModel> matching;
    for (const GgufModel& m : models)
      if (names_quant(m.name, quant)) matching.push_back(m);
    if (matching.size() == 1) return select_gguf(matching.front());
    if (models.empty())
      throw Error(repo.id + " has no GGUF files, so ':" + quant + "' matches nothing");
    if (matching.empty())
      throw Error(repo.id + " has no GGUF file for '" + quant +
                  "' (available: " + quant_list(models) + ")");
    throw Error(repo.id + ": '" + quant + "' matches several files: " + names_of(matching));
  }
  if (models.size() == 1) return select_gguf(models.front());
  if (models.size() > 1) {
    std::vector<GgufModel> q4km;
    for (const GgufModel& m : models)
      if (names_quant(m.name, "Q4_K_M")) q4km.push_back(m);
    if (q4km.size() == 1) return select_gguf(q4km.front());
    throw Error(repo.id + " has several GGUF models; pick one with :QUANT (available: " +
                quant_list(models) + ")");
  }
  // A Hugging Face folder: the top-level config, tokenizer and weight files.
  static const std::set<std::string> kFolderFiles = {"config.json",
                                                     "generation_config.json",
                                                     "tokenizer.json",
                                                     "tokenizer_config.json",
                                                     "tokenizer.model",
                                                     "special_tokens_map.json",
                                                     "model.safetensors.index.json"};
  Selection s;
  bool has_config = false, has_weights = false;
  for (const RepoFile& f : repo.files) {
    if (f.name.find('/') != std::string::npos) continue;
    const bool weights = ends_with_ci(f.name, ".safetensors");
    if (weights || kFolderFiles.count(f.name)) s.files.push_back(f);
    has_weights |= weights;
    has_config |= f.name == "config.json";
  }
  if (has_weights && has_config) return s;
  throw Error(repo.id + " has no GGUF or safetensors model files" +
              (has_weights ? " (safetensors without config.json)" : ""));
}

}  // namespace minillm::hub
