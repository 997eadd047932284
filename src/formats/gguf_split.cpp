// Models split over several GGUF files (gguf-split's NAME-00001-of-0000N.gguf): the first part
// holds the metadata, and every part a share of the tensors; loading merges them into one table.
#include <cstdio>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "minillm/error.h"
#include "minillm/gguf.h"

namespace minillm {
namespace {

uint64_t split_key(const GGUFFile& f, const char* key) {
  return f.at(key).as_uint(key);
}

}  // namespace

GGUFFile GGUFFile::open_model(const std::filesystem::path& path) {
  GGUFFile first = open(path);
  const GGUFValue* count_value = first.find("split.count");
  const uint64_t n_parts = count_value ? count_value->as_uint("split.count") : 1;
  if (n_parts <= 1) return first;

  const std::string name = path.filename().string();
  static const std::regex kPartName(R"((.*)-(\d{5})-of-(\d{5})\.gguf)");
  std::smatch m;
  if (!std::regex_match(name, m, kPartName) || std::stoull(m[3].str()) != n_parts)
    throw Error(ErrorKind::BadFile,
                path.string() + ": split.count is " + std::to_string(n_parts) +
                    ", but the name does not end in -0000K-of-NNNNN.gguf with that count");
  if (split_key(first, "split.no") != 0 || m[2].str() != "00001")
    throw Error(ErrorKind::BadFile, path.string() + ": this is part " + m[2].str() +
                                        " of a split model; give part 00001");
  if (n_parts > 9999)
    throw Error(ErrorKind::BadFile, path.string() + ": split.count is out of range");

  std::vector<std::shared_ptr<const void>> owners = {first.owner_};
  std::set<std::string> names;
  for (const GGUFTensorInfo& t : first.tensors_) names.insert(t.name);
  for (uint64_t i = 1; i < n_parts; ++i) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "-%05llu-of-%05llu.gguf", (unsigned long long)(i + 1),
                  (unsigned long long)n_parts);
    const std::filesystem::path part_path = path.parent_path() / (m[1].str() + suffix);
    if (!std::filesystem::exists(part_path))
      throw Error(ErrorKind::BadFile,
                  path.string() + ": split part " + part_path.string() + " is missing");
    GGUFFile part = open(part_path);
    if (split_key(part, "split.no") != i || split_key(part, "split.count") != n_parts)
      throw Error(ErrorKind::BadFile, part_path.string() +
                                          ": split.no / split.count do not say part " +
                                          std::to_string(i + 1) + " of " + std::to_string(n_parts));
    for (GGUFTensorInfo& t : part.tensors_) {
      if (!names.insert(t.name).second)
        throw Error(ErrorKind::BadFile,
                    part_path.string() + ": tensor '" + t.name + "' is also in an earlier part");
      first.tensors_.push_back(std::move(t));
    }
    owners.push_back(part.owner_);
  }
  const uint64_t expected = split_key(first, "split.tensors.count");
  if (expected != first.tensors_.size())
    throw Error(ErrorKind::BadFile, path.string() + ": split.tensors.count says " +
                                        std::to_string(expected) + " tensors, the parts hold " +
                                        std::to_string(first.tensors_.size()));
  // One owner keeps every part's mapping alive (tensor views point into all of them).
  auto all = std::make_shared<std::vector<std::shared_ptr<const void>>>(std::move(owners));
  first.owner_ = std::shared_ptr<const void>(all, all.get());
  return first;
}

}  // namespace minillm
