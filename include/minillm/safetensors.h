// Hugging Face safetensors files: a memory-mapped reader that never trusts the file.
//
//   auto set = minillm::SafetensorsSet::open_folder("Llama-2-7b-hf");  // index.json or one file
//   const minillm::SafetensorsTensor& t = set.at("model.norm.weight");
//   if (t.type) use(*t.type, t.shape, t.data);
//
// Layout: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F16", "shape": [rows, cols], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "text"}}, then the data section that the offsets index.
// Shapes are row-major: the last dimension is contiguous.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "minillm/tensor_type.h"

namespace minillm {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;               // as written in the file: "F32", "BF16", "I64", ...
  std::optional<TensorType> type;  // F32, F16 or BF16; nullopt for dtypes mini-llm cannot use
  std::vector<uint64_t> shape;     // row-major (shape.back() is contiguous); empty = scalar
  uint64_t n_elements = 0;         // product of shape
  std::span<const uint8_t> data;   // the tensor's bytes inside the mapping
  std::string source;              // the file holding it (for messages)

  // The type, or an Error naming the tensor, its dtype and the file when mini-llm cannot use it.
  TensorType require_type() const;
};

// One .safetensors file.
class SafetensorsFile {
 public:
  // Memory-maps and validates the file; throws Error naming the file (and tensor) when the header
  // length is out of range, the JSON does not parse, a dtype or shape is invalid, a data range is
  // outside the data section, reversed, overlapping another, or leaves a hole, or a shape's size
  // does not match its byte range.
  static SafetensorsFile open(const std::filesystem::path& path);
  // Parses bytes held by `owner` (kept alive as long as the file or its tensor views).
  static SafetensorsFile parse(std::shared_ptr<const void> owner, std::span<const uint8_t> bytes,
                               std::string source_name = "<memory>");
  static SafetensorsFile parse_copy(std::span<const uint8_t> bytes,
                                    std::string source_name = "<memory>");

  const std::string& source_name() const { return source_name_; }
  const std::shared_ptr<const void>& owner() const { return owner_; }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }  // by data offset
  const SafetensorsTensor* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::shared_ptr<const void> owner_;
  std::string source_name_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// The tensors of a model folder: `model.safetensors`, or every shard that
// `model.safetensors.index.json` names (its "weight_map": tensor name -> shard file).
class SafetensorsSet {
 public:
  // Throws Error when neither file exists, the index does not parse, names a shard that is
  // missing or outside the folder, or names a tensor its shard lacks.
  static SafetensorsSet open_folder(const std::filesystem::path& folder);
  static SafetensorsSet from_files(std::vector<SafetensorsFile> files);  // names must be unique

  const SafetensorsTensor* find(std::string_view name) const;
  const SafetensorsTensor& at(std::string_view name) const;  // throws Error naming it
  std::vector<const SafetensorsTensor*> tensors() const;     // every tensor, file by file
  const std::vector<SafetensorsFile>& files() const { return files_; }
  // Keeps every mapping alive (share it with views into the data).
  std::shared_ptr<const void> owner() const;
  std::string source_name() const { return source_name_; }

 private:
  std::vector<SafetensorsFile> files_;
  // name -> (file, tensor) positions; indices rather than pointers so copies stay valid
  std::map<std::string, std::pair<size_t, size_t>, std::less<>> by_name_;
  std::string source_name_;
};

}  // namespace minillm
