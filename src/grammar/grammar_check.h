// Checks that make a compiled grammar safe to match: every rule reachable from the start rule can
// finish (produces some finite text), and no rule calls itself at its own left edge (which would
// grow the matcher's stack forever without reading a character). Throws Error naming the rule.
#pragma once

#include "grammar/grammar_rules.h"

namespace minillm::grammar {

void check_grammar(const Grammar::Impl& grammar);

}  // namespace minillm::grammar
