#pragma once
// The protocol interface. A protocol (one folder under protocols/) compiles the task list of an
// LD_start_test once, then creates one UserSession per virtual user on that user's worker
// thread. The engine only calls these three virtuals; it knows nothing of HTTP, sockets or
// frames, so adding a protocol never touches the engine.
//
// Threading: compile() runs on the control thread before the run; new_user(), run_step() and
// shutdown() run on the user's worker thread only. CompiledTasks is read-only during the run.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "loaddensity/core/clock.hpp"
#include "loaddensity/core/json.hpp"
#include "loaddensity/stats/record.hpp"

namespace boost::asio {
class io_context;
}

namespace ld::stats {
class WorkerStats;
}
namespace ld::action {
struct Param;
}
namespace ld::params {
class Resolver;
class UserScope;
struct ParseContext;
}  // namespace ld::params

namespace ld::engine {

namespace net = boost::asio;

class DeadlineSweeper;

// Names that results are grouped by: (request_type, name) pairs, fixed before the run.
class NameTable {
 public:
  std::uint32_t intern(const std::string& request_type, const std::string& name);
  std::size_t size() const noexcept { return entries_.size(); }
  const std::pair<std::string, std::string>& at(std::uint32_t id) const { return entries_[id]; }
  // The static URL requests of name `id` go to (for per-request reports). The first URL set
  // for a name is kept; returns false when `url` differs from it, so the caller reports its
  // URL with each record instead.
  bool set_url(std::uint32_t id, const std::string& url);
  // "" when no URL was set.
  const std::string& url(std::uint32_t id) const noexcept;

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
  std::vector<std::string> urls_;
};

// An operation still in flight when the test abandoned it (graceful stop over, watchdog,
// Ctrl-C): a failure with its elapsed time, so a silent server cannot pass a gate.
inline constexpr stats::ErrorInfo kAbortedError{stats::ErrorKind::kAborted,
                                               "abandoned in flight at the end of the test", 0,
                                               false};

// What a user may touch on its worker thread.
struct WorkerContext {
  net::io_context& io;
  stats::WorkerStats& stats;
  DeadlineSweeper& deadlines;
  std::span<char> scratch;  // per-thread read buffer, valid between suspension points only
  // True once in-flight work is abandoned: an operation cut short then records kAbortedError.
  const bool* aborting = nullptr;
  unsigned thread_index = 0;
  std::uint32_t user_id = 0;
  params::UserScope* scope = nullptr;        // this user's variables, rows and randomness
  stats::ErrorKind* outcome = nullptr;       // the engine reads the last record's error kind
  // The protocol's per-worker state (CompiledTasks::new_worker_state), shared by every user of
  // this worker; null when the protocol keeps none.
  void* worker_state = nullptr;
  // LD_start_test `record_bodies`: bytes of a success's body and headers the record log keeps
  // (Record::text / Record::headers); 0 = none, so a session sets them only when this is set.
  std::uint32_t keep_bodies = 0;
  Nanos* service = nullptr;  // the engine reads the last record's service time (end - start)
  Nanos* ended = nullptr;    // the engine reads the last record's end

  // Records an operation: per-thread stats, and the outcome the engine's retry logic reads.
  void record(const stats::Record& r);
  // Error text made at run time, as a `what` pointer that outlives the run (bounded store;
  // see stats::intern_error_text). Failure paths only.
  const char* intern(std::string_view text);
};

struct CompileContext {
  const params::Resolver& resolver;
  NameTable& names;
  std::string host;  // LD_start_test `host` (base URL for relative task URLs), may be empty
  const Json& options;  // every LD_start_test argument, for protocol extras
  // Variables some task extracts: placeholders naming them are rendered per request.
  const std::set<std::string>* user_vars = nullptr;
  params::ParseContext parse_context() const;
};

class UserSession {
 public:
  virtual ~UserSession() = default;
  // Runs task `index` once and records its outcome into the worker's stats. Never throws.
  // `planned` is when the operation was meant to start (steady ns).
  virtual net::awaitable<void> run_step(std::size_t index, Nanos planned) = 0;
  // Closes connections; called on the worker thread before the session is destroyed.
  virtual void shutdown() noexcept {}
  // How many task loops the engine runs over this one session at the same time (each loop
  // calls run_step independently). 1 = one operation at a time; a multiplexing protocol
  // (HTTP/2 streams) returns more. Fixed for the session's life.
  virtual std::size_t concurrency() const noexcept { return 1; }
};

class CompiledTasks {
 public:
  virtual ~CompiledTasks() = default;
  virtual std::size_t size() const noexcept = 0;
  // Longest time an in-flight operation may still take once the test stops (its timeout).
  virtual Nanos max_timeout() const noexcept = 0;
  // The NameTable id results of task `i` are grouped by (its name, else its URL or target);
  // the engine uses it for retries and the network conditioner's filter.
  virtual std::uint32_t name_id(std::size_t i) const noexcept = 0;
  virtual std::unique_ptr<UserSession> new_user(WorkerContext& worker) = 0;

  // --- lifecycle of a run (every step optional; the engine calls them in this order)
  // Per-run resources (a gRPC channel, a Kafka producer, a client pool), on the control thread
  // before any worker starts. An exception fails the test before any request.
  virtual void start_run(unsigned worker_threads) {}
  // Per-worker state, on the worker thread before its first user; sessions reach it through
  // WorkerContext::worker_state. Lives until the worker has drained.
  virtual std::shared_ptr<void> new_worker_state(WorkerContext& worker) { return nullptr; }
  // After the last user of a worker ended: flush and disconnect, on the worker thread, and be
  // done by `deadline` (steady ns). Records made here count. The engine stops waiting at the
  // deadline (and then abandons the worker's pending operations), so a drain cannot hang a run.
  virtual net::awaitable<void> drain_worker(WorkerContext& worker, Nanos deadline) { co_return; }
  // After every worker drained and its thread joined, on the control thread.
  virtual void end_run() noexcept {}
};

// How long the engine waits for the protocols' drain at the end of a test.
inline constexpr Nanos kDrainTimeout = 5 * kNanosPerSecond;

class Protocol {
 public:
  virtual ~Protocol() = default;
  // user_detail_dict["user"] values this protocol serves ("fast_http_user", ...).
  virtual std::vector<std::string> user_types() const = 0;
  // The LD_start_test options this protocol reads, declared as data (name, type, default,
  // one-line help). They become parameters of LD_start_test: the registry type-checks them,
  // `loaddensity describe LD_start_test` lists them, and the schema, LSP and MCP tool
  // descriptions are meant to read the same list. Range checks stay in validate_options.
  virtual std::vector<action::Param> options() const;
  // The task fields `user_type` (one of user_types()) accepts, declared as data the same way:
  // name, accepted JSON types, default and one-line help. The declaration drives the field
  // checks (an unknown field is rejected with the closest declared one as a suggestion, a
  // value of an undeclared JSON type with a pointer to it; see proto::check_task_fields) and
  // `loaddensity describe <user_type>`; the schema, LSP and MCP descriptions read it too.
  // Range and shape checks stay in validate_task. Empty: the protocol declares none.
  virtual std::vector<action::Param> task_fields(const std::string& user_type) const;
  // Static check of one task before anything runs; throws ConfigError with a pointer relative
  // to the task. Placeholders are not resolved yet.
  virtual void validate_task(const Json& task) const = 0;
  // Static check of the protocol's own LD_start_test options (e.g. "max_streams"); throws
  // ConfigError with a pointer relative to the LD_start_test arguments object.
  virtual void validate_options(const Json& args) const {}
  // Static checks that need the whole task list, e.g. a task that uses the URL of an earlier
  // one, or LD_start_test `host` as the default (`host` unresolved, may be empty). Runs after
  // validate_task on every task; throws ConfigError with a pointer like "/2/url" relative to
  // the task list. Default: nothing to check.
  virtual void validate_list(const std::vector<Json>& tasks, const std::string& host) const {}
  // Resolved tasks (static placeholders folded) -> compiled form. Throws ConfigError with a
  // pointer like "/2/url" relative to the task list.
  virtual std::unique_ptr<CompiledTasks> compile(const std::vector<Json>& tasks,
                                                 CompileContext& ctx) const = 0;
};

// The protocols of this build. Each protocol folder registers itself through one line in the
// top-level CMakeLists (`ld_add_protocol`), which also gives it an `LD_WITH_<NAME>` option; the
// user types of a protocol left out of the build are known as unavailable, so a document that
// uses one gets a clear error rather than "unknown user type".
class ProtocolRegistry {
 public:
  void add(std::shared_ptr<Protocol> p);
  // `why` says how to get the user types, e.g. "configure with -DLD_WITH_SSE=ON".
  void add_unavailable(const std::vector<std::string>& user_types, const std::string& why);
  const Protocol* find(const std::string& user_type) const;
  std::shared_ptr<Protocol> find_shared(const std::string& user_type) const;
  // Why a user type of a protocol left out of this build is missing; nullptr otherwise.
  const std::string* unavailable(const std::string& user_type) const;
  std::vector<std::string> user_types() const;  // sorted
  std::vector<std::string> unavailable_user_types() const;  // sorted
  // Every registered protocol's options, first declaration of a name wins, each help text
  // suffixed with the user types that read it.
  std::vector<action::Param> options() const;

 private:
  std::vector<std::pair<std::string, std::shared_ptr<Protocol>>> by_type_;
  std::vector<std::pair<std::string, std::string>> unavailable_;
};

// Registers every protocol built into this binary (generated from the CMake protocol list).
void register_builtin_protocols(ProtocolRegistry& registry);

// A single timed operation that the sweeper can cancel. A session owns one per connection and
// arms it per request by storing a deadline: no timer is created or cancelled per request.
struct TimedOp {
  Nanos deadline = 0;  // 0 = not armed
  bool expired = false;
  void (*on_expire)(void* self) = nullptr;
  void* self = nullptr;
  std::size_t slot = static_cast<std::size_t>(-1);  // position in the sweeper, managed by it

  void arm(Nanos at) noexcept {
    deadline = at;
    expired = false;
  }
  void disarm() noexcept { deadline = 0; }
};

// Per-worker timeout enforcement: a 10 ms periodic scan of armed TimedOps. Costs nothing per
// request beyond two stores; timeouts are enforced to within one tick.
class DeadlineSweeper {
 public:
  static constexpr Nanos kTick = 10 * kNanosPerMilli;
  void add(TimedOp* op);
  void remove(TimedOp* op) noexcept;
  // Fires every armed op whose deadline passed (or all armed ops when `all`).
  void sweep(Nanos now, bool all = false);

 private:
  std::vector<TimedOp*> ops_;
};

}  // namespace ld::engine
