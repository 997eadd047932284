// GGUF reader. Every size, count and offset read from the file is checked against the bytes that
// remain before it is used, so a hostile file produces an Error, never a crash or a huge
// allocation.
#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "minillm/gguf.h"
#include "runtime/mapped_file.h"

namespace minillm {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kMaxDims = 4;         // ggml tensors have at most 4 dimensions
constexpr int kMaxArrayNesting = 8;      // deeper nesting is never used; bounds the recursion
constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;

// Smallest encoding of one element of each metadata type: lets us reject a count that cannot fit
// in the remaining bytes before allocating anything for it.
uint64_t min_encoded_size(GGUFType t) {
  switch (t) {
    case GGUFType::UINT8:
    case GGUFType::INT8:
    case GGUFType::BOOL:
      return 1;
    case GGUFType::UINT16:
    case GGUFType::INT16:
      return 2;
    case GGUFType::UINT32:
    case GGUFType::INT32:
    case GGUFType::FLOAT32:
      return 4;
    case GGUFType::UINT64:
    case GGUFType::INT64:
    case GGUFType::FLOAT64:
    case GGUFType::STRING:
      return 8;  // the length prefix
    case GGUFType::ARRAY:
      return 12;  // element type + count
  }
  return 1;
}

class Cursor {
 public:
  Cursor(std::span<const uint8_t> bytes, const std::string& source)
      : bytes_(bytes), source_(source) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  [[noreturn]] void fail(const std::string& what, uint64_t at,
                         ErrorKind kind = ErrorKind::BadFile) const {
    throw Error(kind,
                source_ + ": invalid GGUF: " + what + " (at offset " + std::to_string(at) + ")");
  }
  [[noreturn]] void fail(const std::string& what) const { fail(what, pos_); }

  void need(uint64_t n, const char* what) const {
    if (n > remaining())
      fail(std::string("file truncated while reading ") + what + " (needs " + std::to_string(n) +
           " bytes, " + std::to_string(remaining()) + " left)");
  }

  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    const uint64_t at = pos_;
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      fail(std::string(what) + ": string length " + std::to_string(len) +
               " runs past the end of the file (" + std::to_string(remaining()) + " bytes left)",
           at);
    if (len > kMaxStringBytes)
      fail(std::string(what) + ": string length " + std::to_string(len) + " is over the limit of " +
               std::to_string(kMaxStringBytes) + " bytes",
           at);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& source_;
  uint64_t pos_ = 0;
};

GGUFType read_type(Cursor& c, const char* what) {
  const uint64_t at = c.offset();
  const uint32_t raw = c.read<uint32_t>(what);
  if (raw > static_cast<uint32_t>(GGUFType::FLOAT64))
    c.fail(std::string("unknown metadata value type ") + std::to_string(raw) + " in " + what, at);
  return static_cast<GGUFType>(raw);
}

GGUFValue read_value(Cursor& c, GGUFType type, int depth) {
  switch (type) {
    case GGUFType::UINT8:
      return c.read<uint8_t>("UINT8 value");
    case GGUFType::INT8:
      return c.read<int8_t>("INT8 value");
    case GGUFType::UINT16:
      return c.read<uint16_t>("UINT16 value");
    case GGUFType::INT16:
      return c.read<int16_t>("INT16 value");
    case GGUFType::UINT32:
      return c.read<uint32_t>("UINT32 value");
    case GGUFType::INT32:
      return c.read<int32_t>("INT32 value");
    case GGUFType::FLOAT32:
      return c.read<float>("FLOAT32 value");
    case GGUFType::UINT64:
      return c.read<uint64_t>("UINT64 value");
    case GGUFType::INT64:
      return c.read<int64_t>("INT64 value");
    case GGUFType::FLOAT64:
      return c.read<double>("FLOAT64 value");
    case GGUFType::BOOL: {
      const uint64_t at = c.offset();
      const uint8_t b = c.read<uint8_t>("BOOL value");
      if (b > 1) c.fail("BOOL value " + std::to_string(b) + " is neither 0 nor 1", at);
      return b == 1;
    }
    case GGUFType::STRING:
      return c.read_string("string value");
    case GGUFType::ARRAY: {
      if (depth >= kMaxArrayNesting) c.fail("arrays nested too deeply");
      const GGUFType elem = read_type(c, "array element type");
      const uint64_t at = c.offset();
      const uint64_t count = c.read<uint64_t>("array length");
      if (count > c.remaining() / min_encoded_size(elem))
        c.fail("array length " + std::to_string(count) + " runs past the end of the file (" +
                   std::to_string(c.remaining()) + " bytes left)",
               at);
      std::vector<GGUFValue> items;
      items.reserve(count);
      for (uint64_t i = 0; i < count; ++i) items.push_back(read_value(c, elem, depth + 1));
      return GGUFValue::array(elem, std::move(items));
    }
  }
  c.fail("unknown metadata value type");
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

GGUFFile GGUFFile::open(const std::filesystem::path& path) {
  auto mapping = MappedFile::open(path);
  const auto bytes = mapping->bytes();
  return parse(std::shared_ptr<const void>(mapping, mapping.get()), bytes, path.string());
}

GGUFFile GGUFFile::parse_copy(std::span<const uint8_t> bytes, std::string source_name) {
  auto copy = std::make_shared<std::vector<uint8_t>>(bytes.begin(), bytes.end());
  const std::span<const uint8_t> view(copy->data(), copy->size());
  return parse(std::shared_ptr<const void>(copy, copy.get()), view, std::move(source_name));
}

GGUFFile GGUFFile::parse(std::shared_ptr<const void> owner, std::span<const uint8_t> bytes,
                         std::string source_name) {
  GGUFFile f;
  f.owner_ = std::move(owner);
  f.bytes_ = bytes;
  f.source_name_ = std::move(source_name);
  Cursor c(bytes, f.source_name_);

  // Header.
  if (bytes.size() < 4 || c.read<uint32_t>("magic") != kMagic)
    c.fail("bad magic (not a GGUF file)", 0);
  f.version_ = c.read<uint32_t>("version");
  if (f.version_ != 2 && f.version_ != 3) {
    std::string why = "unsupported version " + std::to_string(f.version_);
    if (f.version_ == 1) why += " (GGUF v1 is obsolete; reconvert the model)";
    if ((f.version_ & 0xFFFF) == 0 && f.version_ != 0) why += " (a big-endian file?)";
    c.fail(why + "; versions 2 and 3 are supported", 4, ErrorKind::Unsupported);
  }
  const uint64_t count_at = c.offset();
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key/value pair takes at least 8 (key length) + 4 (type) + 1 bytes, a tensor info at least
  // 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
  if (n_kv > c.remaining() / 13)
    c.fail("metadata count " + std::to_string(n_kv) + " runs past the end of the file (" +
               std::to_string(c.remaining()) + " bytes left)",
           count_at + 8);
  if (n_tensors > c.remaining() / 24)
    c.fail("tensor count " + std::to_string(n_tensors) + " runs past the end of the file (" +
               std::to_string(c.remaining()) + " bytes left)",
           count_at);

  // Metadata.
  f.metadata_.reserve(n_kv);
  std::unordered_set<std::string> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    const uint64_t at = c.offset();
    std::string key = c.read_string("metadata key");
    if (key.empty()) c.fail("empty metadata key", at);
    if (!keys.insert(key).second) c.fail("duplicate metadata key '" + key + "'", at);
    const GGUFType type = read_type(c, "metadata value type");
    GGUFValue value;
    try {
      value = read_value(c, type, 0);
    } catch (const Error& e) {
      throw Error(e.kind(), std::string(e.what()) + " in metadata '" + key + "'");
    }
    f.metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const GGUFValue* a = f.find("general.alignment")) {
    if (a->type() != GGUFType::UINT32)
      c.fail("general.alignment must be UINT32, not " + std::string(gguf_type_name(a->type())), 0);
    const uint64_t align = a->as<uint32_t>("general.alignment");
    if (align == 0 || (align & (align - 1)) != 0)
      c.fail("general.alignment " + std::to_string(align) + " is not a power of two", 0);
    f.alignment_ = align;
  }

  // Tensor infos.
  f.tensors_.reserve(n_tensors);
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const uint64_t at = c.offset();
    GGUFTensorInfo t;
    t.name = c.read_string("tensor name");
    if (t.name.empty()) c.fail("tensor " + std::to_string(i) + " has an empty name", at);
    if (!names.insert(t.name).second) c.fail("duplicate tensor name '" + t.name + "'", at);
    const std::string where = "tensor '" + t.name + "'";
    const uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      c.fail(where + " has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)", at);
    t.n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = c.read<uint64_t>("tensor dimension");
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        c.fail(where + " has invalid dimension " + std::to_string(dim), at);
      if (mul_overflows(t.n_elements, dim, &t.n_elements))
        c.fail(where + ": the product of its dimensions overflows", at);
      t.shape.push_back(dim);
    }
    const uint32_t type_id = c.read<uint32_t>("tensor type");
    const auto tt = tensor_type_traits(type_id);
    // Most likely a ggml type newer than this reader, not corruption.
    if (!tt)
      c.fail(where + " has unknown type id " + std::to_string(type_id), at, ErrorKind::Unsupported);
    t.type = static_cast<TensorType>(type_id);
    if (t.shape[0] % tt->block_size != 0)
      c.fail(where + ": row length " + std::to_string(t.shape[0]) + " is not a multiple of the " +
                 std::string(tt->name) + " block size " + std::to_string(tt->block_size),
             at);
    if (mul_overflows(t.n_elements / tt->block_size, tt->block_bytes, &t.n_bytes))
      c.fail(where + ": byte size overflows", at);
    t.offset = c.read<uint64_t>("tensor data offset");
    if (t.offset % f.alignment_ != 0)
      c.fail(where + ": data offset " + std::to_string(t.offset) +
                 " is not a multiple of the alignment " + std::to_string(f.alignment_),
             at);
    f.tensors_.push_back(std::move(t));
  }

  // Data section: starts at the next multiple of the alignment.
  const uint64_t end_of_infos = c.offset();
  f.data_offset_ = (end_of_infos + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  const uint64_t file_size = bytes.size();
  const uint64_t data_size = f.data_offset_ <= file_size ? file_size - f.data_offset_ : 0;
  for (GGUFTensorInfo& t : f.tensors_) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset)
      c.fail("tensor '" + t.name + "': data [" + std::to_string(t.offset) + ", +" +
                 std::to_string(t.n_bytes) + ") lies outside the " + std::to_string(data_size) +
                 "-byte data section",
             f.data_offset_ + std::min(t.offset, data_size));
    t.data = bytes.subspan(f.data_offset_ + t.offset, t.n_bytes);
  }
  // No two tensors may share bytes.
  std::vector<const GGUFTensorInfo*> by_offset;
  by_offset.reserve(f.tensors_.size());
  for (const GGUFTensorInfo& t : f.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GGUFTensorInfo& prev = *by_offset[i - 1];
    const GGUFTensorInfo& cur = *by_offset[i];
    if (cur.offset < prev.offset + prev.n_bytes)
      c.fail("tensors '" + prev.name + "' and '" + cur.name + "' overlap",
             f.data_offset_ + cur.offset);
  }
  return f;
}

const GGUFValue* GGUFFile::find(std::string_view key) const {
  for (const auto& [k, v] : metadata_)
    if (k == key) return &v;
  return nullptr;
}

const GGUFValue& GGUFFile::at(std::string_view key) const {
  if (const GGUFValue* v = find(key)) return *v;
  throw Error(ErrorKind::BadFile,
              source_name_ + ": missing metadata key '" + std::string(key) + "'");
}

const GGUFTensorInfo* GGUFFile::find_tensor(std::string_view name) const {
  for (const GGUFTensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace minillm
