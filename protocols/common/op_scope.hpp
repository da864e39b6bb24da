#pragma once
// One recorded operation of a protocol session (a request, a connect, a send/receive, a wait):
//
//   OpScope op(w_, step.name_id, planned, step.timeout, kRequestTimedOut);  // stamps start
//   op.arm(conn.op);                  // the deadline is start + timeout (re-arm per connection)
//   ... co_await I/O; op.rec.error = op.error(ec, "I/O error") ...   // timeout if it expired
//   op.finish();                      // disarms, stamps end, aborted-in-flight check, records
//
// The record's planned/start/end are stamped here, the TimedOp armed and disarmed here, and an
// operation the test abandoned (its op expired while the worker is aborting) is recorded as
// engine::kAbortedError here, so every session stamps, times out and aborts the same way.
// Header-only and allocation-free: it lives in the session's coroutine frame on the hot path.
// Every path out of an operation calls stop() or finish(): that is what disarms the op.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/system/error_code.hpp>
#include <cstdint>

#include "common/net_util.hpp"
#include "loaddensity/protocol/protocol.hpp"

namespace ld::proto {

// The timeout failure of one operation ("timed out"); HTTP requests say "request timed out".
inline constexpr stats::ErrorInfo kTimedOut{stats::ErrorKind::kTimeout, "timed out", 0, false};
inline constexpr stats::ErrorInfo kRequestTimedOut{stats::ErrorKind::kTimeout, "request timed out",
                                                   0, false};

class OpScope {
 public:
  // Stamps `planned` and the start (now); the deadline is start + `timeout`. Call arm() to
  // give the deadline to the TimedOp that may cut the operation short.
  OpScope(engine::WorkerContext& w, std::uint32_t name_id, Nanos planned, Nanos timeout,
          const stats::ErrorInfo& timed_out = kTimedOut) noexcept
      : w_(w), timed_out_(timed_out) {
    rec.name_id = name_id;
    rec.planned = planned;
    rec.start = steady_now();
    deadline_ = rec.start + timeout;
  }
  // Arms `op` at the deadline; the op this scope watches from now on (a redirect to another
  // connection arms that connection's op, with the same deadline).
  OpScope(engine::WorkerContext& w, engine::TimedOp& op, std::uint32_t name_id, Nanos planned,
          Nanos timeout, const stats::ErrorInfo& timed_out = kTimedOut) noexcept
      : OpScope(w, name_id, planned, timeout, timed_out) {
    arm(op);
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

  void arm(engine::TimedOp& op) noexcept {
    if (op_ && op_ != &op) op_->disarm();
    op_ = &op;
    op.arm(deadline_);
  }

  // The watched op's deadline passed (the sweeper cut the operation short).
  bool expired() const noexcept { return op_ && op_->expired; }
  // The test abandoned the operation in flight (the sweeper expired it while aborting).
  bool aborted() const noexcept { return expired() && *w_.aborting; }
  const stats::ErrorInfo& timed_out() const noexcept { return timed_out_; }
  // What a failed I/O call means: this operation's timeout when it expired, else classify_error.
  stats::ErrorInfo error(const boost::system::error_code& ec, const char* stage) const noexcept {
    return expired() ? timed_out_ : classify_error(ec, stage);
  }

  // Disarms and stamps the end (once); an aborted operation's error becomes kAbortedError.
  // Returns true when it was aborted.
  bool stop() noexcept {
    if (!stopped_) {
      stopped_ = true;
      if (op_) op_->disarm();
      rec.end = steady_now();
    }
    if (!aborted()) return false;
    rec.error = engine::kAbortedError;
    return true;
  }
  // Records the operation as it stands.
  void record() { w_.record(rec); }
  // stop() + record(). Returns true when the operation succeeded.
  bool finish() {
    stop();
    w_.record(rec);
    return rec.ok();
  }

  stats::Record rec;

 private:
  engine::WorkerContext& w_;
  stats::ErrorInfo timed_out_;
  engine::TimedOp* op_ = nullptr;
  Nanos deadline_ = 0;
  bool stopped_ = false;
};

}  // namespace ld::proto
