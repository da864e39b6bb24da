#include "engine/scheduler.hpp"

#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <ctime>
#include <future>
#include <optional>
#include <thread>

#include "stats/recorder.hpp"

namespace ld::engine {

namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

SteadyTime to_time_point(Nanos ns) {
  return SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(std::chrono::nanoseconds(ns)));
}

std::string local_iso_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

// xorshift64*: per-user randomness for weighted picks and wait times, no locks.
struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {}
  std::uint64_t next() noexcept {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

struct Worker {
  explicit Worker(std::size_t names) : stats(names), scratch(64 * 1024) {}

  net::io_context io{1};
  stats::WorkerStats stats;
  DeadlineSweeper sweeper;
  std::vector<char> scratch;
  std::atomic<bool> stopping{false};
  bool aborting = false;  // worker-thread only: in-flight work is being abandoned
  std::atomic<std::uint32_t> finished{0};
  std::thread thread;
};

// One task loop ("lane") of a user until the test stops. A user whose session reports
// concurrency() > 1 runs that many lanes over the one session.
net::awaitable<void> run_lane(Worker& w, const PlanConfig& plan, std::size_t n,
                              UserSession& session, Rng rng) {
  net::steady_timer timer(w.io);
  std::uint64_t total_weight = 0;
  for (auto x : plan.weights) total_weight += x;
  while (!w.stopping.load(std::memory_order_relaxed)) {
    const Nanos iteration_start = steady_now();
    if (plan.mode == ScenarioMode::kWeighted) {
      std::uint64_t pick = rng.next() % total_weight;
      std::size_t i = 0;
      while (pick >= plan.weights[i]) pick -= plan.weights[i++];
      co_await session.run_step(i, steady_now());
    } else {
      for (std::size_t i = 0; i < n && !w.stopping.load(std::memory_order_relaxed); ++i) {
        co_await session.run_step(i, steady_now());
      }
    }
    if (plan.wait.enabled() && !w.stopping.load(std::memory_order_relaxed)) {
      const double s = plan.wait.min_s + (plan.wait.max_s - plan.wait.min_s) * rng.uniform();
      timer.expires_at(to_time_point(steady_now() + seconds_to_ns(s)));
      boost::system::error_code ec;
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    } else if (steady_now() - iteration_start < 2000) {
      // An iteration that finished without waiting on I/O must not starve the other users.
      co_await net::post(w.io, net::use_awaitable);
    }
  }
}

// An extra lane: runs, then wakes the user's coroutine once the last lane has ended.
net::awaitable<void> run_extra_lane(Worker& w, const PlanConfig& plan, std::size_t n,
                                    UserSession& session, Rng rng, std::size_t& running,
                                    net::steady_timer& all_done) {
  try {
    co_await run_lane(w, plan, n, session, rng);
  } catch (...) {
  }
  if (--running == 0) all_done.cancel();
}

net::awaitable<void> run_user(Worker& w, const PlanConfig& plan, CompiledTasks& tasks,
                              unsigned thread_index, std::uint32_t user_id) {
  try {
    WorkerContext ctx{w.io,        w.stats,     w.sweeper, std::span<char>(w.scratch),
                      &w.aborting, thread_index, user_id};
    std::unique_ptr<UserSession> session = tasks.new_user(ctx);
    const std::size_t lanes = std::max<std::size_t>(1, session->concurrency());
    // Lane state lives in this frame, which outlives every lane (it waits for them).
    std::size_t running = lanes;
    net::steady_timer all_done(w.io, SteadyTime::max());
    for (std::size_t lane = 1; lane < lanes; ++lane) {
      net::co_spawn(w.io,
                    run_extra_lane(w, plan, tasks.size(), *session,
                                   Rng((std::uint64_t{lane} << 32) + user_id + 1), running,
                                   all_done),
                    net::detached);
    }
    try {
      co_await run_lane(w, plan, tasks.size(), *session, Rng(user_id + 1));
    } catch (...) {
    }
    if (--running > 0) {
      boost::system::error_code ec;
      co_await all_done.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    session->shutdown();
  } catch (...) {
    // A session must never throw; if one does, the user ends and the run goes on.
  }
  w.finished.fetch_add(1, std::memory_order_release);
}

net::awaitable<void> run_sweeper(Worker& w, const std::atomic<std::uint32_t>& spawned_here) {
  net::steady_timer timer(w.io);
  Nanos next = steady_now();
  for (;;) {
    next += DeadlineSweeper::kTick;
    timer.expires_at(to_time_point(next));
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    w.sweeper.sweep(steady_now(), w.aborting);
    if (w.stopping.load(std::memory_order_relaxed) &&
        w.finished.load(std::memory_order_acquire) == spawned_here.load(std::memory_order_acquire)) {
      co_return;
    }
  }
}

}  // namespace

RunOutcome Scheduler::run(const std::atomic<bool>& interrupt, ProgressSink* progress) {
  RunOutcome out;
  const unsigned nthreads = std::max(1u, plan_.threads);
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::atomic<std::uint32_t>> spawned_per(nthreads);
  for (unsigned i = 0; i < nthreads; ++i) workers.push_back(std::make_unique<Worker>(names_.size()));

  stats::RunInfo info;
  info.started_at = local_iso_now();
  info.user = plan_.user_type;
  info.users = plan_.users;
  info.spawn_rate = plan_.spawn_rate;
  info.test_time_s = plan_.test_time_s;
  info.threads = nthreads;

  using Guard = net::executor_work_guard<net::io_context::executor_type>;
  std::vector<std::optional<Guard>> guards(nthreads);
  for (unsigned i = 0; i < nthreads; ++i) {
    Worker& w = *workers[i];
    guards[i].emplace(w.io.get_executor());
    net::co_spawn(w.io, run_sweeper(w, spawned_per[i]), net::detached);
    w.thread = std::thread([&w] { w.io.run(); });
  }

  const Nanos t0 = steady_now();
  const Nanos end_at = plan_.test_time_s > 0 ? t0 + seconds_to_ns(plan_.test_time_s) : 0;
  std::uint32_t spawned = 0;
  Nanos next_interval = t0 + kNanosPerSecond;
  Nanos last_interval = t0;
  std::uint64_t total_requests = 0, total_failures = 0;

  auto finished_total = [&] {
    std::uint32_t f = 0;
    for (auto& w : workers) f += w->finished.load(std::memory_order_acquire);
    return f;
  };

  auto collect = [&](Nanos now) {
    stats::IntervalStats merged;
    for (auto& wp : workers) {
      Worker& w = *wp;
      std::promise<stats::IntervalStats*> p;
      auto f = p.get_future();
      net::post(w.io, [&w, &p] { p.set_value(&w.stats.retire_interval()); });
      stats::IntervalStats* retired = f.get();
      merged.merge(*retired);
      retired->reset();
    }
    stats::IntervalPoint pt;
    pt.t_s = static_cast<double>(now - t0) / 1e9;
    pt.seconds = static_cast<double>(now - last_interval) / 1e9;
    pt.requests = merged.requests;
    pt.failures = merged.failures;
    pt.bytes_in = merged.bytes_in;
    pt.p50_ns = merged.latency.percentile(50);
    pt.p95_ns = merged.latency.percentile(95);
    pt.p99_ns = merged.latency.percentile(99);
    pt.max_ns = merged.latency.max();
    pt.users = spawned - finished_total();
    out.metrics.timeline.push_back(pt);
    total_requests += merged.requests;
    total_failures += merged.failures;
    last_interval = now;
    if (progress) {
      ProgressSnapshot s;
      s.elapsed_s = pt.t_s;
      s.test_time_s = plan_.test_time_s;
      s.users = pt.users;
      s.target_users = plan_.users;
      s.rps = pt.seconds > 0 ? static_cast<double>(pt.requests) / pt.seconds : 0;
      s.p95_ns = pt.p95_ns;
      s.requests = total_requests;
      s.failures = total_failures;
      progress->update(s);
    }
  };

  // --- the control loop: spawn, collect, stop
  out.stop_reason = "test_time";
  for (;;) {
    const Nanos now = steady_now();
    if (interrupt.load()) {
      out.stop_reason = "interrupted";
      break;
    }
    if (end_at && now >= end_at) break;
    // Users due by now: the first at t=0, then one every 1/spawn_rate seconds.
    const double due = 1.0 + static_cast<double>(now - t0) / 1e9 * plan_.spawn_rate;
    const auto want = static_cast<std::uint32_t>(std::min<double>(plan_.users, due));
    while (spawned < want) {
      const unsigned ti = spawned % nthreads;
      Worker& w = *workers[ti];
      spawned_per[ti].fetch_add(1, std::memory_order_release);
      const std::uint32_t uid = spawned++;
      net::co_spawn(w.io, run_user(w, plan_, tasks_, ti, uid), net::detached);
    }
    if (now >= next_interval) {
      collect(now);
      next_interval += kNanosPerSecond;
      if (next_interval <= now) next_interval = now + kNanosPerSecond;
    }
    Nanos wake = next_interval;
    if (end_at) wake = std::min(wake, end_at);
    if (spawned < plan_.users) {
      wake = std::min(wake, t0 + static_cast<Nanos>(spawned / plan_.spawn_rate * 1e9));
    }
    wake = std::min(wake, now + 50 * kNanosPerMilli);  // poll the interrupt flag
    std::this_thread::sleep_until(to_time_point(std::max(wake, now)));
  }

  // --- stop: users finish their current operation (bounded by its timeout), then end.
  const Nanos stop_at = steady_now();
  for (auto& w : workers) w->stopping.store(true);
  const bool abort_now = out.stop_reason == "interrupted";
  const Nanos grace = tasks_.max_timeout() + kNanosPerSecond;
  bool aborted = false;
  auto abort_all = [&] {
    for (auto& wp : workers) {
      Worker& w = *wp;
      net::post(w.io, [&w] {
        w.aborting = true;
        w.sweeper.sweep(steady_now(), true);
      });
    }
    aborted = true;
  };
  if (abort_now) abort_all();
  while (finished_total() < spawned) {
    const Nanos now = steady_now();
    if (!aborted && (interrupt.load() || now - stop_at > grace)) abort_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const Nanos t_end = steady_now();
  collect(t_end);
  for (auto& g : guards) g.reset();
  for (auto& w : workers) w->thread.join();
  if (progress) progress->finish();

  // --- fold the per-thread totals into this run's metrics (threads have joined: no races).
  info.duration_s = static_cast<double>(stop_at - t0) / 1e9;
  info.stop_reason = out.stop_reason;
  for (auto& wp : workers) {
    const auto& names = wp->stats.names();
    for (std::uint32_t id = 0; id < names.size(); ++id) {
      if (names[id].requests == 0) continue;
      const auto& [type, name] = names_.at(id);
      stats::NameMetrics& m = out.metrics.name_slot(type, name);
      const stats::NameStats& s = names[id];
      m.requests += s.requests;
      m.failures += s.failures;
      m.bytes_in += s.bytes_in;
      m.bytes_out += s.bytes_out;
      m.ok_latency.merge(s.ok_latency);
      m.fail_latency.merge(s.fail_latency);
      m.service.merge(s.service);
      for (std::size_t k = 0; k < stats::kErrorKindCount; ++k) m.by_kind[k] += s.by_kind[k];
    }
    for (const auto& [key, count] : wp->stats.errors()) {
      const auto& [type, name] = names_.at(key.name_id);
      out.metrics.add_error({type, name, key.kind, stats::error_message(key), count});
    }
    out.metrics.errors_dropped += wp->stats.errors_dropped();
  }
  out.metrics.sort_errors();
  out.metrics.runs.push_back(info);
  return out;
}

}  // namespace ld::engine
