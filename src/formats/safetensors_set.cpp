// The tensors of a Hugging Face model folder: one model.safetensors, or the shards listed by
// model.safetensors.index.json. The index is input like any other: its shard names must be plain
// file names inside the folder, and every tensor it promises must be in its shard.
#include <algorithm>
#include <set>

#include "formats/json_file.h"
#include "minillm/error.h"
#include "minillm/safetensors.h"

namespace minillm {
namespace {

constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";

// A shard name from the index: a file directly inside the folder, nothing else.
void check_shard_name(const std::string& shard, const std::string& tensor, const std::string& src) {
  if (shard.empty() || shard == "." || shard == ".." ||
      shard.find_first_of("/\\") != std::string::npos || shard.find('\0') != std::string::npos)
    throw Error(ErrorKind::BadFile, src + ": tensor '" + tensor + "' names shard '" + shard +
                                        "', which is not a file name inside the folder");
}

}  // namespace

SafetensorsSet SafetensorsSet::from_files(std::vector<SafetensorsFile> files) {
  SafetensorsSet set;
  set.files_ = std::move(files);
  for (size_t f = 0; f < set.files_.size(); ++f) {
    const auto& tensors = set.files_[f].tensors();
    for (size_t t = 0; t < tensors.size(); ++t) {
      const auto [it, inserted] = set.by_name_.emplace(tensors[t].name, std::pair{f, t});
      if (!inserted)
        throw Error(ErrorKind::BadFile, set.files_[f].source_name() + ": tensor '" +
                                            tensors[t].name + "' is also in " +
                                            set.files_[it->second.first].source_name());
    }
  }
  if (!set.files_.empty()) set.source_name_ = set.files_.front().source_name();
  return set;
}

SafetensorsSet SafetensorsSet::open_folder(const std::filesystem::path& folder) {
  const auto index_path = folder / kIndexName;
  if (!std::filesystem::exists(index_path)) {
    const auto single = folder / kSingleName;
    if (!std::filesystem::exists(single))
      throw Error(ErrorKind::BadFile,
                  folder.string() + ": no " + kSingleName + " or " + kIndexName + " in the folder");
    return from_files({SafetensorsFile::open(single)});
  }

  const std::string src = index_path.string();
  const nlohmann::json index = read_json_file(index_path);
  const auto map_it = index.is_object() ? index.find("weight_map") : index.end();
  if (map_it == index.end() || !map_it->is_object())
    throw Error(ErrorKind::BadFile, src + ": 'weight_map' is missing or not an object");
  if (map_it->empty()) throw Error(ErrorKind::BadFile, src + ": 'weight_map' lists no tensors");
  std::map<std::string, std::vector<std::string>> by_shard;  // shard -> tensors it must hold
  for (const auto& [tensor, shard] : map_it->items()) {
    if (!shard.is_string())
      throw Error(ErrorKind::BadFile, src + ": tensor '" + tensor + "' maps to a non-string");
    const std::string name = shard.get<std::string>();
    check_shard_name(name, tensor, src);
    by_shard[name].push_back(tensor);
  }

  std::vector<SafetensorsFile> files;
  for (const auto& [shard, tensors] : by_shard) {
    const auto path = folder / shard;
    if (!std::filesystem::exists(path))
      throw Error(ErrorKind::BadFile, src + ": shard '" + shard + "' (holding tensor '" +
                                          tensors.front() + "') is missing");
    files.push_back(SafetensorsFile::open(path));
    for (const std::string& t : tensors)
      if (!files.back().find(t))
        throw Error(ErrorKind::BadFile, src + ": tensor '" + t + "' should be in shard '" + shard +
                                            "', which does not have it");
  }
  SafetensorsSet set = from_files(std::move(files));
  set.source_name_ = folder.string();
  return set;
}

const SafetensorsTensor* SafetensorsSet::find(std::string_view name) const {
  const auto it = by_name_.find(name);
  if (it == by_name_.end()) return nullptr;
  return &files_[it->second.first].tensors()[it->second.second];
}

const SafetensorsTensor& SafetensorsSet::at(std::string_view name) const {
  if (const SafetensorsTensor* t = find(name)) return *t;
  throw Error(ErrorKind::BadFile, source_name_ + ": missing tensor '" + std::string(name) + "'");
}

std::vector<const SafetensorsTensor*> SafetensorsSet::tensors() const {
  std::vector<const SafetensorsTensor*> out;
  for (const SafetensorsFile& f : files_)
    for (const SafetensorsTensor& t : f.tensors()) out.push_back(&t);
  return out;
}

std::shared_ptr<const void> SafetensorsSet::owner() const {
  auto owners = std::make_shared<std::vector<std::shared_ptr<const void>>>();
  for (const SafetensorsFile& f : files_) owners->push_back(f.owner());
  return owners;
}

}  // namespace minillm
