#include "formats/gguf_file_type.h"

namespace minillm {

std::optional<uint32_t> gguf_file_type(TensorType main_type, bool k_medium_mix) {
  using enum TensorType;
  if (k_medium_mix) {
    switch (main_type) {
      case Q3_K:
        return 12;
      case Q4_K:
        return 15;
      case Q5_K:
        return 17;
      default:
        return std::nullopt;
    }
  }
  switch (main_type) {
    case F32:
      return 0;
    case F16:
      return 1;
    case Q4_0:
      return 2;
    case Q4_1:
      return 3;
    case Q8_0:
      return 7;
    case Q5_0:
      return 8;
    case Q5_1:
      return 9;
    case Q2_K:
      return 10;
    case Q3_K:
      return 11;
    case Q4_K:
      return 14;
    case Q5_K:
      return 16;
    case Q6_K:
      return 18;
    case IQ4_NL:
      return 25;
    case IQ4_XS:
      return 30;
    case BF16:
      return 32;
    default:
      return std::nullopt;
  }
}

}  // namespace minillm
