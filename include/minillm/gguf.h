// GGUF files: a memory-mapped reader that never trusts the file, and a writer.
//
//   auto file = minillm::GGUFFile::open("model.gguf");
//   uint32_t n_layer = file.get<uint32_t>("llama.block_count");
//   for (const auto& t : file.tensors()) use(t.name, t.type, t.shape, t.data);
//
// Layout (GGUF v2/v3, little-endian): magic "GGUF", version u32, tensor count u64, metadata count
// u64, metadata key/value pairs, tensor infos, padding to `general.alignment`, tensor data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "minillm/error.h"
#include "minillm/tensor_type.h"

namespace minillm {

// Metadata value types, numbered as in the file.
enum class GGUFType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};
std::string_view gguf_type_name(GGUFType type);

// One metadata value: a scalar, a string, or an array of values of one type.
class GGUFValue {
 public:
  struct Array {
    GGUFType element_type = GGUFType::UINT8;
    std::vector<GGUFValue> items;  // every item has type element_type
  };
  // The variant's index equals the GGUFType number, so type() is just index().
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, Array, uint64_t, int64_t, double>;

  GGUFValue() = default;
  // clang-format 14 misplaces C++20 requires-clauses:
  // clang-format off
  template <class T>
    requires std::is_constructible_v<Storage, T>
  GGUFValue(T value) : storage_(std::move(value)) {}
  // clang-format on
  GGUFValue(const char* text) : storage_(std::string(text)) {}
  static GGUFValue array(GGUFType element_type, std::vector<GGUFValue> items);
  static GGUFValue string_array(const std::vector<std::string>& items);
  template <class T>
  static GGUFValue array_of(const std::vector<T>& items);

  GGUFType type() const { return static_cast<GGUFType>(storage_.index()); }
  const Storage& storage() const { return storage_; }
  bool is_array() const { return type() == GGUFType::ARRAY; }
  const Array& array() const;  // throws unless is_array()

  // Exact-type access: throws an Error naming `what` and both types when they differ.
  template <class T>
  const T& as(std::string_view what = "value") const;
  // Any integer type whose value fits; throws otherwise.
  uint64_t as_uint(std::string_view what = "value") const;
  int64_t as_int(std::string_view what = "value") const;
  // FLOAT32 or FLOAT64.
  double as_float(std::string_view what = "value") const;
  // An array whose elements all have type T.
  template <class T>
  std::vector<T> as_vector(std::string_view what = "value") const;

  friend bool operator==(const GGUFValue& a, const GGUFValue& b);

 private:
  Storage storage_;
};

// clang-format 14 splits the immediately invoked template lambda:
// clang-format off
template <class T>
constexpr GGUFType gguf_type_of() {
  using Storage = GGUFValue::Storage;
  constexpr auto index = []<size_t... I>(std::index_sequence<I...>) {
    size_t found = 0;
    (void)((std::is_same_v<T, std::variant_alternative_t<I, Storage>> ? (found = I, true)
                                                                      : false) ||
           ...);
    return found;
  }(std::make_index_sequence<std::variant_size_v<Storage>>());
  static_assert(std::is_same_v<T, std::variant_alternative_t<index, Storage>>,
                "not a GGUF value type");
  // clang-format on
  return static_cast<GGUFType>(index);
}

[[noreturn]] void throw_gguf_type_mismatch(std::string_view what, GGUFType expected,
                                           const GGUFValue& found);

template <class T>
const T& GGUFValue::as(std::string_view what) const {
  if (const T* p = std::get_if<T>(&storage_)) return *p;
  throw_gguf_type_mismatch(what, gguf_type_of<T>(), *this);
}

template <class T>
std::vector<T> GGUFValue::as_vector(std::string_view what) const {
  const Array& a = as<Array>(what);
  if (a.element_type != gguf_type_of<T>() && !a.items.empty())
    throw_gguf_type_mismatch(what, gguf_type_of<T>(), a.items.front());
  std::vector<T> out;
  out.reserve(a.items.size());
  for (const GGUFValue& v : a.items) out.push_back(v.as<T>(what));
  return out;
}

template <class T>
GGUFValue GGUFValue::array_of(const std::vector<T>& items) {
  std::vector<GGUFValue> values(items.begin(), items.end());
  return array(gguf_type_of<T>(), std::move(values));
}

// A tensor as described by the file; `data` views the mapped file.
struct GGUFTensorInfo {
  std::string name;
  TensorType type = TensorType::F32;
  std::vector<uint64_t> shape;    // GGUF order: shape[0] is the contiguous (row) dimension
  uint64_t offset = 0;            // from the start of the data section
  uint64_t n_elements = 0;        // product of shape
  uint64_t n_bytes = 0;           // n_elements / block_size * block_bytes
  std::span<const uint8_t> data;  // n_bytes bytes inside the file
};

class GGUFFile {
 public:
  // Memory-maps and validates the file; throws Error naming the file, field and offset on any
  // inconsistency (truncation, bad counts, tensors out of range or overlapping, ...).
  static GGUFFile open(const std::filesystem::path& path);
  // Opens a model that may be split over several files, as gguf-split writes them
  // (NAME-00001-of-0000N.gguf, keys split.no / split.count / split.tensors.count): given the
  // first part, it opens every part and merges their tensors into one table; the metadata is the
  // first part's. A file that is not split opens as with open().
  static GGUFFile open_model(const std::filesystem::path& path);
  // Parses bytes held by `owner` (kept alive as long as the GGUFFile or its tensor views).
  static GGUFFile parse(std::shared_ptr<const void> owner, std::span<const uint8_t> bytes,
                        std::string source_name = "<memory>");
  static GGUFFile parse_copy(std::span<const uint8_t> bytes, std::string source_name = "<memory>");

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // of the tensor data section
  uint64_t file_size() const { return bytes_.size(); }
  const std::string& source_name() const { return source_name_; }
  // The mapping; share it to keep tensor views alive beyond this object.
  const std::shared_ptr<const void>& owner() const { return owner_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GGUFValue>>& metadata() const { return metadata_; }
  const GGUFValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  const GGUFValue& at(std::string_view key) const;  // throws if missing

  template <class T>
  const T& get(std::string_view key) const {
    return at(key).as<T>(key);
  }
  template <class T>
  T get_or(std::string_view key, T fallback) const {
    const GGUFValue* v = find(key);
    return v ? v->as<T>(key) : fallback;
  }
  template <class T>
  std::vector<T> get_array(std::string_view key) const {
    return at(key).as_vector<T>(key);
  }
  std::vector<std::string> get_string_array(std::string_view key) const {
    return get_array<std::string>(key);
  }

  const std::vector<GGUFTensorInfo>& tensors() const { return tensors_; }
  const GGUFTensorInfo* find_tensor(std::string_view name) const;

 private:
  GGUFFile() = default;
  std::shared_ptr<const void> owner_;
  std::span<const uint8_t> bytes_;
  std::string source_name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::vector<GGUFTensorInfo> tensors_;
};

// Writes GGUF v3 files. Metadata keeps insertion order; tensors are laid out in the order added,
// each at an offset aligned to the writer's alignment and padded with zero bytes. Inputs are
// checked when they are added (throwing Error): the alignment must be a power of two, keys
// non-empty, tensor names unique and at most 63 bytes, shapes 1 to 4 non-zero dimensions whose
// row length is a multiple of the type's block size, and the data exactly row_bytes() per row.
class GGUFWriter {
 public:
  // An alignment other than 32 is recorded as the first metadata key, `general.alignment` (UINT32).
  explicit GGUFWriter(uint32_t alignment = 32);

  // Sets (or replaces, keeping its position) a metadata key. `general.alignment` may only be set
  // to the writer's own alignment.
  void set(std::string key, GGUFValue value);
  // Adds a tensor whose bytes the caller keeps alive until write() returns.
  void add_tensor_view(std::string name, TensorType type, std::vector<uint64_t> shape,
                       std::span<const uint8_t> data);
  // Adds a tensor whose bytes the writer keeps.
  void add_tensor(std::string name, TensorType type, std::vector<uint64_t> shape,
                  std::vector<uint8_t> data);
  // Adds a tensor whose bytes `make` returns when write() or to_bytes() reaches it, so that a
  // file larger than memory is written holding one tensor at a time. `make` must return exactly
  // the bytes the shape and type take (else write() throws).
  using MakeBytes = std::function<std::vector<uint8_t>()>;
  void add_tensor_later(std::string name, TensorType type, std::vector<uint64_t> shape,
                        MakeBytes make);

  void write(const std::filesystem::path& path) const;  // via a temporary file, then rename
  std::vector<uint8_t> to_bytes() const;

 private:
  std::vector<uint8_t> header_bytes() const;  // everything before the tensor data, padded
  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<uint64_t> shape;
    uint64_t size;                  // bytes
    std::span<const uint8_t> data;  // empty when `make` is set
    std::shared_ptr<std::vector<uint8_t>> owned;
    MakeBytes make;
  };
  // Checks a tensor's name, type and shape (see above); returns the bytes it takes.
  uint64_t checked_size(const std::string& name, TensorType type,
                        const std::vector<uint64_t>& shape) const;
  // Calls f(bytes) for each tensor in order; bytes of a `make` tensor live only during the call.
  void for_each_tensor_bytes(const std::function<void(std::span<const uint8_t>)>& f) const;
  uint32_t alignment_;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace minillm
