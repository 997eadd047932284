#include "commands.h"
namespace minillm::cli {
void add_logits_command(CLI::App&) {}
}  // namespace minillm::cli
