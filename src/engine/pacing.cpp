#include "engine/pacing.hpp"

#include <algorithm>
#include <cmath>

#include "loaddensity/core/error.hpp"

namespace ld::engine {

namespace {

// Every shape option is a duration, a user count or a rate; each has its real range.
enum class Unit { kSeconds, kUsers, kRate };

double num(const Json& c, const char* key, double def, const std::string& ptr, Unit unit) {
  if (!c.contains(key) || c[key].is_null()) return def;
  const std::string at = ptr + "/" + key;
  switch (unit) {
    case Unit::kSeconds:
      return seconds_in_range(c[key], key, at, true);
    case Unit::kUsers:
      return number_in_range(c[key], key, 0, limits::kMaxUsers, false, at, "users");
    case Unit::kRate:
      return number_in_range(c[key], key, 0, limits::kMaxRate, true, at, "users/s");
  }
  return def;
}

void only_keys(const Json& c, std::initializer_list<const char*> keys, const std::string& what) {
  for (auto it = c.begin(); it != c.end(); ++it) {
    bool ok = false;
    for (const char* k : keys) ok = ok || it.key() == k;
    if (!ok) {
      std::string list;
      for (const char* k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
      throw ConfigError(what + ": unknown key '" + it.key() + "' (accepted: " + list + ")",
                        pointer_key(it.key()));
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- LoadShape

LoadShape LoadShape::make(const std::string& name, const Json& c0) {
  const Json c = c0.is_null() ? Json::object() : c0;
  if (!c.is_object()) throw ConfigError("shape_config must be an object");
  LoadShape s;
  if (name == "stages") {
    s.kind_ = Kind::kStages;
    only_keys(c, {"stages"}, "stages shape");
    if (!c.contains("stages") || !c["stages"].is_array() || c["stages"].empty()) {
      throw ConfigError("stages shape needs \"stages\": [{\"duration\", \"users\", \"spawn_rate\"}]",
                        "/stages");
    }
    double prev = 0;
    for (std::size_t i = 0; i < c["stages"].size(); ++i) {
      const Json& st = c["stages"][i];
      const std::string ptr = "/stages" + pointer_index(i);
      if (!st.is_object() || !st.contains("duration") || !st.contains("users")) {
        throw ConfigError("a stage needs \"duration\" (cumulative seconds) and \"users\"", ptr);
      }
      Stage stage{num(st, "duration", 0, ptr, Unit::kSeconds),
                  static_cast<std::uint32_t>(num(st, "users", 0, ptr, Unit::kUsers)),
                  num(st, "spawn_rate", 1, ptr, Unit::kRate)};
      if (stage.end_s <= prev && i > 0) {
        throw ConfigError("stage durations are cumulative and must increase", ptr + "/duration");
      }
      if (stage.spawn_rate <= 0) throw ConfigError("spawn_rate must be > 0", ptr + "/spawn_rate");
      prev = stage.end_s;
      s.max_users_ = std::max(s.max_users_, stage.users);
      s.stages_.push_back(stage);
    }
    s.duration_s_ = prev;
  } else if (name == "spike") {
    s.kind_ = Kind::kSpike;
    only_keys(c, {"baseline_users", "spike_users", "spawn_rate", "pre_seconds", "spike_seconds",
                  "post_seconds"},
              "spike shape");
    s.a_ = static_cast<std::uint32_t>(num(c, "baseline_users", 0, "", Unit::kUsers));
    s.b_ = static_cast<std::uint32_t>(num(c, "spike_users", s.a_, "", Unit::kUsers));
    s.rate_ = num(c, "spawn_rate", 10, "", Unit::kRate);
    s.p1_ = num(c, "pre_seconds", 30, "", Unit::kSeconds);
    s.p2_ = num(c, "spike_seconds", 30, "", Unit::kSeconds);
    s.p3_ = num(c, "post_seconds", 30, "", Unit::kSeconds);
    s.max_users_ = std::max(s.a_, s.b_);
    s.duration_s_ = s.p1_ + s.p2_ + s.p3_;
  } else if (name == "soak") {
    s.kind_ = Kind::kSoak;
    only_keys(c, {"users", "spawn_rate", "ramp_seconds", "hold_seconds", "cooldown_seconds"},
              "soak shape");
    s.a_ = static_cast<std::uint32_t>(num(c, "users", 0, "", Unit::kUsers));
    s.rate_ = num(c, "spawn_rate", std::max<double>(1, s.a_ / 10), "", Unit::kRate);
    s.p1_ = num(c, "ramp_seconds", 60, "", Unit::kSeconds);
    s.p2_ = num(c, "hold_seconds", 600, "", Unit::kSeconds);
    s.p3_ = num(c, "cooldown_seconds", 60, "", Unit::kSeconds);
    s.max_users_ = s.a_;
    s.duration_s_ = s.p1_ + s.p2_ + s.p3_;
  } else {
    throw ConfigError("unknown load shape: '" + name +
                      "'; choose from ['soak', 'spike', 'stages'] (closed model) or "
                      "['constant_arrival_rate', 'ramping_arrival_rate'] (open model)");
  }
  if (s.rate_ <= 0) throw ConfigError("spawn_rate must be > 0", "/spawn_rate");
  return s;
}

std::optional<ShapeTick> LoadShape::tick(double t) const {
  switch (kind_) {
    case Kind::kStages:
      for (const Stage& st : stages_) {
        if (t < st.end_s) return ShapeTick{st.users, st.spawn_rate};
      }
      return std::nullopt;
    case Kind::kSpike:
      if (t < p1_) return ShapeTick{a_, rate_};
      if (t < p1_ + p2_) return ShapeTick{b_, rate_};
      if (t < p1_ + p2_ + p3_) return ShapeTick{a_, rate_};
      return std::nullopt;
    case Kind::kSoak: {
      if (t < p1_) {
        const auto u = static_cast<std::uint32_t>(a_ * t / std::max(p1_, 1e-9));
        return ShapeTick{std::max<std::uint32_t>(1, u), rate_};
      }
      if (t < p1_ + p2_) return ShapeTick{a_, rate_};
      if (t < p1_ + p2_ + p3_) {
        const double frac = (t - p1_ - p2_) / std::max(p3_, 1e-9);
        return ShapeTick{static_cast<std::uint32_t>(a_ * (1 - frac)), rate_};
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- Pacer

Pacer Pacer::constant(double rate, double duration_s) {
  Pacer p;
  p.segments_.push_back({0, duration_s, rate, rate, 0});
  return p;
}

Pacer Pacer::ramping(double start_rate, std::vector<RateStage> stages) {
  Pacer p;
  double t = 0, r = start_rate, hits = 0;
  for (const auto& st : stages) {
    p.segments_.push_back({t, st.duration_s, r, st.rate, hits});
    hits += (r + st.rate) / 2 * st.duration_s;
    t += st.duration_s;
    r = st.rate;
  }
  return p;
}

double Pacer::duration_s() const noexcept {
  return segments_.empty() ? 0 : segments_.back().start_s + segments_.back().duration_s;
}

double Pacer::total_hits() const noexcept {
  if (segments_.empty()) return 0;
  const auto& s = segments_.back();
  return s.hits_before + (s.r0 + s.r1) / 2 * s.duration_s;
}

std::optional<Nanos> Pacer::hit_time(std::uint64_t hit) const {
  // Iteration k is planned where the integral of the rate reaches k (so the first is at t=0
  // when the schedule starts above zero).
  const double k = static_cast<double>(hit);
  for (const Segment& s : segments_) {
    const double seg_hits = (s.r0 + s.r1) / 2 * s.duration_s;
    if (k >= s.hits_before + seg_hits) continue;
    const double rem = k - s.hits_before;
    double tau;
    if (rem <= 0) {
      tau = 0;
    } else if (s.r1 == s.r0) {
      tau = rem / s.r0;
    } else {
      // r0*tau + a*tau^2 = rem with a = (r1-r0)/(2d); numerically stable root.
      const double a = (s.r1 - s.r0) / (2 * s.duration_s);
      tau = 2 * rem / (s.r0 + std::sqrt(std::max(0.0, s.r0 * s.r0 + 4 * a * rem)));
    }
    if (tau > s.duration_s) continue;
    return static_cast<Nanos>(std::llround((s.start_s + tau) * 1e9));
  }
  return std::nullopt;
}

Pacer::Pace Pacer::pace(Nanos elapsed, std::uint64_t hits) const {
  const auto t = hit_time(hits);
  if (!t) return {0, true};
  return {std::max<Nanos>(0, *t - elapsed), false};
}

// ---------------------------------------------------------------- Sequencer

Sequencer::Decision Sequencer::due(Nanos planned) {
  if (!idle_.empty()) {
    const std::uint32_t u = idle_.back();
    idle_.pop_back();
    return {Kind::kAssign, u};
  }
  if (users_ < max_users_) return {Kind::kSpawn, users_++};
  if (backlog_.size() < max_backlog_) {
    backlog_.push_back(planned);
    ++queued_;
    return {Kind::kQueue, 0};
  }
  ++dropped_;
  return {Kind::kDrop, 0};
}

std::optional<Nanos> Sequencer::release(std::uint32_t user) {
  if (!backlog_.empty()) {
    const Nanos next = backlog_.front();
    backlog_.pop_front();
    return next;
  }
  idle_.push_back(user);
  return std::nullopt;
}

}  // namespace ld::engine
