#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace minillm::cli {

bool ProgressBar::stderr_is_terminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

ProgressBar::ProgressBar(std::string label, uint64_t total, Unit unit, bool quarters)
    : label_(std::move(label)),
      total_(total),
      unit_(unit),
      quarters_(quarters),
      terminal_(stderr_is_terminal()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::seconds(1)) {}

ProgressBar::~ProgressBar() {
  if (terminal_ && !finished_ && last_width_ > 0) std::fputc('\n', stderr);
}

std::string ProgressBar::amount(uint64_t n) const {
  char text[32];
  if (unit_ == Unit::Items) {
    std::snprintf(text, sizeof text, "%llu", (unsigned long long)n);
  } else if (n >= (1ull << 30)) {
    std::snprintf(text, sizeof text, "%.2f GB", double(n) / (1ull << 30));
  } else {
    std::snprintf(text, sizeof text, "%.1f MB", double(n) / (1ull << 20));
  }
  return text;
}

void ProgressBar::update(uint64_t done, std::string_view detail) {
  const auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    // At most ten redraws a second (a download calls this for every network packet).
    if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw(done, detail);
  } else if (quarters_ && total_ > 0) {
    const int quarter = int(std::min<uint64_t>(done * 4 / total_, 3));
    for (; quarters_printed_ < quarter; ++quarters_printed_)
      std::fprintf(stderr, "%s: %d %% (%s of %s)\n", label_.c_str(), 25 * (quarters_printed_ + 1),
                   amount(done).c_str(), amount(total_).c_str());
  }
}

void ProgressBar::draw(uint64_t done, std::string_view detail) {
  constexpr int kWidth = 30;
  const int filled = total_ ? int(std::min<uint64_t>(done, total_) * kWidth / total_) : kWidth;
  std::string line = label_ + " [" + std::string(size_t(filled), '=') +
                     std::string(size_t(kWidth - filled), ' ') + "] " + amount(done) + "/" +
                     amount(total_);
  if (unit_ == Unit::Bytes) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (seconds > 0.2 && done > 0) {
      const double rate = double(done) / seconds;
      char text[64];
      std::snprintf(text, sizeof text, " %.1f MB/s ETA %.0fs", rate / (1 << 20),
                    double(total_ > done ? total_ - done : 0) / rate);
      line += text;
    }
  }
  if (!detail.empty()) line += " " + std::string(detail);
  const size_t width = line.size();
  if (width < last_width_) line += std::string(last_width_ - width, ' ');
  last_width_ = width;
  std::fprintf(stderr, "\r%s", line.c_str());
  std::fflush(stderr);
}

void ProgressBar::finish(std::string_view summary) {
  if (finished_) return;
  finished_ = true;
  if (terminal_ && last_width_ > 0) std::fprintf(stderr, "\r%-*s\r", int(last_width_), "");
  if (!summary.empty()) std::fprintf(stderr, "%.*s\n", int(summary.size()), summary.data());
}

}  // namespace minillm::cli
