// Reading a whole file given on the command line (a prompt, a template, a saved chat).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include "minillm/error.h"

namespace minillm::cli {

// The file's bytes; throws Error naming it when it cannot be read.
inline std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace minillm::cli
