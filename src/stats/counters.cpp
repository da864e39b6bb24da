#include "loaddensity/stats/counters.hpp"

#include <mutex>
#include <stdexcept>

namespace ld::stats {

namespace {

std::mutex& mutex() {
  static std::mutex m;
  return m;
}
std::vector<CounterName>& names() {
  static std::vector<CounterName> n;
  return n;
}

}  // namespace

CounterId register_counter(std::string_view protocol, std::string_view name) {
  std::lock_guard lock(mutex());
  auto& all = names();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].protocol == protocol && all[i].name == name) return static_cast<CounterId>(i);
  }
  if (all.size() >= kMaxCounters) {
    throw std::length_error("too many protocol counters (at most " + std::to_string(kMaxCounters) +
                            ")");
  }
  all.push_back({std::string(protocol), std::string(name)});
  return static_cast<CounterId>(all.size() - 1);
}

std::vector<CounterName> registered_counters() {
  std::lock_guard lock(mutex());
  return names();
}

}  // namespace ld::stats
