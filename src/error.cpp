#include "minillm/error.h"

namespace minillm {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument:
      return "invalid argument";
    case ErrorKind::BadFile:
      return "bad file";
    case ErrorKind::Unsupported:
      return "unsupported";
    case ErrorKind::ContextFull:
      return "context full";
    case ErrorKind::Cancelled:
      return "cancelled";
    case ErrorKind::OutOfMemory:
      return "out of memory";
    case ErrorKind::Internal:
      return "internal";
  }
  return "unknown";
}

}  // namespace minillm
