// GET /metrics: counters in the Prometheus text exposition format (version 0.0.4). Debian has no
// Prometheus client library for C++, and the format is a few lines of text, so it is written here.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "minillm/continuous_batcher.h"

namespace minillm::serve {

class Metrics {
 public:
  void count_response(int status);
  // The counters, with the batcher's when the model is loaded.
  std::string render(const BatcherStats* stats) const;

 private:
  mutable std::mutex mutex_;
  std::map<int, uint64_t> responses_;  // by HTTP status
};

}  // namespace minillm::serve
