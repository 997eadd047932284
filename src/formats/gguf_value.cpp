// GGUF metadata values: type names, checked conversions, equality.
#include <cstring>
#include <limits>
#include <string>

#include "minillm/gguf.h"

namespace minillm {

std::string_view gguf_type_name(GGUFType type) {
  switch (type) {
    case GGUFType::UINT8:
      return "UINT8";
    case GGUFType::INT8:
      return "INT8";
    case GGUFType::UINT16:
      return "UINT16";
    case GGUFType::INT16:
      return "INT16";
    case GGUFType::UINT32:
      return "UINT32";
    case GGUFType::INT32:
      return "INT32";
    case GGUFType::FLOAT32:
      return "FLOAT32";
    case GGUFType::BOOL:
      return "BOOL";
    case GGUFType::STRING:
      return "STRING";
    case GGUFType::ARRAY:
      return "ARRAY";
    case GGUFType::UINT64:
      return "UINT64";
    case GGUFType::INT64:
      return "INT64";
    case GGUFType::FLOAT64:
      return "FLOAT64";
  }
  return "UNKNOWN";
}

namespace {
std::string describe(const GGUFValue& v) {
  std::string s(gguf_type_name(v.type()));
  if (v.is_array()) s += " of " + std::string(gguf_type_name(v.array().element_type));
  return s;
}
}  // namespace

void throw_gguf_type_mismatch(std::string_view what, GGUFType expected, const GGUFValue& found) {
  throw Error(ErrorKind::BadFile, "metadata '" + std::string(what) + "': expected " +
                                      std::string(gguf_type_name(expected)) + ", found " +
                                      describe(found));
}

GGUFValue GGUFValue::array(GGUFType element_type, std::vector<GGUFValue> items) {
  for (const GGUFValue& v : items)
    if (v.type() != element_type)
      throw Error(
          ErrorKind::InvalidArgument,
          "GGUF array of " + std::string(gguf_type_name(element_type)) + " holds a " + describe(v));
  GGUFValue out;
  out.storage_ = Array{element_type, std::move(items)};
  return out;
}

GGUFValue GGUFValue::string_array(const std::vector<std::string>& items) {
  return array_of(items);
}

const GGUFValue::Array& GGUFValue::array() const {
  if (const Array* a = std::get_if<Array>(&storage_)) return *a;
  throw_gguf_type_mismatch("value", GGUFType::ARRAY, *this);
}

uint64_t GGUFValue::as_uint(std::string_view what) const {
  return std::visit(
      [&](const auto& v) -> uint64_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_signed_v<T>) {
            if (v < 0)
              throw Error(ErrorKind::BadFile, "metadata '" + std::string(what) +
                                                  "': negative value " + std::to_string(v) +
                                                  " where a count was expected");
          }
          return static_cast<uint64_t>(v);
        } else {
          throw_gguf_type_mismatch(what, GGUFType::UINT32, *this);
        }
      },
      storage_);
}

int64_t GGUFValue::as_int(std::string_view what) const {
  return std::visit(
      [&](const auto& v) -> int64_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_same_v<T, uint64_t>) {
            if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
              throw Error(ErrorKind::BadFile,
                          "metadata '" + std::string(what) + "': value out of range");
          }
          return static_cast<int64_t>(v);
        } else {
          throw_gguf_type_mismatch(what, GGUFType::INT32, *this);
        }
      },
      storage_);
}

double GGUFValue::as_float(std::string_view what) const {
  if (const float* f = std::get_if<float>(&storage_)) return *f;
  if (const double* d = std::get_if<double>(&storage_)) return *d;
  throw_gguf_type_mismatch(what, GGUFType::FLOAT32, *this);
}

bool operator==(const GGUFValue& a, const GGUFValue& b) {
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    const auto& x = a.array();
    const auto& y = b.array();
    if (x.element_type != y.element_type || x.items.size() != y.items.size()) return false;
    for (size_t i = 0; i < x.items.size(); ++i)
      if (!(x.items[i] == y.items[i])) return false;
    return true;
  }
  return std::visit(
      [&](const auto& va) {
        using T = std::decay_t<decltype(va)>;
        if constexpr (std::is_same_v<T, GGUFValue::Array>) {
          return false;  // handled above
        } else if constexpr (std::is_floating_point_v<T>) {
          // Bitwise, so that NaN payloads and -0.0 round-trip exactly.
          const T vb = std::get<T>(b.storage());
          return std::memcmp(&va, &vb, sizeof(T)) == 0;
        } else {
          return va == std::get<T>(b.storage());
        }
      },
      a.storage());
}

}  // namespace minillm
