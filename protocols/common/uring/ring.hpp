#pragma once
// The io_uring I/O path of the HTTP/1.1 client and socket_user (LD_start_test `io_backend`).
//
// One Ring per worker thread (the protocol's per-worker state), created on that thread with
// IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN: completions are only produced when
// the worker asks for them, so they are always reaped and resumed on the worker. The ring's
// eventfd is a descriptor of the worker's io_context; when it fires, one handler submits what
// is queued, reaps every completion in one go and resumes the coroutines that waited on them
// in place (no post per completion). Submissions queued by those coroutines go out in the same
// handler; submissions queued from any other handler are flushed by one posted handler per
// turn of the loop, so every ready connection of a worker shares one io_uring_enter.
//
// Reads use a provided buffer ring (4 KiB buffers shared by the worker): a connection waiting
// for its answer holds no buffer; the kernel picks one only when bytes arrive, and the session
// hands it back as soon as it has parsed them.
//
// A Socket is a connected descriptor moved out of Asio once connected. Closing one with
// operations in flight shuts it down (those complete at once) and the ring frees it when the
// last one came back, so a session may go away at any time.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <liburing.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "action/registry.hpp"
#include "loaddensity/core/json.hpp"
#include "loaddensity/protocol/completion.hpp"

namespace ld::proto::uring {

namespace net = boost::asio;

enum class Backend { kEpoll, kIoUring };

// LD_start_test `io_backend`: "auto" (null too), "io_uring" or "epoll".
action::Param backend_option();
// Throws ConfigError (pointer /io_backend) for any other value, and for "io_uring" where
// io_uring is not available.
void validate_backend_option(const Json& args);
// The backend a run uses. "auto" picks io_uring only where it is both the faster path
// (kAutoPicksIoUring) and available, and otherwise epoll; when io_uring was wanted but this
// kernel refuses it, auto says so once (a warning) and uses epoll, while "io_uring" (from the
// command line) throws std::runtime_error naming the reason.
Backend choose_backend(const Json& options);
// Whether this process can create the rings the path needs; `why` says why not. Probed once.
bool available(std::string* why = nullptr);

class Ring;
// A protocol's per-worker state on the io_uring path: the worker's ring, made on the worker.
// Null when this worker could not make one (said once): its users then run on epoll.
std::shared_ptr<Ring> worker_ring(net::io_context& io);

class Ring;

// A connected socket whose reads and writes go through its worker's ring. Fields are read by
// the session between waits; the ring writes them when completions arrive.
struct Socket {
  Ring* ring = nullptr;
  int fd = -1;
  bool stream = true;  // TCP (false: a connected UDP socket)

  // send: the ring resubmits a partial send itself until every byte is written or it fails.
  bool sending = false;
  int send_error = 0;  // -errno of a failed send
  const char* send_ptr = nullptr;
  std::size_t send_left = 0;
  bool wake_on_send = false;  // resume the waiter when the send finishes (not only on failure)

  // receive: one read into a provided buffer (TCP), or readiness (UDP: the session reads).
  bool receiving = false;
  int recv_res = 0;         // bytes, 0 = end of stream, -errno; valid once !receiving
  std::uint16_t bid = 0;    // the provided buffer holding the bytes (recv_res > 0, TCP)
  bool has_buffer = false;
  std::uint32_t recv_max = 0;

  bool orphan = false;  // closed by its session; freed when nothing is in flight
  mutable bool was_cut = false;  // cut(): an end of stream from now on is not the peer's
  engine::Park waiter;

  bool in_flight() const noexcept { return sending || receiving; }
  // The bytes of the last read (TCP), valid until release_buffer() or the next receive.
  std::string_view data() const noexcept;
  // Hands the buffer of the last read back to the ring.
  void release_buffer() noexcept;
  // Shuts the socket down: whatever is in flight completes at once (a timeout, an abort).
  void cut() const noexcept;
  // Suspends the caller until the next completion that concerns it (a read, a failed send, or
  // a finished send when wake_on_send is set).
  auto wait() { return waiter.wait(); }
};

class Ring {
 public:
  static constexpr unsigned kBufferSize = 4096;
  static constexpr unsigned kBuffers = 512;  // per worker (2 MiB), whatever the user count

  // Null when the ring cannot be set up (`why` says why).
  static std::shared_ptr<Ring> create(net::io_context& io, std::string* why);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Takes over `fd` (connected, either blocking mode).
  Socket* adopt(int fd, bool stream);
  // Closes `s` now, or once its operations in flight have completed (they are cut short).
  void close(Socket* s) noexcept;

  // Queues a send of [p, p + n) (the bytes must stay valid until it completes).
  void send(Socket& s, const char* p, std::size_t n);
  // Queues one read of at most `max` bytes (TCP) or a wait for readability (UDP).
  // `poll_first`: the answer is not there yet (just after a send), skip the first attempt.
  void receive(Socket& s, std::size_t max, bool poll_first);

  // What went through this ring, logged at debug level when it goes away (`--log-level debug`
  // shows which path a run's connections took).
  struct Stats {
    std::uint64_t sockets = 0;         // connections adopted
    std::uint64_t tls_handshakes = 0;  // TLS handshakes completed on the ring
  } stats;

 private:
  explicit Ring(net::io_context& io);
  bool init(std::string* why);
  io_uring_sqe* sqe();
  void queue_send(Socket& s);
  void queue_receive(Socket& s, bool poll_first);
  void arm();
  void on_event();
  void flush();
  void run();
  bool reap();
  void complete(std::uint64_t data, int res, std::uint32_t flags);
  void free_socket(Socket* s) noexcept;
  friend struct Socket;
  void give_back(std::uint16_t bid) noexcept;

  net::io_context& io_;
  io_uring ring_{};
  bool ring_ok_ = false;
  int event_fd_ = -1;
  std::unique_ptr<net::posix::stream_descriptor> events_;
  char event_buf_[16];
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::size_t buf_ring_bytes_ = 0;
  char* buffers_ = nullptr;
  bool in_run_ = false;         // inside run(): what is queued goes out before it returns
  bool flush_posted_ = false;   // a flush() is queued on the io_context
  std::vector<Socket*> orphans_;  // closed with operations in flight
  std::weak_ptr<Ring> self_;      // what posted flushes hold
};

// A Socket held by a session: closed through its ring when reset or destroyed.
class SocketPtr {
 public:
  SocketPtr() = default;
  explicit SocketPtr(Socket* s) : s_(s) {}
  SocketPtr(const SocketPtr&) = delete;
  SocketPtr& operator=(const SocketPtr&) = delete;
  ~SocketPtr() { reset(); }
  void reset(Socket* s = nullptr) noexcept {
    if (s_) s_->ring->close(s_);
    s_ = s;
  }
  Socket* get() const noexcept { return s_; }
  Socket* operator->() const noexcept { return s_; }
  Socket& operator*() const noexcept { return *s_; }
  explicit operator bool() const noexcept { return s_ != nullptr; }

 private:
  Socket* s_ = nullptr;
};

// The error code of a negative io_uring result (-errno), or end of stream for 0.
boost::system::error_code error_of(int res) noexcept;

}  // namespace ld::proto::uring
