// Opens a GGUF file with the installed minillm library and prints its tensor count.
#include <cstdio>
#include <exception>

#include <minillm/gguf.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer FILE.gguf\n");
    return 1;
  }
  try {
    const minillm::GGUFFile file = minillm::GGUFFile::open(argv[1]);
    std::printf("%zu\n", file.tensors().size());
  } catch (const minillm::Error& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
  return 0;
}
