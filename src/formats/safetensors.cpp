// Reading one .safetensors file. Every length, offset and shape in the header is checked against
// the file before any tensor view is made, so a hostile file gives an Error, never a bad read.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "formats/json_file.h"
#include "minillm/error.h"
#include "minillm/safetensors.h"
#include "runtime/mapped_file.h"

namespace minillm {
namespace {

using nlohmann::json;

// Beyond any real header (a 100k-tensor checkpoint needs a few MB), and it bounds JSON memory.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr size_t kMaxDims = 8;
constexpr int kMaxJsonDepth = 8;  // a valid header nests 3 deep

struct Dtype {
  std::string_view name;
  uint32_t bytes;
  std::optional<TensorType> type;
};

// The dtypes of the safetensors specification with a whole number of bytes per element.
constexpr Dtype kDtypes[] = {
    {"F32", 4, TensorType::F32},  {"F16", 2, TensorType::F16},  {"BF16", 2, TensorType::BF16},
    {"F64", 8, std::nullopt},     {"I64", 8, std::nullopt},     {"I32", 4, std::nullopt},
    {"I16", 2, std::nullopt},     {"I8", 1, std::nullopt},      {"U64", 8, std::nullopt},
    {"U32", 4, std::nullopt},     {"U16", 2, std::nullopt},     {"U8", 1, std::nullopt},
    {"BOOL", 1, std::nullopt},    {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
    {"F8_E8M0", 1, std::nullopt},
};

const Dtype* find_dtype(std::string_view name) {
  for (const Dtype& d : kDtypes)
    if (d.name == name) return &d;
  return nullptr;
}

struct JsonTooDeep {};

// Parses the header, rejecting duplicate tensor names (json objects keep only the last) and
// nesting deeper than a header can have (which would only cost memory).
json parse_header(std::string_view text, const std::string& src) {
  std::set<std::string> seen;
  std::string duplicate;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) throw JsonTooDeep{};
    if (event == json::parse_event_t::key && depth == 1) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), callback);
  } catch (const JsonTooDeep&) {
    throw Error(ErrorKind::BadFile, src + ": header JSON nests deeper than " +
                                        std::to_string(kMaxJsonDepth) + " levels");
  } catch (const json::exception& e) {
    throw Error(ErrorKind::BadFile, src + ": header is not valid JSON (" + e.what() + ")");
  }
  if (!header.is_object()) throw Error(ErrorKind::BadFile, src + ": header JSON is not an object");
  if (!duplicate.empty())
    throw Error(ErrorKind::BadFile, src + ": tensor '" + duplicate + "' is listed twice");
  return header;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

TensorType SafetensorsTensor::require_type() const {
  if (type) return *type;
  throw Error(ErrorKind::Unsupported,
              source + ": tensor '" + name + "' has dtype " + dtype +
                  ", which mini-llm cannot use (F32, F16 and BF16 are supported)");
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  auto mapping = MappedFile::open(path);
  const auto bytes = mapping->bytes();
  return parse(std::move(mapping), bytes, path.string());
}

SafetensorsFile SafetensorsFile::parse_copy(std::span<const uint8_t> bytes,
                                            std::string source_name) {
  auto copy = std::make_shared<std::vector<uint8_t>>(bytes.begin(), bytes.end());
  const std::span<const uint8_t> view(copy->data(), copy->size());
  return parse(std::move(copy), view, std::move(source_name));
}

SafetensorsFile SafetensorsFile::parse(std::shared_ptr<const void> owner,
                                       std::span<const uint8_t> bytes, std::string source_name) {
  SafetensorsFile f;
  f.owner_ = std::move(owner);
  f.source_name_ = std::move(source_name);
  const std::string& src = f.source_name_;
  if (bytes.size() < 8)
    throw Error(ErrorKind::BadFile,
                src + ": " + std::to_string(bytes.size()) +
                    " bytes is too short for a safetensors file (no header length)");
  const uint64_t header_len = read_u64_le(bytes.data());
  if (header_len > kMaxHeaderBytes)
    throw Error(ErrorKind::BadFile, src + ": header length " + std::to_string(header_len) +
                                        " is over the 100 MB limit");
  if (header_len > bytes.size() - 8)
    throw Error(ErrorKind::BadFile, src + ": header length " + std::to_string(header_len) +
                                        " runs past the end of the " +
                                        std::to_string(bytes.size()) + "-byte file");
  const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  const json header = parse_header(std::string_view(header_begin, header_len), src);
  const std::span<const uint8_t> data = bytes.subspan(8 + header_len);

  for (const auto& [name, entry] : header.items()) {
    const std::string what = src + ": tensor '" + name + "'";
    if (name == "__metadata__") {
      if (!entry.is_object())
        throw Error(ErrorKind::BadFile, src + ": __metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string())
          throw Error(ErrorKind::BadFile,
                      src + ": __metadata__ value '" + key + "' is not a string");
        f.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) throw Error(ErrorKind::BadFile, what + ": entry is not an object");
    const auto dtype_it = entry.find("dtype");
    const auto shape_it = entry.find("shape");
    const auto offsets_it = entry.find("data_offsets");
    if (dtype_it == entry.end() || !dtype_it->is_string())
      throw Error(ErrorKind::BadFile, what + ": 'dtype' is missing or not a string");
    if (shape_it == entry.end() || !shape_it->is_array())
      throw Error(ErrorKind::BadFile, what + ": 'shape' is missing or not an array");
    uint64_t begin = 0, end = 0;
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
        !json_uint((*offsets_it)[0], begin) || !json_uint((*offsets_it)[1], end))
      throw Error(ErrorKind::BadFile, what + ": 'data_offsets' must be two non-negative integers");

    SafetensorsTensor t;
    t.name = name;
    t.source = src;
    t.dtype = dtype_it->get<std::string>();
    const Dtype* dtype = find_dtype(t.dtype);
    if (!dtype) throw Error(ErrorKind::Unsupported, what + " has unknown dtype '" + t.dtype + "'");
    t.type = dtype->type;
    if (shape_it->size() > kMaxDims)
      throw Error(ErrorKind::BadFile, what + " has " + std::to_string(shape_it->size()) +
                                          " dimensions (at most " + std::to_string(kMaxDims) + ")");
    uint64_t n = 1;
    for (const json& dim : *shape_it) {
      uint64_t d = 0;
      if (!json_uint(dim, d))
        throw Error(ErrorKind::BadFile, what + ": shape holds a non-integer or negative");
      if (d != 0 && n > UINT64_MAX / d)
        throw Error(ErrorKind::BadFile, what + ": shape's element count overflows");
      n *= d;
      t.shape.push_back(d);
    }
    t.n_elements = n;
    if (begin > end)
      throw Error(ErrorKind::BadFile, what + ": data range [" + std::to_string(begin) + ", " +
                                          std::to_string(end) + ") is reversed");
    if (end > data.size())
      throw Error(ErrorKind::BadFile, what + ": data range [" + std::to_string(begin) + ", " +
                                          std::to_string(end) + ") runs past the " +
                                          std::to_string(data.size()) + "-byte data section");
    if (n > UINT64_MAX / dtype->bytes || n * dtype->bytes != end - begin)
      throw Error(ErrorKind::BadFile, what + ": shape holds " + std::to_string(n) + " " + t.dtype +
                                          " elements but " + "its data range has " +
                                          std::to_string(end - begin) + " bytes");
    t.data = data.subspan(begin, end - begin);
    f.tensors_.push_back(std::move(t));
  }

  // Ranges must tile the data section: no overlap (two tensors sharing bytes) and no hole (bytes
  // no tensor owns, which the specification forbids).
  std::sort(f.tensors_.begin(), f.tensors_.end(), [&](const auto& a, const auto& b) {
    if (a.data.data() != b.data.data()) return a.data.data() < b.data.data();
    return a.data.size() != b.data.size() ? a.data.size() < b.data.size() : a.name < b.name;
  });
  uint64_t expected = 0;
  const SafetensorsTensor* previous = nullptr;
  for (const SafetensorsTensor& t : f.tensors_) {
    const uint64_t begin = uint64_t(t.data.data() - data.data());
    if (begin < expected)
      throw Error(ErrorKind::BadFile,
                  src + ": tensor '" + t.name + "' overlaps tensor '" + previous->name + "'");
    if (begin > expected)
      throw Error(ErrorKind::BadFile, src + ": data bytes " + std::to_string(expected) + ".." +
                                          std::to_string(begin) + " before tensor '" + t.name +
                                          "' belong to no tensor");
    expected = begin + t.data.size();
    previous = &t;
  }
  if (expected != data.size())
    throw Error(ErrorKind::BadFile, src + ": the last " + std::to_string(data.size() - expected) +
                                        " bytes of the data section belong to no tensor");
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_.emplace(f.tensors_[i].name, i);
  return f;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace minillm
