// Progress on stderr, fit for terminals and logs alike: on a terminal a bar redrawn in place
// (with speed and time left for downloads); when stderr is a file or pipe, a few plain lines
// (every quarter of a long job, one line when it ends) instead of one per step.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace minillm::cli {

class ProgressBar {
 public:
  enum class Unit { Items, Bytes };
  // `quarters`: when not on a terminal, also print a line at 25, 50 and 75 %.
  ProgressBar(std::string label, uint64_t total, Unit unit, bool quarters = true);
  ~ProgressBar();  // ends the bar's line on a terminal if finish() was not called

  // `detail`: what is being worked on (a tensor name), shown on a terminal only.
  void update(uint64_t done, std::string_view detail = {});
  // Ends the bar with `summary` (e.g. "wrote x.gguf"): on a terminal the bar line is replaced.
  void finish(std::string_view summary);

  static bool stderr_is_terminal();

 private:
  void draw(uint64_t done, std::string_view detail);
  std::string amount(uint64_t n) const;

  std::string label_;
  uint64_t total_;
  Unit unit_;
  bool quarters_, terminal_, finished_ = false;
  int quarters_printed_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  size_t last_width_ = 0;
};

}  // namespace minillm::cli
