#pragma once
// Named counters of a protocol (QUIC handshakes, packets lost, ...), next to the per-name
// numbers. A protocol registers each counter once, off the hot path (`register_counter`, a
// lock); a session then adds to it on its worker thread through WorkerStats::add_counter, a plain
// add to the worker's own array. The run sums the workers' arrays into Metrics::counters when the
// threads have joined, and the reports list the counters that are not zero.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ld::stats {

inline constexpr std::size_t kMaxCounters = 64;
using CounterId = std::uint16_t;

// The id of counter `name` of `protocol` ("http3", "handshakes"), registered on first use; the
// same pair gives the same id for the life of the process. Throws std::length_error beyond
// kMaxCounters distinct counters.
CounterId register_counter(std::string_view protocol, std::string_view name);

struct CounterName {
  std::string protocol;
  std::string name;
};
// Every registered counter, in id order.
std::vector<CounterName> registered_counters();

// One counter's total over a run (or several runs).
struct CounterTotal {
  std::string protocol;
  std::string name;
  std::uint64_t value = 0;
};

}  // namespace ld::stats
