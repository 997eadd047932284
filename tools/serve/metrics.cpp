#include "metrics.h"

#include <sstream>

namespace minillm::serve {

void Metrics::count_response(int status) {
  std::lock_guard lock(mutex_);
  ++responses_[status];
}

std::string Metrics::render(const BatcherStats* stats) const {
  std::ostringstream out;
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
  family("minillm_prompt_tokens_total", "counter", "Prompt tokens of generation requests.");
  out << "minillm_prompt_tokens_total " << s.prompt_tokens << '\n';
  family("minillm_cache_hit_tokens_total", "counter",
         "Prompt tokens reused from the KV cache instead of evaluated.");
  out << "minillm_cache_hit_tokens_total " << s.cached_tokens << '\n';
  family("minillm_generated_tokens_total", "counter", "Tokens generated.");
  out << "minillm_generated_tokens_total " << s.generated_tokens << '\n';
  family("minillm_generation_requests_total", "counter", "Generation requests that ended.");
  out << "minillm_generation_requests_total " << s.requests << '\n';
  family("minillm_cancelled_total", "counter",
         "Generation requests cancelled (client gone, or shutdown).");
  out << "minillm_cancelled_total " << s.cancelled << '\n';
  family("minillm_tokens_per_second", "gauge", "Tokens generated per second, last 10 seconds.");
  out << "minillm_tokens_per_second " << s.tokens_per_second << '\n';
  family("minillm_queue_depth", "gauge", "Sequences waiting for a free slot.");
  out << "minillm_queue_depth " << s.queued << '\n';
  family("minillm_busy_slots", "gauge", "Sequences being generated.");
  out << "minillm_busy_slots " << s.busy_slots << '\n';
  return out.str();
}

}  // namespace minillm::serve
