#pragma once
// The part of CompiledTasks every protocol shares: a list of compiled steps, each with its
// grouping name and timeout. A protocol's Tasks derives from StepTasks<Step> and adds only what
// is its own (new_user, per-run resources).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "loaddensity/protocol/protocol.hpp"

namespace ld::proto {

// `Step` needs `std::uint32_t name_id` and `Nanos timeout`.
template <typename Step>
class StepTasks : public engine::CompiledTasks {
 public:
  std::size_t size() const noexcept override { return steps.size(); }
  std::uint32_t name_id(std::size_t i) const noexcept override { return steps[i].name_id; }
  Nanos max_timeout() const noexcept override {
    Nanos m = 0;
    for (const auto& s : steps) m = std::max(m, s.timeout);
    return m;
  }

  std::vector<Step> steps;
};

}  // namespace ld::proto
