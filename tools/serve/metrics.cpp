#include "metrics.h"

#include <iomanip>
#include <sstream>

namespace minillm::serve {

void Metrics::count_response(int status) {
  std::lock_guard lock(mutex_);
  ++responses_[status];
}

std::string Metrics::render(const BatcherStats* stats) const {
  std::ostringstream out;
  out << std::setprecision(15);  // counters print as whole numbers, not 1.23457e+06
  auto family = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  family("minillm_requests_total", "counter", "HTTP responses sent, by status code.");
  {
    std::lock_guard lock(mutex_);
    for (const auto& [status, n] : responses_)
      out << "minillm_requests_total{status=\"" << status << "\"} " << n << '\n';
  }
  const BatcherStats s = stats ? *stats : BatcherStats{};
  struct Row {
    const char* name;
    const char* type;
    const char* help;
    double value;
  };
  const Row rows[] = {
      {"minillm_prompt_tokens_total", "counter", "Prompt tokens of generation requests.",
       double(s.prompt_tokens)},
      {"minillm_cache_hit_tokens_total", "counter",
       "Prompt tokens reused from the KV cache instead of evaluated.", double(s.cached_tokens)},
      {"minillm_generated_tokens_total", "counter", "Tokens generated.",
       double(s.generated_tokens)},
      {"minillm_generation_requests_total", "counter", "Generation requests that ended.",
       double(s.requests)},
      {"minillm_cancelled_total", "counter",
       "Generation requests cancelled (client gone, or shutdown).", double(s.cancelled)},
      {"minillm_tokens_per_second", "gauge", "Tokens generated per second, last 10 seconds.",
       s.tokens_per_second},
      {"minillm_queue_depth", "gauge", "Sequences waiting for a free slot.", double(s.queued)},
      {"minillm_busy_slots", "gauge", "Sequences being generated.", double(s.busy_slots)},
  };
  for (const Row& r : rows) {
    family(r.name, r.type, r.help);
    out << r.name << ' ' << r.value << '\n';
  }
  return out.str();
}

}  // namespace minillm::serve
