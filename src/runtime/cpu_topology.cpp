#include "runtime/cpu_topology.h"

#include <sched.h>

#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

namespace minillm {

int physical_core_count() {
  // Count distinct (package, core) pairs among the CPUs this process may run on.
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) != 0) {
    const unsigned n = std::thread::hardware_concurrency();
    return n ? int(n) : 1;
  }
  std::set<std::pair<int, int>> cores;
  int logical = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &mask)) continue;
    ++logical;
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream pkg(base + "physical_package_id"), core(base + "core_id");
    int p = -1, c = -1;
    if (!(pkg >> p) || !(core >> c)) return logical > 0 ? CPU_COUNT(&mask) : 1;
    cores.insert({p, c});
  }
  return cores.empty() ? 1 : int(cores.size());
}

}  // namespace minillm
