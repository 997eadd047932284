// The one exception type the library throws. Every failure caused by input (a malformed file,
// a bad argument, a context overflow) is reported as a minillm::Error with a message that says
// what is wrong and where; the library never exits or aborts on bad input.
#pragma once

#include <stdexcept>
#include <string>

namespace minillm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace minillm
