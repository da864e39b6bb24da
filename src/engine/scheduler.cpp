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
#include <cstdio>
#include <ctime>
#include <deque>
#include <future>
#include <thread>

#include "stats/record_log.hpp"
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

// One virtual user's home on its worker: the timer it sleeps on (think/wait time, idle in the
// open model), so a stop can wake every sleeper.
struct UserSlot {
  explicit UserSlot(net::io_context& io) : timer(io) {}
  net::steady_timer timer;
  std::size_t index = 0;  // position in Worker::slots
  bool has_next = false;  // open model: an iteration was handed over while idle
  Nanos next_planned = 0;
};

struct Worker {
  Worker(std::size_t names, std::uint32_t max_users, std::uint32_t max_backlog)
      : stats(names), scratch(64 * 1024), dispatcher_timer(io), sequencer(max_users, max_backlog) {}

  net::io_context io{1};
  const NameTable* names = nullptr;
  stats::WorkerStats stats;
  DeadlineSweeper sweeper;
  std::vector<char> scratch;
  std::atomic<bool> stopping{false};
  bool aborting = false;                   // worker thread only
  std::atomic<std::uint32_t> started{0};   // users started on this worker
  std::atomic<std::uint32_t> finished{0};  // users ended on this worker
  std::shared_ptr<void> state;              // the protocol's per-worker state (worker thread)
  std::atomic<bool> drained{false};         // the protocol's drain has returned
  std::vector<UserSlot*> slots;            // live users (worker thread only)
  // open model (worker thread only)
  net::steady_timer dispatcher_timer;
  Sequencer sequencer;
  std::vector<UserSlot*> open_slots;  // by sequencer user id
  bool dispatcher_done = false;
  std::thread thread;

  void add_slot(UserSlot* s) {
    s->index = slots.size();
    slots.push_back(s);
  }
  void remove_slot(UserSlot* s) {
    slots[s->index] = slots.back();
    slots[s->index]->index = s->index;
    slots.pop_back();
  }
  void wake_all() {
    for (UserSlot* s : slots) s->timer.cancel();
    dispatcher_timer.cancel();
  }
};

// Everything a user needs to run iterations; lives in the user's coroutine frame.
class UserRun {
 public:
  UserRun(Worker& w, const PlanConfig& plan, CompiledTasks& tasks, const FlowSet& flows,
          const RunPolicies& policies, std::size_t sources, unsigned thread_index,
          std::uint32_t user_id)
      : w_(w),
        plan_(plan),
        tasks_(tasks),
        names_(*w.names),
        flows_(flows),
        policies_(policies),
        slot_(w.io),
        scope_(plan.seed + user_id + 1, sources),
        ctx_{w.io,    w.stats, w.sweeper, std::span<char>(w.scratch), &w.aborting, thread_index,
             user_id, &scope_, &outcome_, w.state.get()} {
    w_.add_slot(&slot_);
    for (auto x : plan.weights) total_weight_ += x;
  }
  ~UserRun() { w_.remove_slot(&slot_); }

  void start() { session_ = tasks_.new_user(ctx_); }
  void finish() noexcept {
    if (session_) session_->shutdown();
  }
  UserSlot& slot() noexcept { return slot_; }
  bool stopping() const noexcept { return w_.stopping.load(std::memory_order_relaxed); }

  // Sleeps on the lane's timer until `deadline`; false when woken early (stop).
  net::awaitable<bool> sleep_until(UserSlot& lane, Nanos deadline) {
    if (deadline <= steady_now()) co_return !stopping();
    lane.timer.expires_at(to_time_point(deadline));
    boost::system::error_code ec;
    co_await lane.timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    co_return !ec && !stopping();
  }
  net::awaitable<bool> sleep_until(Nanos deadline) { return sleep_until(slot_, deadline); }

  // How many task loops run over this user's session at once (HTTP/2 streams, say).
  std::size_t lanes() const noexcept { return std::max<std::size_t>(1, session_->concurrency()); }

  // One pass over the task list (or one weighted pick), on one lane.
  net::awaitable<void> iteration(Nanos planned) { return iteration(slot_, planned); }
  net::awaitable<void> iteration(UserSlot& lane, Nanos planned) {
    const Nanos start = steady_now();
    if (plan_.mode == ScenarioMode::kWeighted) {
      std::uint64_t pick = scope_.next_random() % total_weight_;
      std::size_t i = 0;
      while (pick >= plan_.weights[i]) pick -= plan_.weights[i++];
      co_await task(lane, i, planned);
      if (connect_failed()) co_await connect_backoff(lane);
    } else {
      for (std::size_t i = 0; i < tasks_.size() && !stopping(); ++i) {
        const Nanos at = i == 0 ? planned : steady_now();
        if (flows_.at(i).trivial() && !policies_.conditioner) {
          // The common case costs no extra coroutine frame per request.
          scope_.begin_task();
          outcome_ = stats::ErrorKind::kNone;
          co_await session_->run_step(i, at);
        } else {
          co_await task(lane, i, at);
        }
        if (connect_failed()) co_await connect_backoff(lane);
      }
    }
    if (steady_now() - start < 2000) {
      // An iteration that finished without waiting on I/O (every task skipped, say) must not
      // starve the other users of this thread.
      co_await net::post(w_.io, net::use_awaitable);
    }
  }

 private:
  // A user whose connects keep failing (server down, port closed) waits before the next
  // operation: 10 ms after the first failure, doubling up to 1 s, reset by any connect that
  // succeeds. Without it every user retries at once and a dead server sees ~30k SYNs a second
  // per user.
  static constexpr Nanos kBackoffFirst = 10 * kNanosPerMilli;
  static constexpr Nanos kBackoffMax = kNanosPerSecond;

  bool connect_failed() noexcept {
    if (outcome_ == stats::ErrorKind::kRefused || outcome_ == stats::ErrorKind::kConnect) {
      return true;
    }
    connect_streak_ = 0;
    return false;
  }
  net::awaitable<void> connect_backoff(UserSlot& lane) {
    const Nanos delay = std::min(kBackoffMax, kBackoffFirst << std::min(connect_streak_, 7u));
    ++connect_streak_;
    co_await sleep_until(lane, steady_now() + delay);
  }

  net::awaitable<void> task(UserSlot& lane, std::size_t i, Nanos planned) {
    const TaskFlow& flow = flows_.at(i);
    scope_.begin_task();
    if (flow.run_if && !flow.run_if->eval(scope_)) co_return;
    if (flow.skip_if && flow.skip_if->eval(scope_)) co_return;
    if (flow.throttle) {
      const Nanos slot = flow.throttle->reserve(steady_now());
      if (!co_await sleep_until(lane, slot)) co_return;
      planned = std::max(planned, slot);  // the throttle's slot is when it was meant to start
    }
    std::uint32_t used[3] = {0, 0, 0};
    for (std::uint32_t attempt = 1;; ++attempt) {
      outcome_ = stats::ErrorKind::kNone;
      if (!co_await conditioned(lane, i, planned)) {
        co_await session_->run_step(i, planned);
      }
      if (outcome_ == stats::ErrorKind::kNone || !flow.retry || stopping()) break;
      const auto cls = static_cast<std::size_t>(classify(outcome_));
      if (used[cls] >= flow.retry->budget[cls]) break;
      ++used[cls];
      w_.stats.count_retry(tasks_.name_id(i));
      const Nanos delay = flow.retry->delay(attempt, scope_.uniform());
      if (!co_await sleep_until(lane, steady_now() + delay)) break;
      planned = steady_now();
    }
    if (flow.think_max_s > 0) {
      const double s = flow.think_min_s + (flow.think_max_s - flow.think_min_s) * scope_.uniform();
      co_await sleep_until(lane, steady_now() + seconds_to_ns(s));
    }
  }

  // The network conditioner: true when the request was dropped (and recorded as such).
  net::awaitable<bool> conditioned(UserSlot& lane, std::size_t i, Nanos planned) {
    const auto& c = policies_.conditioner;
    if (!c) co_return false;
    if (!c->name_filter.empty() &&
        names_.at(tasks_.name_id(i)).second.find(c->name_filter) == std::string::npos) {
      co_return false;
    }
    if (c->loss_rate > 0 && scope_.uniform() < c->loss_rate) {
      ++w_.stats.conditioner_dropped;
      stats::Record r;
      r.name_id = tasks_.name_id(i);
      r.planned = planned;
      r.start = r.end = steady_now();
      r.error = {stats::ErrorKind::kDropped, "network_conditioner: simulated drop", 0, false};
      ctx_.record(r);
      co_return true;
    }
    const double jitter = c->jitter_ms * (2 * scope_.uniform() - 1);
    const double ms = std::max(0.0, c->latency_ms + jitter);
    if (ms > 0) {
      ++w_.stats.conditioner_delayed;
      co_await sleep_until(lane, steady_now() + static_cast<Nanos>(ms * 1e6));
    }
    co_return false;
  }

  Worker& w_;
  const PlanConfig& plan_;
  CompiledTasks& tasks_;
  const NameTable& names_;
  const FlowSet& flows_;
  const RunPolicies& policies_;
  UserSlot slot_;
  params::UserScope scope_;
  stats::ErrorKind outcome_ = stats::ErrorKind::kNone;
  WorkerContext ctx_;
  std::unique_ptr<UserSession> session_;
  std::uint64_t total_weight_ = 0;
  std::uint32_t connect_streak_ = 0;  // consecutive failed connects (backoff)
};

// One task loop of a closed-model user: until the test stops or the user's id falls outside
// the user limit.
net::awaitable<void> closed_lane(UserRun& u, UserSlot& lane, const PlanConfig& plan,
                                 std::uint32_t uid, const std::atomic<std::uint32_t>& limit) {
  while (!u.stopping() && uid < limit.load(std::memory_order_relaxed)) {
    co_await u.iteration(lane, steady_now());
    if (plan.wait.enabled() && !u.stopping()) {
      const double s = plan.wait.min_s + (plan.wait.max_s - plan.wait.min_s) *
                                             (static_cast<double>(uid * 7919 % 1000) / 1000.0);
      co_await u.sleep_until(lane, steady_now() + seconds_to_ns(s));
    }
  }
}

// An extra lane over a multiplexing session; wakes the user's main coroutine when the last
// lane has ended.
net::awaitable<void> extra_closed_lane(Worker& w, UserRun& u, const PlanConfig& plan,
                                       std::uint32_t uid, const std::atomic<std::uint32_t>& limit,
                                       std::size_t& running, net::steady_timer& all_done) {
  try {
    UserSlot lane(w.io);
    w.add_slot(&lane);
    try {
      co_await closed_lane(u, lane, plan, uid, limit);
    } catch (...) {
    }
    w.remove_slot(&lane);
  } catch (...) {
  }
  if (--running == 0) all_done.cancel();
}

// Closed model: a user and its lanes.
net::awaitable<void> run_closed_user(Worker& w, const PlanConfig& plan, CompiledTasks& tasks,
                                     const FlowSet& flows, const RunPolicies& policies,
                                     std::size_t sources, unsigned ti, std::uint32_t uid,
                                     const std::atomic<std::uint32_t>& limit,
                                     std::atomic<std::uint8_t>& alive) {
  try {
    UserRun u(w, plan, tasks, flows, policies, sources, ti, uid);
    u.start();
    // Lane state lives in this frame, which outlives every lane (it waits for them).
    const std::size_t lanes = u.lanes();
    std::size_t running = lanes;
    net::steady_timer all_done(w.io, SteadyTime::max());
    for (std::size_t lane = 1; lane < lanes; ++lane) {
      net::co_spawn(w.io, extra_closed_lane(w, u, plan, uid, limit, running, all_done),
                    net::detached);
    }
    try {
      co_await closed_lane(u, u.slot(), plan, uid, limit);
    } catch (...) {
    }
    if (--running > 0) {
      // The last extra lane to end cancels the timer.
      boost::system::error_code ec;
      co_await all_done.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    u.finish();
  } catch (...) {
    // A session must never throw; if one does, the user ends and the run goes on.
  }
  alive.store(0, std::memory_order_release);
  w.finished.fetch_add(1, std::memory_order_release);
}

// Open model: run the iteration handed over, then whatever the backlog holds, then idle until
// the dispatcher hands over another one.
net::awaitable<void> run_open_user(Worker& w, const PlanConfig& plan, CompiledTasks& tasks,
                                   const FlowSet& flows, const RunPolicies& policies,
                                   std::size_t sources, unsigned ti, std::uint32_t uid,
                                   std::uint32_t global_id, Nanos planned) {
  try {
    UserRun u(w, plan, tasks, flows, policies, sources, ti, global_id);
    if (w.open_slots.size() <= uid) w.open_slots.resize(uid + 1, nullptr);
    w.open_slots[uid] = &u.slot();
    u.start();
    for (;;) {
      const Nanos start = steady_now();
      auto& om = w.stats.open_model();
      ++om.started;
      om.blocked.record(start - planned);
      co_await u.iteration(planned);
      if (u.stopping()) break;
      if (auto next = w.sequencer.release(uid)) {
        planned = *next;
        continue;
      }
      if (w.dispatcher_done) break;
      u.slot().has_next = false;
      u.slot().timer.expires_at(SteadyTime::max());
      boost::system::error_code ec;
      co_await u.slot().timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (!u.slot().has_next || u.stopping()) break;
      planned = u.slot().next_planned;
    }
    w.open_slots[uid] = nullptr;
    u.finish();
  } catch (...) {
  }
  w.finished.fetch_add(1, std::memory_order_release);
}

// Open model dispatcher: this worker's share of the schedule (global iterations k*N + index).
net::awaitable<void> run_dispatcher(Worker& w, const PlanConfig& plan, CompiledTasks& tasks,
                                    const FlowSet& flows, const RunPolicies& policies,
                                    std::size_t sources, unsigned ti, unsigned nthreads, Nanos t0) {
  try {
    for (std::uint64_t k = 0;; ++k) {
      const auto offset = plan.pacer->hit_time(k * nthreads + ti);
      if (!offset || w.stopping.load(std::memory_order_relaxed)) break;
      const Nanos planned = t0 + *offset;
      if (planned > steady_now()) {
        w.dispatcher_timer.expires_at(to_time_point(planned));
        boost::system::error_code ec;
        co_await w.dispatcher_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
        if (w.stopping.load(std::memory_order_relaxed)) break;
      }
      ++w.stats.open_model().planned;
      const Sequencer::Decision d = w.sequencer.due(planned);
      switch (d.kind) {
        case Sequencer::Kind::kAssign: {
          UserSlot* s = w.open_slots[d.user];
          s->has_next = true;
          s->next_planned = planned;
          s->timer.cancel();
          break;
        }
        case Sequencer::Kind::kSpawn:
          w.started.fetch_add(1, std::memory_order_release);
          net::co_spawn(w.io,
                        run_open_user(w, plan, tasks, flows, policies, sources, ti, d.user,
                                      d.user * nthreads + ti, planned),
                        net::detached);
          break;
        case Sequencer::Kind::kQueue:
          ++w.stats.open_model().queued;
          break;
        case Sequencer::Kind::kDrop:
          ++w.stats.open_model().dropped;
          break;
      }
    }
  } catch (...) {
  }
  w.dispatcher_done = true;
  // Idle users have nothing more to wait for.
  for (UserSlot* s : w.open_slots) {
    if (s) s->timer.cancel();
  }
}

// The end of a worker's run, once its users have ended: the protocol's drain, bounded by
// kDrainTimeout (the sweeper keeps expiring the drain's operations).
net::awaitable<void> run_drain(Worker& w, CompiledTasks& tasks, unsigned ti) {
  try {
    WorkerContext ctx{w.io, w.stats, w.sweeper, std::span<char>(w.scratch), &w.aborting, ti};
    ctx.worker_state = w.state.get();
    co_await tasks.drain_worker(ctx, steady_now() + kDrainTimeout);
  } catch (...) {
    // A drain must not throw; if one does, the worker still ends.
  }
  w.state.reset();
  w.drained.store(true, std::memory_order_release);
}

// Expires timed operations every tick; when the worker's users have all ended it starts the
// drain, and it keeps ticking (the drain's deadlines need it) until the drain returned.
net::awaitable<void> run_sweeper(Worker& w, CompiledTasks& tasks, unsigned ti) {
  net::steady_timer timer(w.io);
  Nanos next = steady_now();
  bool drain_started = false;
  for (;;) {
    next += DeadlineSweeper::kTick;
    timer.expires_at(to_time_point(next));
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    w.sweeper.sweep(steady_now(), w.aborting);
    if (w.drained.load(std::memory_order_acquire)) co_return;
    if (!drain_started && w.stopping.load(std::memory_order_relaxed) &&
        w.finished.load(std::memory_order_acquire) == w.started.load(std::memory_order_acquire) &&
        (w.dispatcher_done || !w.sequencer.users())) {
      drain_started = true;
      net::co_spawn(w.io, run_drain(w, tasks, ti), net::detached);
    }
  }
}

}  // namespace

RunOutcome Scheduler::run(const std::atomic<bool>& interrupt, ProgressSink* progress) {
  RunOutcome out;
  const bool open = plan_.model == LoadModel::kOpen;
  const unsigned nthreads = std::max(1u, plan_.threads);
  tasks_.start_run(nthreads);  // per-run resources; throws before any thread starts
  const std::uint32_t per_worker_users = (plan_.users + nthreads - 1) / nthreads;
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < nthreads; ++i) {
    workers.push_back(std::make_unique<Worker>(names_.size(), per_worker_users,
                                               (plan_.max_backlog + nthreads - 1) / nthreads));
    workers.back()->names = &names_;
  }
  // Closed model: users with id < limit run; alive[id] says whether user id is running.
  std::atomic<std::uint32_t> limit{plan_.users};
  std::vector<std::atomic<std::uint8_t>> alive(open ? 0 : plan_.users);
  if (record_log_) {
    for (unsigned i = 0; i < nthreads; ++i) workers[i]->stats.attach_log(&record_log_->writer(i));
  }

  stats::RunInfo info;
  info.started_at = local_iso_now();
  info.user = plan_.user_type;
  info.users = plan_.users;
  info.spawn_rate = plan_.spawn_rate;
  info.test_time_s = plan_.test_time_s;
  info.threads = nthreads;
  const std::string shape_name = plan_.load_shape.empty() ? "" : ":" + plan_.load_shape;
  info.load_model = (open ? "open" : "closed") + shape_name;
  info.shape = plan_.load_shape;

  using Guard = net::executor_work_guard<net::io_context::executor_type>;
  std::vector<std::optional<Guard>> guards(nthreads);
  const Nanos t0 = steady_now() + (open ? 20 * kNanosPerMilli : 0);  // let threads start first
  for (unsigned i = 0; i < nthreads; ++i) {
    Worker& w = *workers[i];
    guards[i].emplace(w.io.get_executor());
    // The protocol's per-worker state exists before the first user of the worker.
    net::post(w.io, [&w, i, this] {
      WorkerContext ctx{w.io, w.stats, w.sweeper, std::span<char>(w.scratch), &w.aborting, i};
      w.state = tasks_.new_worker_state(ctx);
    });
    net::co_spawn(w.io, run_sweeper(w, tasks_, i), net::detached);
    if (open) {
      net::co_spawn(w.io,
                    run_dispatcher(w, plan_, tasks_, flows_, policies_, sources_, i, nthreads, t0),
                    net::detached);
    }
    w.thread = std::thread([&w] { w.io.run(); });
  }

  Nanos end_at = plan_.test_time_s > 0 ? t0 + seconds_to_ns(plan_.test_time_s) : 0;
  if (open) {
    const Nanos pacer_end = t0 + seconds_to_ns(plan_.pacer->duration_s());
    end_at = end_at ? std::min(end_at, pacer_end) : pacer_end;
  }
  if (plan_.shape && !plan_.test_time_explicit) end_at = 0;  // the shape decides when to stop
  const Nanos hard_at = plan_.hard_timeout_s > 0 ? t0 + seconds_to_ns(plan_.hard_timeout_s) : 0;

  std::uint32_t spawned = 0;  // closed model, control thread only
  std::uint32_t peak_users = 0;
  double spawn_allowance = 1;  // the first user starts at once
  Nanos last_tick = t0;
  Nanos next_interval = t0 + kNanosPerSecond;
  Nanos last_interval = t0;
  std::uint64_t total_requests = 0, total_failures = 0;
  std::deque<std::pair<std::uint64_t, std::uint64_t>> window;  // failure budget: per-second

  auto running_users = [&] {
    std::uint32_t s = 0, f = 0;
    for (auto& w : workers) {
      s += w->started.load(std::memory_order_acquire);
      f += w->finished.load(std::memory_order_acquire);
    }
    return s - f;
  };

  // Live statistics: running per-name totals, published with each interval.
  stats::LiveFeed local_feed;
  stats::LiveFeed& feed = live_feed_ ? *live_feed_ : local_feed;
  if (progress) feed.add_observer(progress);
  auto live_names = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
  for (std::uint32_t id = 0; id < names_.size(); ++id) live_names->push_back(names_.at(id));
  std::vector<stats::LiveName> live_totals(names_.size());
  std::uint64_t live_sequence = 0;

  // The interval hand-off is bounded: a worker that does not answer within kHandOffWait (a
  // protocol blocked its thread) keeps its hand-off outstanding and is folded in by a later
  // interval, so the progress line, the failure budget and the watchdog keep running.
  struct HandOff {
    std::promise<stats::IntervalStats*> promise;
    std::future<stats::IntervalStats*> future;
    bool outstanding = false;
  };
  std::vector<std::unique_ptr<HandOff>> hand_offs;
  for (unsigned i = 0; i < nthreads; ++i) hand_offs.push_back(std::make_unique<HandOff>());
  constexpr auto kHandOffWait = std::chrono::milliseconds(200);

  auto collect = [&](Nanos now, bool final) {
    stats::IntervalStats merged;
    auto snap = std::make_shared<stats::LiveSnapshot>();
    snap->interval.resize(names_.size());
    auto request = [&](unsigned i) {
      Worker& w = *workers[i];
      HandOff& h = *hand_offs[i];
      if (h.outstanding) return;
      h.promise = std::promise<stats::IntervalStats*>();
      h.future = h.promise.get_future();
      h.outstanding = true;
      net::post(w.io, [&w, &h] { h.promise.set_value(&w.stats.retire_interval()); });
    };
    auto take = [&](unsigned i) {
      HandOff& h = *hand_offs[i];
      stats::IntervalStats* retired = h.future.get();
      h.outstanding = false;
      merged.merge(*retired);
      for (std::size_t id = 0; id < retired->names.size(); ++id) {
        if (retired->names[id].requests) snap->interval[id].merge(retired->names[id]);
      }
      retired->reset();
    };
    if (final) {
      // Every user has ended: each worker answers. A hand-off still outstanding from an
      // earlier interval is taken first, then the interval since it.
      for (unsigned i = 0; i < nthreads; ++i) {
        if (hand_offs[i]->outstanding) take(i);
        request(i);
        take(i);
      }
    } else {
      for (unsigned i = 0; i < nthreads; ++i) request(i);
      const auto give_up = std::chrono::steady_clock::now() + kHandOffWait;
      for (unsigned i = 0; i < nthreads; ++i) {
        if (hand_offs[i]->future.wait_until(give_up) == std::future_status::ready) take(i);
      }
    }
    for (std::size_t id = 0; id < live_totals.size(); ++id) {
      if (snap->interval[id].requests) live_totals[id].merge(snap->interval[id]);
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
    pt.users = running_users();
    peak_users = std::max(peak_users, pt.users);
    out.metrics.timeline.push_back(pt);
    total_requests += merged.requests;
    total_failures += merged.failures;
    window.emplace_back(merged.requests, merged.failures);
    last_interval = now;
    snap->sequence = ++live_sequence;
    snap->elapsed_s = pt.t_s;
    snap->interval_s = pt.seconds;
    snap->test_time_s = end_at ? static_cast<double>(end_at - t0) / 1e9 : 0;
    snap->users = pt.users;
    snap->target_users = open ? plan_.users : limit.load();
    snap->final = final;
    snap->names = live_names;
    snap->total = live_totals;
    snap->interval_requests = merged.requests;
    snap->interval_failures = merged.failures;
    snap->interval_latency = std::move(merged.latency);
    snap->total_requests = total_requests;
    snap->total_failures = total_failures;
    feed.publish(std::move(snap));
  };

  // The failure budget over the last window_s seconds; returns the stop reason or "".
  auto budget_breached = [&]() -> std::string {
    const auto& b = policies_.failure_budget;
    if (!b) return "";
    while (window.size() > std::max<std::size_t>(1, static_cast<std::size_t>(b->window_s))) {
      window.pop_front();
    }
    std::uint64_t req = 0, fail = 0;
    for (const auto& [r, f] : window) {
      req += r;
      fail += f;
    }
    if (req < b->min_samples || req == 0) return "";
    const double rate = static_cast<double>(fail) / static_cast<double>(req);
    if (rate <= b->threshold) return "";
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "failure_budget: failure rate %.3f > %.3f over the last %.0f s (%llu requests)",
                  rate, b->threshold, b->window_s, static_cast<unsigned long long>(req));
    return buf;
  };

  // --- the control loop
  out.stop_reason = "test_time";
  for (;;) {
    const Nanos now = steady_now();
    if (interrupt.load()) {
      out.stop_reason = "interrupted";
      break;
    }
    if (hard_at && now >= hard_at) {
      out.stop_reason = "hard_timeout";
      break;
    }
    if (end_at && now >= end_at) break;
    if (!open) {
      std::uint32_t target = plan_.users;
      double rate = plan_.spawn_rate;
      if (plan_.shape) {
        const auto tick = plan_.shape->tick(static_cast<double>(now - t0) / 1e9);
        if (!tick) {
          out.stop_reason = "load_shape";
          break;
        }
        target = std::min(tick->users, plan_.users);
        rate = tick->spawn_rate;
      } else if (external_) {
        // Driven from outside (a Locust master through its worker): users and spawn rate
        // may change while the test runs; user_count stays the ceiling.
        target = std::min(external_->users.load(std::memory_order_relaxed), plan_.users);
        rate = external_->spawn_rate.load(std::memory_order_relaxed);
      }
      limit.store(target, std::memory_order_relaxed);
      spawn_allowance += static_cast<double>(now - last_tick) / 1e9 * rate;
      spawn_allowance = std::min(spawn_allowance, static_cast<double>(plan_.users) + 1);
      last_tick = now;
      for (std::uint32_t id = 0; id < target && spawn_allowance >= 1; ++id) {
        if (alive[id].load(std::memory_order_acquire)) continue;
        alive[id].store(1, std::memory_order_release);
        spawn_allowance -= 1;
        const unsigned ti = id % nthreads;
        Worker& w = *workers[ti];
        w.started.fetch_add(1, std::memory_order_release);
        ++spawned;
        net::co_spawn(w.io,
                      run_closed_user(w, plan_, tasks_, flows_, policies_, sources_, ti, id, limit,
                                      alive[id]),
                      net::detached);
      }
    }
    if (now >= next_interval) {
      collect(now, false);
      next_interval += kNanosPerSecond;
      if (next_interval <= now) next_interval = now + kNanosPerSecond;
      if (std::string why = budget_breached(); !why.empty()) {
        out.stop_reason = why;
        break;
      }
    }
    Nanos wake = std::min(next_interval, now + 20 * kNanosPerMilli);
    if (end_at) wake = std::min(wake, end_at);
    std::this_thread::sleep_until(to_time_point(std::max(wake, now)));
  }

  // --- stop: users finish their current operation, for at most graceful_stop (and never
  // longer than the longest task timeout); what is still in flight then is abandoned and
  // recorded as `aborted`.
  const Nanos stop_at = steady_now();
  for (auto& wp : workers) {
    Worker& w = *wp;
    w.stopping.store(true);
    net::post(w.io, [&w] { w.wake_all(); });
  }
  const bool abort_now = out.stop_reason == "interrupted" || out.stop_reason == "hard_timeout" ||
                         out.stop_reason.rfind("failure_budget", 0) == 0;
  const Nanos grace =
      std::min(tasks_.max_timeout() + kNanosPerSecond, seconds_to_ns(plan_.graceful_stop_s));
  bool aborted = false;
  auto abort_all = [&] {
    for (auto& wp : workers) {
      Worker& w = *wp;
      net::post(w.io, [&w] {
        w.aborting = true;
        w.sweeper.sweep(steady_now(), true);
        w.wake_all();
      });
    }
    aborted = true;
  };
  if (abort_now) abort_all();
  while (running_users() > 0) {
    const Nanos now = steady_now();
    if (!aborted) {
      // What ends the stop early is what really stopped the test.
      if (interrupt.load()) {
        out.stop_reason = "interrupted";
        abort_all();
      } else if (hard_at && now >= hard_at) {
        out.stop_reason = "hard_timeout";
        abort_all();
      } else if (now - stop_at >= grace) {
        abort_all();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // The protocols' drain (flush, disconnect), bounded: a worker whose drain overran is stopped.
  const Nanos drain_until = steady_now() + kDrainTimeout + kNanosPerSecond;
  for (auto& wp : workers) {
    while (!wp->drained.load(std::memory_order_acquire) && steady_now() < drain_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  const Nanos t_end = steady_now();
  collect(t_end, true);
  if (progress) feed.remove_observer(progress);
  for (auto& g : guards) g.reset();
  for (auto& w : workers) {
    if (!w->drained.load(std::memory_order_acquire)) w->io.stop();  // its drain overran
    w->thread.join();
  }
  tasks_.end_run();
  if (progress) progress->finish();

  // --- fold the per-thread totals into this run's metrics (threads have joined: no races).
  info.duration_s = static_cast<double>(stop_at - t0) / 1e9;
  info.wall_s = static_cast<double>(t_end - t0) / 1e9;
  info.graceful_stop_s = static_cast<double>(grace) / 1e9;
  info.stop_reason = out.stop_reason;
  info.users = std::max(peak_users, open ? 0u : std::min(spawned, plan_.users));
  for (auto& wp : workers) {
    const auto& names = wp->stats.names();
    for (std::uint32_t id = 0; id < names.size(); ++id) {
      if (names[id].requests == 0 && names[id].retries == 0) continue;
      const auto& [type, name] = names_.at(id);
      stats::NameMetrics& m = out.metrics.name_slot(type, name);
      const stats::NameStats& s = names[id];
      m.requests += s.requests;
      m.failures += s.failures;
      m.bytes_in += s.bytes_in;
      m.bytes_out += s.bytes_out;
      m.retries += s.retries;
      m.ok_latency.merge(s.ok_latency);
      m.fail_latency.merge(s.fail_latency);
      m.service.merge(s.service);
      for (std::size_t k = 0; k < stats::kErrorKindCount; ++k) m.by_kind[k] += s.by_kind[k];
      info.aborted += s.by_kind[static_cast<std::size_t>(stats::ErrorKind::kAborted)];
    }
    for (const auto& [key, count] : wp->stats.errors()) {
      const auto& [type, name] = names_.at(key.name_id);
      out.metrics.add_error({type, name, key.kind, stats::error_message(key), count});
    }
    out.metrics.errors_dropped += wp->stats.errors_dropped();
    out.metrics.conditioner_delayed += wp->stats.conditioner_delayed;
    out.metrics.conditioner_dropped += wp->stats.conditioner_dropped;
    if (open) {
      const auto& om = wp->stats.open_model();
      auto& m = out.metrics.open_model;
      m.planned += om.planned;
      m.started += om.started;
      m.queued += om.queued;
      // Iterations still waiting in the backlog when the test ended never started.
      m.dropped += om.dropped + wp->sequencer.backlog();
      m.blocked.merge(om.blocked);
    }
  }
  if (open) {
    auto& m = out.metrics.open_model;
    m.duration_s = info.duration_s;
    m.planned_rate = plan_.pacer->total_hits() / std::max(plan_.pacer->duration_s(), 1e-9);
  }
  out.metrics.sort_errors();
  out.metrics.runs.push_back(info);
  return out;
}

}  // namespace ld::engine
