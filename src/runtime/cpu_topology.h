// How many cores the machine has (the default thread count).
#pragma once

namespace minillm {

// Physical cores available to this process (SMT siblings counted once); at least 1.
int physical_core_count();

}  // namespace minillm
