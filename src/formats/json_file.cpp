#include "formats/json_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>

#include "minillm/error.h"

namespace minillm {

nlohmann::json read_json_file(const std::filesystem::path& path, uint64_t max_bytes) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorKind::BadFile, "cannot read '" + path.string() + "': " + ec.message());
  if (size > max_bytes)
    throw Error(ErrorKind::BadFile, path.string() + ": " + std::to_string(size) +
                                        " bytes is more than the " + std::to_string(max_bytes) +
                                        "-byte limit for a JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::BadFile, "cannot open '" + path.string() + "': " + std::strerror(errno));
  std::string text(size, '\0');
  in.read(text.data(), std::streamsize(size));
  if (in.gcount() != std::streamsize(size))
    throw Error(ErrorKind::BadFile,
                "cannot read '" + path.string() + "' (it changed while being read)");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::BadFile, path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

}  // namespace minillm
