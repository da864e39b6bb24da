#include "export/series.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ld::exporters {

void Series::add(const Series& o) {
  requests += o.requests;
  failures += o.failures;
  bytes_in += o.bytes_in;
  for (std::size_t k = 0; k < by_kind.size(); ++k) by_kind[k] += o.by_kind[k];
  if (!o.buckets.empty()) {
    if (buckets.empty()) buckets.assign(LiveHistogram::kBucketCount, 0);
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += o.buckets[i];
  }
  latency_sum_ns += o.latency_sum_ns;
  latency_max_ns = std::max(latency_max_ns, o.latency_max_ns);
}

void Series::clear_counts() {
  requests = failures = bytes_in = 0;
  by_kind.fill(0);
  std::fill(buckets.begin(), buckets.end(), 0);
  latency_sum_ns = 0;
  latency_max_ns = 0;
}

double Series::percentile_ms(double p) const {
  std::uint64_t n = 0;
  for (auto c : buckets) n += c;
  if (n == 0) return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * double(n)));
  rank = std::clamp<std::uint64_t>(rank, 1, n);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    seen += buckets[i];
    if (seen >= rank) {
      const double mid_ms = LiveHistogram::bucket_value_us(i) / 1000.0;
      return latency_max_ns ? std::min(mid_ms, double(latency_max_ns) / 1e6) : mid_ms;
    }
  }
  return double(latency_max_ns) / 1e6;
}

std::size_t SeriesBook::series_for(const std::string& request_type, const std::string& name) {
  auto [it, fresh] = index_.try_emplace({request_type, name}, cumulative_.size());
  if (fresh) {
    Series s;
    s.request_type = request_type;
    s.name = name;
    cumulative_.push_back(s);
    interval_.push_back(std::move(s));
  }
  return it->second;
}

void SeriesBook::fold(const std::shared_ptr<const stats::LiveSnapshot>& s) {
  if (!s) return;
  const bool same_run = last_ && last_->names == s->names && s->sequence > last_->sequence;
  if (!same_run) {
    ids_.clear();
    if (s->names) {
      for (const auto& [type, name] : *s->names) ids_.push_back(series_for(type, name));
    }
  }
  const stats::LiveSnapshot* prev = same_run ? last_.get() : nullptr;
  for (std::size_t id = 0; id < s->total.size() && id < ids_.size(); ++id) {
    const stats::LiveName& cur = s->total[id];
    static const stats::LiveName kZero{};
    const stats::LiveName& old = prev && id < prev->total.size() ? prev->total[id] : kZero;
    if (cur.requests == old.requests) continue;
    Series d;
    d.requests = cur.requests - old.requests;
    d.failures = cur.failures - old.failures;
    d.bytes_in = cur.bytes_in - old.bytes_in;
    for (std::size_t k = 0; k < d.by_kind.size(); ++k)
      d.by_kind[k] = cur.by_kind[k] - old.by_kind[k];
    const auto& cb = cur.latency.buckets();
    const auto& ob = old.latency.buckets();
    if (!cb.empty()) {
      d.buckets.assign(cb.begin(), cb.end());
      if (!ob.empty()) {
        for (std::size_t i = 0; i < d.buckets.size(); ++i) d.buckets[i] -= ob[i];
      }
    }
    d.latency_sum_ns = cur.latency.sum_ns() - old.latency.sum_ns();
    d.latency_max_ns = cur.latency.max_ns();  // the run's maximum so far
    cumulative_[ids_[id]].add(d);
    interval_[ids_[id]].add(d);
  }
  users_ = s->users;
  target_users_ = s->target_users;
  last_ = s;
}

void SeriesBook::clear_interval() {
  for (auto& s : interval_) s.clear_counts();
}

SnapshotInbox::SnapshotInbox(stats::LiveFeed& feed) : feed_(feed) { feed_.add_observer(this); }

SnapshotInbox::~SnapshotInbox() { feed_.remove_observer(this); }

void SnapshotInbox::on_interval(const stats::LiveSnapshot& s) {
  // The feed published `s` just before calling its observers: share it rather than copy.
  std::shared_ptr<const stats::LiveSnapshot> p = feed_.latest();
  if (p.get() != &s) p = std::make_shared<const stats::LiveSnapshot>(s);
  std::lock_guard<std::mutex> lock(mu_);
  // Running totals: the newest snapshot of a run stands for the ones before it, except a
  // run's final one, which is kept until taken.
  if (!queue_.empty() && !queue_.back()->final && queue_.back()->names == p->names) {
    queue_.back() = std::move(p);
  } else {
    queue_.push_back(std::move(p));
  }
}

std::vector<std::shared_ptr<const stats::LiveSnapshot>> SnapshotInbox::take() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(queue_, {});
}

void SnapshotInbox::drain_into(SeriesBook& book) {
  for (const auto& s : take()) book.fold(s);
}

const std::vector<std::int64_t>& latency_bounds_us() {
  static const std::vector<std::int64_t> bounds = [] {
    std::vector<std::int64_t> b;
    for (int k = 5; k <= 25; ++k) {
      b.push_back(std::int64_t{1} << k);
      b.push_back(std::int64_t{3} << (k - 1));
    }
    return b;
  }();
  return bounds;
}

std::string bound_ms_text(std::int64_t us) {
  std::string out = std::to_string(us / 1000);
  std::int64_t frac = us % 1000;
  if (frac) {
    char digits[4] = {char('0' + frac / 100), char('0' + frac / 10 % 10), char('0' + frac % 10), 0};
    std::string f(digits);
    while (f.back() == '0') f.pop_back();
    out += '.' + f;
  }
  return out;
}

std::vector<std::uint64_t> bucket_counts(const Series& s) {
  const auto& bounds = latency_bounds_us();
  std::vector<std::uint64_t> out(bounds.size() + 1, 0);
  std::size_t j = 0;
  for (std::size_t i = 0; i < s.buckets.size(); ++i) {
    if (!s.buckets[i]) continue;
    const std::int64_t upper =
        LiveHistogram::bucket_lower_us(i) + LiveHistogram::bucket_width_us(i);
    while (j < bounds.size() && bounds[j] < upper) ++j;  // bounds are bucket boundaries
    out[j] += s.buckets[i];
  }
  return out;
}

std::string format_double(double v) {
  if (!std::isfinite(v)) return v != v ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

}  // namespace ld::exporters
