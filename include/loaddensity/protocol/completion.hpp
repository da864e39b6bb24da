#pragma once
// Completion for coroutines of a virtual user: from other threads, for clients that own threads
// or block (gRPC completion queues, librdkafka callbacks, blocking drivers), and on the
// worker itself. Four tools, all resuming the virtual user on its own worker thread:
//
//   Park        the single-thread case: a coroutine waits until code on the same worker (a
//               reader that decoded its answer, the DeadlineSweeper) resumes it, later from
//               the event loop (wake) or at once on the caller's stack (resume_now). No
//               atomics, no lock; the HTTP/2 lanes wait on their streams with it, and OneShot
//               and Inbox park their waiter in one.
//   OneShot<T>  a result that any thread may deliver once; the waiting user gives up at its
//               deadline (the worker's DeadlineSweeper expires it) and a late delivery is
//               dropped: it never resumes a coroutine that has moved on.
//   Inbox<T>    a bounded queue of messages (MQTT messages, Kafka records) that other threads
//               push and one user awaits, with a deadline; overflow is dropped and counted.
//   OffloadPool a bounded per-run thread pool: `co_await pool.run(worker, fn)` runs a blocking
//               call on it and resumes the user on its worker, reporting how long the call
//               waited for a free pool thread (blocked time).
//
// Lifetimes: producers (completers, pushers, pool threads) must be stopped before the run's
// worker io_contexts go away, which is what a protocol's end-of-run drain does. A OneShot or
// Inbox lives in the waiting user's session (or coroutine frame); its shared state outlives it
// while a producer still holds it.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <atomic>
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "loaddensity/protocol/protocol.hpp"

namespace ld::engine {

namespace detail {

// A parked coroutine's thread of execution (its stack of awaitable frames), resumed by calling
// it once.
class Waiter : public net::detail::awaitable_thread<net::any_io_executor> {
 public:
  explicit Waiter(net::detail::awaitable_thread<net::any_io_executor>* t)
      : awaitable_thread(std::move(*t)) {}
  void operator()() {
    this->top_of_stack_->attach_thread(this);
    this->pump();
  }
};

// Suspends the calling coroutine until `slot` is resumed. Awaiting a function of the frame is
// how Asio's own initiations detach a coroutine's thread; doing it directly skips the extra
// coroutine frame an `async_initiate` costs, so parking allocates nothing.
struct ParkAwait {
  std::optional<Waiter>* slot;
  template <class Frame>
  Waiter* operator()(Frame* frame) const {
    slot->emplace(frame->detach_thread());
    return nullptr;
  }
};
inline ParkAwait park(std::optional<Waiter>& slot) { return ParkAwait{&slot}; }

}  // namespace detail

// One parked coroutine, resumed by code on its own worker thread. Not thread-safe: every call
// happens on the worker (another thread hands over through OneShot or Inbox instead).
class Park {
 public:
  // Suspends the calling coroutine until wake() or resume_now(). One waiter at a time.
  auto wait() { return detail::park(waiter_); }
  bool parked() const noexcept { return waiter_.has_value(); }
  // Resumes the waiter later, from `io`'s event loop: safe from callbacks that must not run the
  // coroutine on their stack (a codec callback, the sweeper). Nothing when none is parked.
  void wake(net::io_context& io) {
    if (!waiter_) return;
    net::post(io, [h = std::move(*waiter_)]() mutable { h(); });
    waiter_.reset();
  }
  // Resumes the waiter now, on this stack; it runs until it suspends again (a batch of finished
  // streams is resumed this way, without a post each). Nothing when none is parked.
  void resume_now() {
    if (!waiter_) return;
    detail::Waiter h = std::move(*waiter_);
    waiter_.reset();
    h();
  }
  // Lets the parked coroutine go without resuming it: its frames are destroyed through its
  // executor (what happens to a handler whose operation is abandoned at shutdown).
  void release() noexcept { waiter_.reset(); }

 private:
  std::optional<detail::Waiter> waiter_;
};

template <class T>
class OneShot {
  enum Phase : int { kPending = 0, kWriting, kReady, kExpired };

  struct State {
    explicit State(net::io_context& i) : io(i) {}
    net::io_context& io;
    std::atomic<int> phase{kPending};
    std::optional<T> value;
    Park waiter;                          // worker thread only
    TimedOp op;                           // worker thread only
    bool delivered = false;               // worker thread only
  };

 public:
  // Hands the result over; may be called from any thread, at most once usefully.
  class Completer {
   public:
    Completer() = default;
    // True when the value was taken; false when it came too late (expired, cancelled, or
    // already completed): the caller may release what it would have handed over.
    bool complete(T value) const {
      if (!state_) return false;
      int expected = kPending;
      if (!state_->phase.compare_exchange_strong(expected, kWriting,
                                                 std::memory_order_acq_rel)) {
        return false;
      }
      state_->value.emplace(std::move(value));
      state_->phase.store(kReady, std::memory_order_release);
      net::post(state_->io, [s = state_] {
        s->delivered = true;
        s->waiter.wake(s->io);
      });
      return true;
    }

   private:
    friend class OneShot;
    explicit Completer(std::shared_ptr<State> s) : state_(std::move(s)) {}
    std::shared_ptr<State> state_;
  };

  explicit OneShot(WorkerContext& w) : w_(w), state_(std::make_shared<State>(w.io)) {
    state_->op.on_expire = &OneShot::expire;
    state_->op.self = state_.get();
    w.deadlines.add(&state_->op);
  }
  ~OneShot() {
    cancel();
    w_.deadlines.remove(&state_->op);
  }
  OneShot(const OneShot&) = delete;
  OneShot& operator=(const OneShot&) = delete;

  Completer completer() const { return Completer(state_); }

  // Waits (on the worker) until the value arrives or `deadline` (steady ns) passes; std::nullopt
  // when it expired (or the test was aborted). Call once per OneShot.
  net::awaitable<std::optional<T>> wait(Nanos deadline) {
    State& s = *state_;
    // Not "phase == kPending": a completer between its claim (kWriting) and its post must be
    // waited for too, or the value it is writing would be missed.
    if (!s.delivered && s.phase.load(std::memory_order_acquire) != kExpired) {
      s.op.arm(deadline);
      // Parks until the completer's post or the sweeper resumes it.
      while (s.phase.load(std::memory_order_acquire) != kExpired && !s.delivered) {
        co_await s.waiter.wait();
      }
      s.op.disarm();
    }
    if (s.phase.load(std::memory_order_acquire) == kReady) co_return std::move(s.value);
    co_return std::nullopt;
  }

  // Later completions are dropped (and the completer told so).
  void cancel() noexcept {
    int expected = kPending;
    state_->phase.compare_exchange_strong(expected, kExpired, std::memory_order_acq_rel);
  }

 private:
  static void expire(void* self) noexcept {
    auto* s = static_cast<State*>(self);
    int expected = kPending;
    // A completion that already claimed the slot wins; its post resumes the waiter.
    if (s->phase.compare_exchange_strong(expected, kExpired, std::memory_order_acq_rel)) {
      s->waiter.wake(s->io);
    }
  }

  WorkerContext& w_;
  std::shared_ptr<State> state_;
};

template <class T>
class Inbox {
  struct State {
    explicit State(net::io_context& i, std::size_t cap) : io(i), capacity(cap) {}
    net::io_context& io;
    const std::size_t capacity;
    std::mutex mu;
    std::deque<T> queue;                  // guarded by mu
    bool waiting = false;                 // guarded by mu: a consumer is parked
    bool closed = false;                  // guarded by mu
    std::uint64_t dropped = 0;            // guarded by mu: pushes refused because full
    Park waiter;                          // worker thread only
    TimedOp op;                           // worker thread only
  };

 public:
  // The producer's handle; copyable, usable from any thread.
  class Sender {
   public:
    Sender() = default;
    // False when the inbox is full (the message is dropped and counted) or closed.
    bool push(T value) const {
      std::unique_lock<std::mutex> lock(state_->mu);
      if (state_->closed) return false;
      if (state_->queue.size() >= state_->capacity) {
        ++state_->dropped;
        return false;
      }
      state_->queue.push_back(std::move(value));
      if (!state_->waiting) return true;
      state_->waiting = false;
      lock.unlock();
      net::post(state_->io, [s = state_] { s->waiter.wake(s->io); });
      return true;
    }

   private:
    friend class Inbox;
    explicit Sender(std::shared_ptr<State> s) : state_(std::move(s)) {}
    std::shared_ptr<State> state_;
  };

  Inbox(WorkerContext& w, std::size_t capacity)
      : w_(w), state_(std::make_shared<State>(w.io, capacity)) {
    state_->op.on_expire = &Inbox::expire;
    state_->op.self = state_.get();
    w.deadlines.add(&state_->op);
  }
  ~Inbox() {
    close();
    w_.deadlines.remove(&state_->op);
  }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  Sender sender() const { return Sender(state_); }

  // The next message, or std::nullopt at `deadline` (steady ns) or once closed and empty.
  net::awaitable<std::optional<T>> next(Nanos deadline) {
    State& s = *state_;
    s.op.arm(deadline);
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(s.mu);
        if (!s.queue.empty()) {
          T v = std::move(s.queue.front());
          s.queue.pop_front();
          s.waiting = false;
          s.op.disarm();
          co_return v;
        }
        if (s.closed || s.op.expired) {
          s.waiting = false;
          s.op.disarm();
          co_return std::nullopt;
        }
        s.waiting = true;
      }
      co_await s.waiter.wait();
    }
  }

  std::uint64_t dropped() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->dropped;
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->queue.size();
  }
  void close() {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->closed = true;
  }

 private:
  static void expire(void* self) noexcept {
    auto* s = static_cast<State*>(self);
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->waiting = false;
    }
    s->waiter.wake(s->io);
  }

  WorkerContext& w_;
  std::shared_ptr<State> state_;
};

// A bounded pool of threads for blocking calls (a SQLite step, a driver without an async API).
// One per run, shared by every worker; stop() joins the threads (the end-of-run drain).
class OffloadPool {
 public:
  explicit OffloadPool(unsigned threads);
  ~OffloadPool() { stop(); }
  OffloadPool(const OffloadPool&) = delete;
  OffloadPool& operator=(const OffloadPool&) = delete;

  // Runs `fn` on a pool thread and resumes on the user's worker with its result. `blocked`
  // receives how long the call waited for a free pool thread (ns). `fn` must not throw.
  template <class Fn>
  net::awaitable<std::invoke_result_t<Fn&>> run(WorkerContext& w, Fn fn, Nanos* blocked) {
    using R = std::invoke_result_t<Fn&>;
    OneShot<R> done(w);
    const Nanos queued = steady_now();
    submit([c = done.completer(), f = std::move(fn), queued, blocked]() mutable {
      if (blocked) *blocked = steady_now() - queued;  // read after the completion resumes
      c.complete(f());
    });
    std::optional<R> r = co_await done.wait(0);
    co_return std::move(*r);
  }

  void stop();
  unsigned threads() const noexcept { return static_cast<unsigned>(threads_.size()); }

 private:
  void submit(std::function<void()> job);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace ld::engine
