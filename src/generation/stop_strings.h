// Holds back generated text that might be the beginning of a stop string, so the caller never
// sees any part of a stop string.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace minillm {

class StopStringFilter {
 public:
  explicit StopStringFilter(std::vector<std::string> stop_strings);

  struct Output {
    std::string text;      // safe to show now
    bool matched = false;  // a stop string was found; `text` ends right before it
  };
  // Adds newly decoded text. With `final`, nothing more will come, so no text is held back.
  Output push(std::string_view text, bool final = false);

 private:
  std::vector<std::string> stops_;
  std::string held_;  // text not yet released
  bool done_ = false;
};

}  // namespace minillm
