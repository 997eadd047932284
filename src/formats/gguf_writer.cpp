// GGUF v3 writer. Layout, all little-endian (GGUF specification, "File Structure"):
//   magic "GGUF" | version u32 = 3 | tensor count u64 | metadata count u64
//   metadata: key (u64 length + bytes) | value type u32 | value
//             (arrays: element type u32 | count u64 | elements)
//   tensor infos: name (u64 length + bytes) | n_dims u32 | dims u64[n_dims] | type u32 | offset u64
//   zero padding to the alignment | tensor data, each tensor at an aligned offset, zero padded.
// Every input is checked when it is added, so write() only fails on I/O errors.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include "minillm/gguf.h"

namespace minillm {
namespace {

constexpr uint32_t kVersion = 3;
constexpr uint32_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;
// ggml stores tensor names in a 64-byte buffer including the terminating NUL.
constexpr size_t kMaxTensorName = 63;
constexpr size_t kMaxKeyBytes = 65535;  // the specification limits keys to 2^16 - 1 bytes
constexpr int kMaxArrayNesting = 8;     // as deep as the reader accepts
constexpr char kAlignmentKey[] = "general.alignment";

uint64_t align_up(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

// Appends little-endian encodings to a byte vector.
class Encoder {
 public:
  explicit Encoder(std::vector<uint8_t>& out) : out_(out) {}

  template <class T>
  void put(T value) {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    const U u = static_cast<U>(value);
    for (size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<uint8_t>(u >> (8 * i)));
  }
  void put_f32(float v) { put(std::bit_cast<uint32_t>(v)); }
  void put_f64(double v) { put(std::bit_cast<uint64_t>(v)); }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void pad_to(uint64_t alignment) { out_.resize(align_up(out_.size(), alignment), 0); }

  void put_value(const GGUFValue& v, const std::string& key, int depth) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, bool>) {
            put<uint8_t>(x ? 1 : 0);
          } else if constexpr (std::is_same_v<T, float>) {
            put_f32(x);
          } else if constexpr (std::is_same_v<T, double>) {
            put_f64(x);
          } else if constexpr (std::is_same_v<T, std::string>) {
            put_string(x);
          } else if constexpr (std::is_same_v<T, GGUFValue::Array>) {
            if (depth >= kMaxArrayNesting)
              throw Error(ErrorKind::InvalidArgument,
                          "GGUF writer: metadata '" + key + "': arrays nested more than " +
                              std::to_string(kMaxArrayNesting) + " deep");
            put<uint32_t>(static_cast<uint32_t>(x.element_type));
            put<uint64_t>(x.items.size());
            for (const GGUFValue& item : x.items) {
              if (item.type() != x.element_type)
                throw Error(ErrorKind::InvalidArgument,
                            "GGUF writer: metadata '" + key + "': array of " +
                                std::string(gguf_type_name(x.element_type)) + " holds a " +
                                std::string(gguf_type_name(item.type())));
              put_value(item, key, depth + 1);
            }
          } else {
            put(x);
          }
        },
        v.storage());
  }

 private:
  std::vector<uint8_t>& out_;
};

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Writes all of `bytes` to `fd`, retrying short writes.
void write_all(int fd, const uint8_t* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorKind::BadFile, "cannot write '" + path + "': " + std::strerror(errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

GGUFWriter::GGUFWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw Error(ErrorKind::InvalidArgument,
                "GGUF writer: alignment " + std::to_string(alignment) + " is not a power of two");
  // Readers use 32 unless the file says otherwise.
  if (alignment != kDefaultAlignment) metadata_.emplace_back(kAlignmentKey, GGUFValue(alignment));
}

void GGUFWriter::set(std::string key, GGUFValue value) {
  if (key.empty()) throw Error(ErrorKind::InvalidArgument, "GGUF writer: empty metadata key");
  if (key.size() > kMaxKeyBytes)
    throw Error(ErrorKind::InvalidArgument,
                "GGUF writer: metadata key of " + std::to_string(key.size()) +
                    " bytes is longer than the " + std::to_string(kMaxKeyBytes) + " allowed");
  if (key == kAlignmentKey &&
      (value.type() != GGUFType::UINT32 || value.as<uint32_t>() != alignment_))
    throw Error(ErrorKind::InvalidArgument, "GGUF writer: general.alignment must be the UINT32 " +
                                                std::to_string(alignment_) +
                                                " this writer was created with");
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

uint64_t GGUFWriter::checked_size(const std::string& name, TensorType type,
                                  const std::vector<uint64_t>& shape) const {
  if (name.empty())
    throw Error(ErrorKind::InvalidArgument, "GGUF writer: tensor with an empty name");
  const std::string where = "GGUF writer: tensor '" + name + "'";
  if (name.size() > kMaxTensorName)
    throw Error(ErrorKind::InvalidArgument,
                where + ": name is longer than " + std::to_string(kMaxTensorName) + " bytes");
  for (const PendingTensor& t : tensors_)
    if (t.name == name) throw Error(ErrorKind::InvalidArgument, where + " added twice");
  const auto tt = tensor_type_traits(static_cast<uint32_t>(type));
  if (!tt)
    throw Error(ErrorKind::Unsupported,
                where + ": unknown type id " + std::to_string(static_cast<uint32_t>(type)));
  if (shape.empty() || shape.size() > kMaxDims)
    throw Error(ErrorKind::InvalidArgument, where + " has " + std::to_string(shape.size()) +
                                                " dimensions (1 to " + std::to_string(kMaxDims) +
                                                " allowed)");
  uint64_t rows = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0 || shape[d] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw Error(ErrorKind::InvalidArgument, where + ": invalid dimension " +
                                                  std::to_string(shape[d]) + " in shape " +
                                                  shape_text(shape));
    if (d > 0 && __builtin_mul_overflow(rows, shape[d], &rows))
      throw Error(ErrorKind::InvalidArgument,
                  where + ": shape " + shape_text(shape) + " has too many elements");
  }
  if (shape[0] % tt->block_size != 0)
    throw Error(ErrorKind::InvalidArgument,
                where + ": row length " + std::to_string(shape[0]) + " is not a multiple of the " +
                    std::string(tt->name) + " block size " + std::to_string(tt->block_size));
  // Bytes: whole blocks per row (row_bytes), times the rows; checked for overflow.
  uint64_t n_elements = 0, n_bytes = 0;
  if (__builtin_mul_overflow(rows, shape[0], &n_elements) ||
      __builtin_mul_overflow(shape[0] / tt->block_size, tt->block_bytes, &n_bytes) ||
      __builtin_mul_overflow(rows, n_bytes, &n_bytes))
    throw Error(ErrorKind::InvalidArgument,
                where + ": shape " + shape_text(shape) + " has too many elements");
  return n_bytes;
}

void GGUFWriter::add_tensor_view(std::string name, TensorType type, std::vector<uint64_t> shape,
                                 std::span<const uint8_t> data) {
  const uint64_t n_bytes = checked_size(name, type, shape);
  if (n_bytes != data.size())
    throw Error(ErrorKind::InvalidArgument,
                "GGUF writer: tensor '" + name + "': shape " + shape_text(shape) + " of " +
                    std::string(tensor_type_traits(static_cast<uint32_t>(type))->name) + " takes " +
                    std::to_string(n_bytes) + " bytes, but " + std::to_string(data.size()) +
                    " were given");
  tensors_.push_back({std::move(name), type, std::move(shape), n_bytes, data, nullptr, {}});
}

void GGUFWriter::add_tensor(std::string name, TensorType type, std::vector<uint64_t> shape,
                            std::vector<uint8_t> data) {
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(data));
  add_tensor_view(std::move(name), type, std::move(shape), {owned->data(), owned->size()});
  tensors_.back().owned = std::move(owned);
}

void GGUFWriter::add_tensor_later(std::string name, TensorType type, std::vector<uint64_t> shape,
                                  MakeBytes make) {
  if (!make)
    throw Error(ErrorKind::InvalidArgument,
                "GGUF writer: tensor '" + name + "' has nothing to make its bytes");
  const uint64_t n_bytes = checked_size(name, type, shape);
  tensors_.push_back(
      {std::move(name), type, std::move(shape), n_bytes, {}, nullptr, std::move(make)});
}

void GGUFWriter::for_each_tensor_bytes(
    const std::function<void(std::span<const uint8_t>)>& f) const {
  for (const PendingTensor& t : tensors_) {
    if (!t.make) {
      f(t.data);
      continue;
    }
    const std::vector<uint8_t> bytes = t.make();
    if (bytes.size() != t.size)
      throw Error(ErrorKind::InvalidArgument,
                  "GGUF writer: tensor '" + t.name + "' was made with " +
                      std::to_string(bytes.size()) + " bytes, not the " + std::to_string(t.size) +
                      " its shape takes");
    f(bytes);
  }
}

std::vector<uint8_t> GGUFWriter::header_bytes() const {
  std::vector<uint8_t> out;
  Encoder e(out);
  e.put<uint32_t>(0x46554747);  // "GGUF": the bytes 47 47 55 46
  e.put<uint32_t>(kVersion);
  e.put<uint64_t>(tensors_.size());
  e.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    e.put_string(key);
    e.put<uint32_t>(static_cast<uint32_t>(value.type()));
    e.put_value(value, key, 0);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    e.put_string(t.name);
    e.put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (uint64_t d : t.shape) e.put<uint64_t>(d);
    e.put<uint32_t>(static_cast<uint32_t>(t.type));
    e.put<uint64_t>(offset);
    offset = align_up(offset + t.size, alignment_);
  }
  e.pad_to(alignment_);
  return out;
}

std::vector<uint8_t> GGUFWriter::to_bytes() const {
  std::vector<uint8_t> out = header_bytes();
  for_each_tensor_bytes([&](std::span<const uint8_t> data) {
    out.insert(out.end(), data.begin(), data.end());
    out.resize(align_up(out.size(), alignment_), 0);
  });
  return out;
}

void GGUFWriter::write(const std::filesystem::path& path) const {
  const std::vector<uint8_t> header = header_bytes();
  // A temporary file beside the target, so that rename() replaces the target atomically.
  static std::atomic<unsigned> counter{0};
  std::string tmp_name = path.filename().string();
  tmp_name.insert(tmp_name.begin(), '.');
  tmp_name += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const std::filesystem::path tmp = path.parent_path() / tmp_name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0)
    throw Error(ErrorKind::BadFile, "cannot create '" + tmp.string() + "' to write '" +
                                        path.string() + "': " + std::strerror(errno));
  try {
    write_all(fd, header.data(), header.size(), tmp.string());
    static const uint8_t zeros[256] = {};
    for_each_tensor_bytes([&](std::span<const uint8_t> data) {
      write_all(fd, data.data(), data.size(), tmp.string());
      for (uint64_t pad = align_up(data.size(), alignment_) - data.size(); pad > 0;) {
        const size_t n = pad < sizeof(zeros) ? pad : sizeof(zeros);
        write_all(fd, zeros, n, tmp.string());
        pad -= n;
      }
    });
    if (::fsync(fd) != 0)
      throw Error(ErrorKind::BadFile,
                  "cannot write '" + tmp.string() + "': " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorKind::BadFile, "cannot write '" + tmp.string() + "': " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorKind::BadFile, "cannot rename '" + tmp.string() + "' to '" + path.string() +
                                        "': " + std::strerror(err));
  }
}

}  // namespace minillm
