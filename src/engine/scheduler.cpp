#include "engine/scheduler.hpp"

#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/detail/concurrency_hint.hpp>
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

// The run context: the inputs and the run-wide state the worker functions read. The control
// thread and every worker thread hold it by shared_ptr (see RunInputs).
struct RunContext {
  explicit RunContext(RunInputs inputs)
      : in(std::move(inputs)),
        plan(in.plan),
        tasks(*in.tasks),
        names(*in.names),
        flows(*in.flows),
        policies(in.policies),
        sources(in.sources),
        alive(plan.model == LoadModel::kOpen ? 0 : plan.users) {}
  ~RunContext() {
    if (end_run_deferred) tasks.end_run();  // the last abandoned worker has ended
  }
  RunContext(const RunContext&) = delete;
  RunContext& operator=(const RunContext&) = delete;

  RunInputs in;
  const PlanConfig& plan;
  CompiledTasks& tasks;
  const NameTable& names;
  const FlowSet& flows;
  const RunPolicies& policies;
  std::size_t sources;
  unsigned nthreads = 1;
  Nanos t0 = 0;
  std::atomic<std::uint32_t> limit{0};           // closed model: users with id < limit run
  std::vector<std::atomic<std::uint8_t>> alive;  // closed model: whether user id is running
  bool end_run_deferred = false;  // set before the control thread lets go (a worker abandoned)
  std::uint32_t keep_bodies = 0;  // record_bodies: bytes of a success's body the record log keeps
};

struct Worker {
  Worker(std::size_t names, std::uint32_t max_users, std::uint32_t max_backlog)
      : stats(names),
        scratch(64 * 1024),
        dispatcher_timer(std::in_place, io),
        sequencer(max_users, max_backlog) {}
  // Handlers still queued (the frames of users that never ended: an overrun drain, an
  // abandoned worker) are destroyed first, while everything they reference is still here.
  ~Worker() {
    dispatcher_timer.reset();
    io_owner.reset();
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // One thread runs this context and only it touches the worker's sockets and timers, so the
  // reactor's per-descriptor locks are off; posting from other threads (hand-offs, OneShot,
  // the offload pool) still goes through the locked scheduler queue.
  std::unique_ptr<net::io_context> io_owner =
      std::make_unique<net::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  net::io_context& io = *io_owner;
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
  // Liveness, read by the control thread: the sweeper stores the time every tick, so a stale
  // value means the thread is blocked; the task index a user last started (what a blocked
  // worker is doing).
  std::atomic<Nanos> heartbeat{0};
  std::atomic<std::size_t> current_task{0};
  std::atomic<bool> abandoned{false};  // the run ended without this worker
  std::shared_ptr<void> log_keep;      // an abandoned worker's record-log writer
  // open model (worker thread only)
  std::optional<net::steady_timer> dispatcher_timer;
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
    dispatcher_timer->cancel();
  }
};

// Everything a user needs to run iterations; lives in the user's coroutine frame.
class UserRun {
 public:
  UserRun(RunContext& run, Worker& w, unsigned thread_index, std::uint32_t user_id)
      : w_(w),
        plan_(run.plan),
        tasks_(run.tasks),
        names_(run.names),
        flows_(run.flows),
        policies_(run.policies),
        slot_(w.io),
        scope_(run.plan.seed + user_id + 1, run.sources),
        ctx_{w.io,        w.stats,      w.sweeper, std::span<char>(w.scratch),
             &w.aborting, thread_index, user_id,   &scope_,
             &outcome_,   w.state.get()} {
    ctx_.service = &service_;
    ctx_.ended = &ended_;
    ctx_.keep_bodies = run.keep_bodies;
    w_.add_slot(&slot_);
    for (auto x : plan_.weights) total_weight_ += x;
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

  // A closed-model lane's loop: it runs iterations while the test runs and `uid` is below the
  // user limit.
  struct ClosedLoop {
    const std::atomic<std::uint32_t>& limit;
    std::uint32_t uid;
  };
  bool go_on(const ClosedLoop& loop) const noexcept {
    return !stopping() && loop.uid < loop.limit.load(std::memory_order_relaxed);
  }

  // One pass over the task list (or one weighted pick), on one lane.
  net::awaitable<void> iteration(Nanos planned) { return iterations(slot_, planned, nullptr); }

  // Iterations on one lane: one (`loop` null: the open model hands them over one at a time),
  // or a closed-model lane's whole loop. The loop lives in this one coroutine, so a request
  // costs no coroutine frame of the engine's: only the session's run_step.
  net::awaitable<void> iterations(UserSlot& lane, Nanos planned, const ClosedLoop* loop) {
    for (;;) {
      service_ = 0;
      // ended_ is the end of the operation that just finished and nothing waited since: the
      // next one was due then, which saves a clock read per request.
      bool fresh = false;
      if (plan_.mode == ScenarioMode::kWeighted) {
        std::uint64_t pick = scope_.next_random() % total_weight_;
        std::size_t i = 0;
        while (pick >= plan_.weights[i]) pick -= plan_.weights[i++];
        co_await task(lane, i, planned);
        if (connect_failed()) co_await connect_backoff(lane);
      } else {
        for (std::size_t i = 0; i < tasks_.size() && !stopping(); ++i) {
          const Nanos at = i == 0 ? planned : fresh ? ended_ : steady_now();
          fresh = false;
          if (flows_.at(i).trivial() && !policies_.conditioner) {
            // The common case costs no extra coroutine frame per request.
            scope_.begin_task();
            outcome_ = stats::ErrorKind::kNone;
            w_.current_task.store(i, std::memory_order_relaxed);
            ended_ = 0;
            co_await session_->run_step(i, at);
            fresh = ended_ != 0;
          } else {
            co_await task(lane, i, at);
          }
          if (connect_failed()) {
            co_await connect_backoff(lane);
            fresh = false;
          }
        }
      }
      if (service_ < 2000) {
        // An iteration that finished without waiting on I/O (every task skipped, or an
        // operation that failed at once) must not starve the other users of this thread. The
        // last record's own stamps tell, so the common case reads no clock here.
        co_await net::post(w_.io, net::use_awaitable);
        fresh = false;
      }
      if (!loop) co_return;
      if (plan_.wait.enabled() && !stopping()) {
        const double s =
            plan_.wait.min_s + (plan_.wait.max_s - plan_.wait.min_s) *
                                   (static_cast<double>(loop->uid * 7919 % 1000) / 1000.0);
        co_await sleep_until(lane, steady_now() + seconds_to_ns(s));
        fresh = false;
      }
      if (!go_on(*loop)) co_return;
      planned = fresh ? ended_ : steady_now();
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
        w_.current_task.store(i, std::memory_order_relaxed);
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
  Nanos service_ = 0;  // the last record's end - start (set by WorkerContext::record)
  Nanos ended_ = 0;    // the last record's end (set by WorkerContext::record)
  WorkerContext ctx_;
  std::unique_ptr<UserSession> session_;
  std::uint64_t total_weight_ = 0;
  std::uint32_t connect_streak_ = 0;  // consecutive failed connects (backoff)
};

// One task loop of a closed-model user: until the test stops or the user's id falls outside
// the user limit.
net::awaitable<void> closed_lane(const RunContext& run, UserRun& u, UserSlot& lane,
                                 std::uint32_t uid) {
  const UserRun::ClosedLoop loop{run.limit, uid};
  if (u.go_on(loop)) co_await u.iterations(lane, steady_now(), &loop);
}

// An extra lane over a multiplexing session; wakes the user's main coroutine when the last
// lane has ended.
net::awaitable<void> extra_closed_lane(const RunContext& run, Worker& w, UserRun& u,
                                       std::uint32_t uid, std::size_t& running,
                                       net::steady_timer& all_done) {
  try {
    UserSlot lane(w.io);
    w.add_slot(&lane);
    try {
      co_await closed_lane(run, u, lane, uid);
    } catch (...) {
    }
    w.remove_slot(&lane);
  } catch (...) {
  }
  if (--running == 0) all_done.cancel();
}

// Closed model: a user and its lanes.
net::awaitable<void> run_closed_user(RunContext& run, Worker& w, unsigned ti, std::uint32_t uid) {
  try {
    UserRun u(run, w, ti, uid);
    u.start();
    // Lane state lives in this frame, which outlives every lane (it waits for them).
    const std::size_t lanes = u.lanes();
    std::size_t running = lanes;
    net::steady_timer all_done(w.io, SteadyTime::max());
    for (std::size_t lane = 1; lane < lanes; ++lane) {
      net::co_spawn(w.io, extra_closed_lane(run, w, u, uid, running, all_done), net::detached);
    }
    try {
      co_await closed_lane(run, u, u.slot(), uid);
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
  run.alive[uid].store(0, std::memory_order_release);
  w.finished.fetch_add(1, std::memory_order_release);
}

// Open model: run the iteration handed over, then whatever the backlog holds, then idle until
// the dispatcher hands over another one.
net::awaitable<void> run_open_user(RunContext& run, Worker& w, unsigned ti, std::uint32_t uid,
                                   std::uint32_t global_id, Nanos planned) {
  try {
    UserRun u(run, w, ti, global_id);
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
net::awaitable<void> run_dispatcher(RunContext& run, Worker& w, unsigned ti) {
  const unsigned nthreads = run.nthreads;
  try {
    for (std::uint64_t k = 0;; ++k) {
      const auto offset = run.plan.pacer->hit_time(k * nthreads + ti);
      if (!offset || w.stopping.load(std::memory_order_relaxed)) break;
      const Nanos planned = run.t0 + *offset;
      if (planned > steady_now()) {
        w.dispatcher_timer->expires_at(to_time_point(planned));
        boost::system::error_code ec;
        co_await w.dispatcher_timer->async_wait(net::redirect_error(net::use_awaitable, ec));
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
          net::co_spawn(w.io, run_open_user(run, w, ti, d.user, d.user * nthreads + ti, planned),
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
net::awaitable<void> run_drain(RunContext& run, Worker& w, unsigned ti) {
  try {
    WorkerContext ctx{w.io, w.stats, w.sweeper, std::span<char>(w.scratch), &w.aborting, ti};
    ctx.worker_state = w.state.get();
    co_await run.tasks.drain_worker(ctx, steady_now() + kDrainTimeout);
  } catch (...) {
    // A drain must not throw; if one does, the worker still ends.
  }
  w.state.reset();
  w.drained.store(true, std::memory_order_release);
}

// Expires timed operations every tick; when the worker's users have all ended it starts the
// drain, and it keeps ticking (the drain's deadlines need it) until the drain returned.
net::awaitable<void> run_sweeper(RunContext& run, Worker& w, unsigned ti) {
  net::steady_timer timer(w.io);
  Nanos next = steady_now();
  bool drain_started = false;
  for (;;) {
    next += DeadlineSweeper::kTick;
    timer.expires_at(to_time_point(next));
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    const Nanos now = steady_now();
    w.heartbeat.store(now, std::memory_order_relaxed);
    w.sweeper.sweep(now, w.aborting);
    if (w.drained.load(std::memory_order_acquire)) co_return;
    if (!drain_started && w.stopping.load(std::memory_order_relaxed) &&
        w.finished.load(std::memory_order_acquire) == w.started.load(std::memory_order_acquire) &&
        (w.dispatcher_done || !w.sequencer.users())) {
      drain_started = true;
      net::co_spawn(w.io, run_drain(run, w, ti), net::detached);
    }
  }
}

// Worker threads that were abandoned and have not ended yet (see abandoned_workers()).
std::atomic<std::size_t> g_abandoned{0};

// Worker lifecycle for abandonment: running until the control thread abandons it or its event
// loop returns, whichever comes first (decided by one compare-exchange).
constexpr int kRunning = 0, kAbandoned = 1, kEnded = 2;

// An abandoned worker's results as its answered intervals reported them: counts and bytes are
// exact; latencies come from the live histogram (3%), the fastest operations taken as the
// successes. Its per-thread totals cannot be read (its thread may wake at any time).
void fold_live_name(const stats::LiveName& live, stats::NameMetrics& m) {
  m.requests += live.requests;
  m.failures += live.failures;
  m.bytes_in += live.bytes_in;
  m.bytes_out += live.bytes_out;
  for (std::size_t k = 0; k < stats::kErrorKindCount; ++k) m.by_kind[k] += live.by_kind[k];
  std::uint64_t ok_left = live.requests - live.failures;
  const auto& buckets = live.latency.buckets();
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    const std::uint64_t n = buckets[b];
    if (n == 0) continue;
    const auto v = static_cast<Nanos>(stats::LiveHistogram::bucket_value_us(b) * 1000);
    const std::uint64_t ok = std::min(ok_left, n);
    ok_left -= ok;
    if (ok) m.ok_latency.record_n(v, ok);
    if (n > ok) m.fail_latency.record_n(v, n - ok);
    m.service.record_n(v, n);
  }
}

}  // namespace

std::size_t abandoned_workers() noexcept { return g_abandoned.load(); }

Scheduler::Scheduler(RunInputs inputs) : in_(std::move(inputs)) {}

Scheduler::Scheduler(const PlanConfig& plan, CompiledTasks& tasks, const NameTable& names,
                     const FlowSet& flows, const RunPolicies& policies, std::size_t source_count)
    : owning_(false) {
  // Not owned: aliasing pointers that keep nothing alive.
  in_.plan = plan;
  in_.tasks = std::shared_ptr<CompiledTasks>(std::shared_ptr<CompiledTasks>(), &tasks);
  in_.names = std::shared_ptr<const NameTable>(std::shared_ptr<const NameTable>(), &names);
  in_.flows = std::shared_ptr<const FlowSet>(std::shared_ptr<const FlowSet>(), &flows);
  in_.policies = policies;
  in_.sources = source_count;
}

RunOutcome Scheduler::run(const std::atomic<bool>& interrupt, ProgressSink* progress) {
  RunOutcome out;
  auto run = std::make_shared<RunContext>(in_);
  const PlanConfig& plan = run->plan;
  CompiledTasks& tasks = run->tasks;
  const NameTable& names = run->names;
  const bool open = plan.model == LoadModel::kOpen;
  const unsigned nthreads = std::max(1u, plan.threads);
  run->nthreads = nthreads;
  run->limit.store(plan.users);
  tasks.start_run(nthreads);  // per-run resources; throws before any thread starts
  const std::uint32_t per_worker_users = (plan.users + nthreads - 1) / nthreads;
  std::vector<std::shared_ptr<Worker>> workers;
  // kRunning / kAbandoned / kEnded per worker; shared with the threads, which may outlive run()
  auto fate = std::make_shared<std::vector<std::atomic<int>>>(nthreads);
  for (unsigned i = 0; i < nthreads; ++i) {
    workers.push_back(std::make_shared<Worker>(names.size(), per_worker_users,
                                               (plan.max_backlog + nthreads - 1) / nthreads));
  }
  std::vector<stats::RecordLogWriter*> log_writers(nthreads, nullptr);
  if (record_log_) {
    run->keep_bodies = static_cast<std::uint32_t>(record_log_->body_cap());
    for (unsigned i = 0; i < nthreads; ++i) {
      log_writers[i] = &record_log_->writer(i);
      workers[i]->stats.attach_log(log_writers[i]);
    }
  }

  stats::RunInfo info;
  info.started_at = local_iso_now();
  info.user = plan.user_type;
  info.users = plan.users;
  info.spawn_rate = plan.spawn_rate;
  info.test_time_s = plan.test_time_s;
  info.threads = nthreads;
  const std::string shape_name = plan.load_shape.empty() ? "" : ":" + plan.load_shape;
  info.load_model = (open ? "open" : "closed") + shape_name;
  info.shape = plan.load_shape;

  using Guard = net::executor_work_guard<net::io_context::executor_type>;
  std::vector<std::optional<Guard>> guards(nthreads);
  run->t0 = steady_now() + (open ? 20 * kNanosPerMilli : 0);  // let threads start first
  const Nanos t0 = run->t0;
  for (unsigned i = 0; i < nthreads; ++i) {
    Worker& w = *workers[i];
    w.heartbeat.store(steady_now(), std::memory_order_relaxed);
    guards[i].emplace(w.io.get_executor());
    // The protocol's per-worker state exists before the first user of the worker.
    net::post(w.io, [&w, i, &tasks] {
      WorkerContext ctx{w.io, w.stats, w.sweeper, std::span<char>(w.scratch), &w.aborting, i};
      w.state = tasks.new_worker_state(ctx);
    });
    net::co_spawn(w.io, run_sweeper(*run, w, i), net::detached);
    if (open) net::co_spawn(w.io, run_dispatcher(*run, w, i), net::detached);
    // The thread shares the worker and the run context: abandoned, it ends on its own.
    w.thread = std::thread([wp = workers[i], ctx = run, fate, i]() mutable {
      wp->io.run();
      int expected = kRunning;
      const bool abandoned = !(*fate)[i].compare_exchange_strong(expected, kEnded);
      wp.reset();  // an abandoned worker is destroyed here, by its own thread
      ctx.reset();
      fate.reset();
      if (abandoned) g_abandoned.fetch_sub(1);
    });
  }

  Nanos end_at = plan.test_time_s > 0 ? t0 + seconds_to_ns(plan.test_time_s) : 0;
  if (open) {
    const Nanos pacer_end = t0 + seconds_to_ns(plan.pacer->duration_s());
    end_at = end_at ? std::min(end_at, pacer_end) : pacer_end;
  }
  if (plan.shape && !plan.test_time_explicit) end_at = 0;  // the shape decides when to stop
  const Nanos hard_at = plan.hard_timeout_s > 0 ? t0 + seconds_to_ns(plan.hard_timeout_s) : 0;

  std::uint32_t spawned = 0;  // closed model, control thread only
  std::uint32_t peak_users = 0;
  Nanos last_interval = t0;
  std::uint64_t total_requests = 0, total_failures = 0;

  auto gone = [&](unsigned i) { return (*fate)[i].load(std::memory_order_relaxed) == kAbandoned; };
  auto running_users = [&] {
    std::uint32_t s = 0, f = 0;
    for (unsigned i = 0; i < nthreads; ++i) {
      if (gone(i)) continue;
      s += workers[i]->started.load(std::memory_order_acquire);
      f += workers[i]->finished.load(std::memory_order_acquire);
    }
    return s - f;
  };

  // Live statistics: running per-name totals, published with each interval.
  stats::LiveFeed local_feed;
  stats::LiveFeed& feed = live_feed_ ? *live_feed_ : local_feed;
  if (progress) feed.add_observer(progress);
  // The feed may be the caller's and outlive this run: the progress sink leaves it on every
  // way out.
  struct ObserverGuard {
    stats::LiveFeed& feed;
    stats::LiveObserver* o;
    ~ObserverGuard() {
      if (o) feed.remove_observer(o);
    }
  } progress_guard{feed, progress};
  auto live_names = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
  for (std::uint32_t id = 0; id < names.size(); ++id) live_names->push_back(names.at(id));
  std::vector<stats::LiveName> live_totals(names.size());
  // Per worker, what its intervals reported: the results of a worker that gets abandoned.
  std::vector<std::vector<stats::LiveName>> worker_totals(owning_ ? nthreads : 0);
  for (auto& t : worker_totals) t.resize(names.size());
  std::uint64_t live_sequence = 0;

  // The interval hand-off is bounded: a worker that does not answer within kHandOffWait (a
  // protocol blocked its thread) keeps its hand-off outstanding and is folded in by a later
  // interval, so the progress line, the failure budget and the watchdog keep running. The
  // hand-off is shared with the posted handler, which may run after run() returned.
  struct HandOff {
    std::promise<stats::IntervalStats*> promise;
    std::future<stats::IntervalStats*> future;
    bool outstanding = false;
  };
  std::vector<std::shared_ptr<HandOff>> hand_offs;
  for (unsigned i = 0; i < nthreads; ++i) hand_offs.push_back(std::make_shared<HandOff>());
  constexpr auto kHandOffWait = std::chrono::milliseconds(200);

  auto collect = [&](Nanos now, bool final) {
    stats::IntervalStats merged;
    auto snap = std::make_shared<stats::LiveSnapshot>();
    snap->interval.resize(names.size());
    auto request = [&](unsigned i) {
      Worker& w = *workers[i];
      const std::shared_ptr<HandOff>& h = hand_offs[i];
      if (h->outstanding) return;
      h->promise = std::promise<stats::IntervalStats*>();
      h->future = h->promise.get_future();
      h->outstanding = true;
      net::post(w.io, [&w, h] { h->promise.set_value(&w.stats.retire_interval()); });
    };
    auto take = [&](unsigned i) {
      HandOff& h = *hand_offs[i];
      stats::IntervalStats* retired = h.future.get();
      h.outstanding = false;
      merged.merge(*retired);
      for (std::size_t id = 0; id < retired->names.size(); ++id) {
        if (!retired->names[id].requests) continue;
        snap->interval[id].merge(retired->names[id]);
        if (owning_) worker_totals[i][id].merge(retired->names[id]);
      }
      retired->reset();
    };
    if (final) {
      // Every user has ended: each worker still with the run answers. A hand-off still
      // outstanding from an earlier interval is taken first, then the interval since it.
      for (unsigned i = 0; i < nthreads; ++i) {
        if (gone(i)) continue;
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
    last_interval = now;
    snap->sequence = ++live_sequence;
    snap->elapsed_s = pt.t_s;
    snap->interval_s = pt.seconds;
    snap->test_time_s = end_at ? static_cast<double>(end_at - t0) / 1e9 : 0;
    snap->users = pt.users;
    snap->target_users = open ? plan.users : run->limit.load();
    snap->final = final;
    snap->names = live_names;
    snap->total = live_totals;
    snap->interval_requests = merged.requests;
    snap->interval_failures = merged.failures;
    snap->interval_latency = std::move(merged.latency);
    snap->total_requests = total_requests;
    snap->total_failures = total_failures;
    feed.publish(std::move(snap));
    return IntervalCounts{pt.requests, pt.failures};
  };

  // --- the control loop: a user driver and a list of stop conditions, on the steady clock.
  StopConditions stops;
  stops.push_back(stop_on_interrupt(interrupt));
  if (hard_at) stops.push_back(stop_at(hard_at, "hard_timeout"));
  if (end_at) stops.push_back(stop_at(end_at, "test_time"));
  if (external_ && !open && !plan.shape) {
    stops.push_back(stop_on_flag(external_->stop, "stopped_by_master"));
  }
  if (run->policies.failure_budget) {
    stops.push_back(stop_on_failure_budget(*run->policies.failure_budget));
  }
  std::unique_ptr<UserDriver> driver = open         ? paced_users()
                                       : plan.shape ? shaped_users(*plan.shape, plan.users)
                                       : external_  ? external_users(*external_, plan.users)
                                                    : closed_users(plan.users, plan.spawn_rate);
  ControlHooks hooks;
  hooks.spawn = [&](std::uint32_t target, std::uint32_t max_new) {
    run->limit.store(target, std::memory_order_relaxed);
    std::uint32_t n = 0;
    for (std::uint32_t id = 0; id < target && n < max_new; ++id) {
      if (run->alive[id].load(std::memory_order_acquire)) continue;
      run->alive[id].store(1, std::memory_order_release);
      const unsigned ti = id % nthreads;
      Worker& w = *workers[ti];
      w.started.fetch_add(1, std::memory_order_release);
      ++n;
      net::co_spawn(w.io, run_closed_user(*run, w, ti, id), net::detached);
    }
    spawned += n;
    return n;
  };
  hooks.collect = [&](Nanos now) { return collect(now, false); };
  const SteadyClock clock;
  out.stop_reason =
      ControlLoop(clock, t0, plan.users, std::move(driver), std::move(stops), hooks).run();

  // --- stop: users finish their current operation, for at most graceful_stop (and never
  // longer than the longest task timeout); what is still in flight then is abandoned and
  // recorded as `aborted`.
  const Nanos stopped_at = steady_now();
  for (auto& wp : workers) {
    Worker& w = *wp;
    w.stopping.store(true);
    net::post(w.io, [&w] { w.wake_all(); });
  }
  const bool abort_now = out.stop_reason == "interrupted" || out.stop_reason == "hard_timeout" ||
                         out.stop_reason.rfind("failure_budget", 0) == 0;
  const Nanos grace =
      std::min(tasks.max_timeout() + kNanosPerSecond, seconds_to_ns(plan.graceful_stop_s));
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

  // A worker whose thread has not come back to its event loop for kStuckAfter once in-flight
  // work is aborted is abandoned (when the inputs are shared): the run does not wait for it.
  // Its users still running count as aborted operations of the task it was running; it gets
  // its own record-log writer, stops at its next return to the event loop and frees itself.
  struct Left {
    std::uint32_t in_flight = 0;
    std::size_t task = 0;
    Nanos last_seen = 0;
  };
  std::vector<Left> left(nthreads);
  std::size_t abandoned = 0;
  auto stuck = [&](unsigned i, Nanos now) {
    return owning_ && !gone(i) &&
           now - workers[i]->heartbeat.load(std::memory_order_relaxed) > kStuckAfter;
  };
  auto abandon = [&](unsigned i) {
    Worker& w = *workers[i];
    g_abandoned.fetch_add(1);
    int expected = kRunning;
    if (!(*fate)[i].compare_exchange_strong(expected, kAbandoned)) {
      g_abandoned.fetch_sub(1);  // its event loop returned just now: it is joined as usual
      return;
    }
    left[i].in_flight = w.started.load() - w.finished.load();
    left[i].task = w.current_task.load(std::memory_order_relaxed);
    left[i].last_seen = w.heartbeat.load(std::memory_order_relaxed);
    if (log_writers[i]) w.log_keep = record_log_->abandon(*log_writers[i]);
    guards[i].reset();
    w.io.stop();
    w.thread.detach();
    run->end_run_deferred = true;  // the last thread to let go of the run ends it
    ++abandoned;
  };
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
      } else if (now - stopped_at >= grace) {
        abort_all();
      }
    } else {
      for (unsigned i = 0; i < nthreads; ++i) {
        if (stuck(i, now) && workers[i]->started.load() != workers[i]->finished.load()) {
          abandon(i);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // The protocols' drain (flush, disconnect), bounded: a worker whose drain overran is stopped,
  // one whose thread is blocked in it is abandoned.
  const Nanos drain_until = steady_now() + kDrainTimeout + kNanosPerSecond;
  for (unsigned i = 0; i < nthreads; ++i) {
    while (!gone(i) && !workers[i]->drained.load(std::memory_order_acquire)) {
      const Nanos now = steady_now();
      if (now >= drain_until) break;
      if (stuck(i, now)) {
        abandon(i);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  const Nanos t_end = steady_now();
  collect(t_end, true);
  for (unsigned i = 0; i < nthreads; ++i) {
    if (gone(i)) continue;
    Worker& w = *workers[i];
    guards[i].reset();
    if (!w.drained.load(std::memory_order_acquire)) w.io.stop();  // its drain overran
    w.thread.join();
  }
  if (abandoned == 0) tasks.end_run();
  if (progress) progress->finish();

  // --- fold the per-thread totals into this run's metrics (threads have joined: no races).
  info.duration_s = static_cast<double>(stopped_at - t0) / 1e9;
  info.wall_s = static_cast<double>(t_end - t0) / 1e9;
  info.graceful_stop_s = static_cast<double>(grace) / 1e9;
  info.stop_reason = out.stop_reason;
  info.users = std::max(peak_users, open ? 0u : std::min(spawned, plan.users));
  for (unsigned i = 0; i < nthreads; ++i) {
    if (gone(i)) {
      // What its intervals reported, then its in-flight operations as aborted.
      static constexpr const char* kLost =
          "details unavailable: the worker thread was abandoned while blocked";
      for (std::uint32_t id = 0; id < worker_totals[i].size(); ++id) {
        const stats::LiveName& live = worker_totals[i][id];
        if (live.requests == 0) continue;
        const auto& [type, name] = names.at(id);
        fold_live_name(live, out.metrics.name_slot(type, name));
        for (std::size_t k = 1; k < stats::kErrorKindCount; ++k) {
          if (live.by_kind[k]) {
            out.metrics.add_error(
                {type, name, static_cast<stats::ErrorKind>(k), kLost, live.by_kind[k]});
          }
        }
        info.aborted += live.by_kind[static_cast<std::size_t>(stats::ErrorKind::kAborted)];
      }
      if (const std::uint32_t n = left[i].in_flight; n > 0 && tasks.size() > 0) {
        const auto& [type, name] = names.at(tasks.name_id(left[i].task % tasks.size()));
        stats::NameMetrics& m = out.metrics.name_slot(type, name);
        const Nanos elapsed = std::max<Nanos>(0, t_end - left[i].last_seen);
        m.requests += n;
        m.failures += n;
        m.by_kind[static_cast<std::size_t>(stats::ErrorKind::kAborted)] += n;
        m.fail_latency.record_n(elapsed, n);
        m.service.record_n(elapsed, n);
        out.metrics.add_error({type, name, stats::ErrorKind::kAborted,
                               std::string(kAbortedError.what) + " (worker thread blocked)", n});
        info.aborted += n;
      }
      continue;
    }
    Worker& w = *workers[i];
    const auto& wnames = w.stats.names();
    for (std::uint32_t id = 0; id < wnames.size(); ++id) {
      if (wnames[id].requests == 0 && wnames[id].retries == 0) continue;
      const auto& [type, name] = names.at(id);
      stats::NameMetrics& m = out.metrics.name_slot(type, name);
      const stats::NameStats& s = wnames[id];
      m.requests += s.requests;
      m.failures += s.failures;
      m.bytes_in += s.bytes_in;
      m.bytes_out += s.bytes_out;
      m.retries += s.retries;
      m.messages_out += s.messages_out;
      m.messages_in += s.messages_in;
      m.ok_latency.merge(s.ok_latency);
      m.fail_latency.merge(s.fail_latency);
      m.service.merge(s.service);
      for (std::size_t k = 0; k < stats::kErrorKindCount; ++k) m.by_kind[k] += s.by_kind[k];
      info.aborted += s.by_kind[static_cast<std::size_t>(stats::ErrorKind::kAborted)];
    }
    for (const auto& [key, count] : w.stats.errors()) {
      const auto& [type, name] = names.at(key.name_id);
      out.metrics.add_error({type, name, key.kind, stats::error_message(key), count});
    }
    out.metrics.errors_dropped += w.stats.errors_dropped();
    out.metrics.conditioner_delayed += w.stats.conditioner_delayed;
    out.metrics.conditioner_dropped += w.stats.conditioner_dropped;
    const auto counters = stats::registered_counters();
    for (std::size_t c = 0; c < counters.size(); ++c) {
      out.metrics.add_counter(counters[c].protocol, counters[c].name,
                              w.stats.counter(static_cast<stats::CounterId>(c)));
    }
    if (open) {
      const auto& om = w.stats.open_model();
      auto& m = out.metrics.open_model;
      m.planned += om.planned;
      m.started += om.started;
      m.queued += om.queued;
      // Iterations still waiting in the backlog when the test ended never started.
      m.dropped += om.dropped + w.sequencer.backlog();
      m.blocked.merge(om.blocked);
    }
  }
  if (open) {
    auto& m = out.metrics.open_model;
    m.duration_s = info.duration_s;
    m.planned_rate = plan.pacer->total_hits() / std::max(plan.pacer->duration_s(), 1e-9);
  }
  out.metrics.sort_errors();
  out.metrics.runs.push_back(info);
  return out;
}

}  // namespace ld::engine
