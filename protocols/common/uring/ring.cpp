#include "common/uring/ring.hpp"

#include <utility>  // before Asio (Boost 1.74 trap)

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "core/log.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::proto::uring {

namespace {

// Whether `auto` takes io_uring where it is available: it costs less CPU per request than
// epoll (bench/http1.sh; docs/io-backend.md). Set to false, auto would always mean epoll.
constexpr bool kAutoPicksIoUring = true;

constexpr unsigned kEntries = 1024;     // submission queue
constexpr unsigned kCqEntries = 16384;  // completions: one read per waiting user, and sends
constexpr unsigned kSetupFlags =
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
// How many submit-and-reap rounds one event handler runs before it lets the loop's other
// handlers (the sweeper, hand-offs, timers) go first.
constexpr int kMaxRounds = 16;

// What a completion was for: the low bits of its user_data (a Socket is 8-byte aligned).
enum Tag : std::uint64_t { kSend = 0, kRecv = 1, kPoll = 2, kIgnore = 3, kTagMask = 7 };

int setup(io_uring& ring) {
  io_uring_params p{};
  p.flags = kSetupFlags | IORING_SETUP_CQSIZE;
  p.cq_entries = kCqEntries;
  return io_uring_queue_init_params(kEntries, &ring, &p);
}

std::string errno_text(const char* call, int err) {
  return std::string(call) + ": " + std::strerror(err);
}

// A provided-buffer ring of `entries` slots, registered as group 0.
io_uring_buf_ring* map_buf_ring(io_uring& ring, unsigned entries, std::size_t& bytes, int& err) {
  bytes = entries * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    err = errno;
    return nullptr;
  }
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br);
  reg.ring_entries = entries;
  reg.bgid = 0;
  if (const int r = io_uring_register_buf_ring(&ring, &reg, 0); r < 0) {
    munmap(mem, bytes);
    err = -r;
    return nullptr;
  }
  return br;
}

std::string probe() {
  if (const char* off = std::getenv("LD_IO_URING_UNAVAILABLE"); off && *off && *off != '0') {
    return "disabled by LD_IO_URING_UNAVAILABLE";
  }
  io_uring ring{};
  if (const int r = setup(ring); r < 0) return errno_text("io_uring_queue_init", -r);
  std::size_t bytes = 0;
  int err = 0;
  io_uring_buf_ring* br = map_buf_ring(ring, 8, bytes, err);
  std::string why;
  if (!br) {
    why = errno_text("io_uring_register_buf_ring", err);
  } else {
    io_uring_unregister_buf_ring(&ring, 0);
    munmap(br, bytes);
  }
  io_uring_queue_exit(&ring);
  return why;
}

}  // namespace

action::Param backend_option() {
  return {"io_backend", action::kString | action::kNull, false, nullptr,
          "I/O path of HTTP/1.1 and socket users: auto, io_uring or epoll (default auto: "
          "io_uring where the kernel allows it, else epoll; docs/io-backend.md)"};
}

void validate_backend_option(const Json& args) {
  if (!args.contains("io_backend") || args["io_backend"].is_null()) return;
  const Json& v = args["io_backend"];
  if (!v.is_string() ||
      (v != "auto" && v != "io_uring" && v != "epoll")) {
    throw ConfigError("io_backend must be \"auto\", \"io_uring\" or \"epoll\", got " + v.dump(),
                      "/io_backend");
  }
  std::string why;
  if (v == "io_uring" && !available(&why)) {
    throw ConfigError("io_backend \"io_uring\" is not available here (" + why + ")",
                      "/io_backend");
  }
}

bool available(std::string* why) {
  static const std::string reason = probe();
  if (why) *why = reason;
  return reason.empty();
}

Backend choose_backend(const Json& options) {
  validate_backend_option(options);
  std::string want = "auto";
  if (options.contains("io_backend") && options["io_backend"].is_string()) {
    want = options["io_backend"].get<std::string>();
  }
  if (want == "epoll" || (want == "auto" && !kAutoPicksIoUring)) return Backend::kEpoll;
  std::string why;
  if (available(&why)) return Backend::kIoUring;
  if (want == "io_uring") {  // --io-backend io_uring (a document's own value was checked)
    throw std::runtime_error("io_backend \"io_uring\" is not available here (" + why + ")");
  }
  static std::once_flag said;
  std::call_once(said, [&] {
    log::warn("io", "io_uring is not available (" + why + "); HTTP/1.1 and socket users use epoll");
  });
  return Backend::kEpoll;
}

std::shared_ptr<Ring> worker_ring(net::io_context& io) {
  std::string why;
  auto ring = Ring::create(io, &why);
  if (!ring) {
    static std::once_flag said;
    std::call_once(said, [&] {
      log::warn("io", "could not set up an io_uring ring (" + why + "); a worker uses epoll");
    });
  }
  return ring;
}

boost::system::error_code error_of(int res) noexcept {
  if (res == 0) return net::error::eof;
  return {-res, boost::system::system_category()};
}

// --- Socket

std::string_view Socket::data() const noexcept {
  if (!has_buffer || recv_res <= 0) return {};
  return {ring->buffers_ + std::size_t{bid} * Ring::kBufferSize, static_cast<std::size_t>(recv_res)};
}

void Socket::release_buffer() noexcept {
  if (!has_buffer) return;
  has_buffer = false;
  ring->give_back(bid);
}

void Socket::cut() const noexcept {
  was_cut = true;
  if (stream) {
    ::shutdown(fd, SHUT_RDWR);  // a pending read ends with 0, a pending send with EPIPE
    return;
  }
  io_uring_sqe* e = ring->sqe();
  io_uring_prep_cancel_fd(e, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(e, kIgnore);
}

// --- Ring

Ring::Ring(net::io_context& io) : io_(io) {}

std::shared_ptr<Ring> Ring::create(net::io_context& io, std::string* why) {
  std::shared_ptr<Ring> r(new Ring(io));
  if (!r->init(why)) return nullptr;
  r->self_ = r;
  r->arm();
  return r;
}

bool Ring::init(std::string* why) {
  if (const int r = setup(ring_); r < 0) {
    if (why) *why = errno_text("io_uring_queue_init", -r);
    return false;
  }
  ring_ok_ = true;
  int err = 0;
  buf_ring_ = map_buf_ring(ring_, kBuffers, buf_ring_bytes_, err);
  if (!buf_ring_) {
    if (why) *why = errno_text("io_uring_register_buf_ring", err);
    return false;
  }
  // Pages are touched only when the kernel first fills a buffer.
  buffers_ = static_cast<char*>(std::malloc(std::size_t{kBuffers} * kBufferSize));
  if (!buffers_) return false;
  const int mask = io_uring_buf_ring_mask(kBuffers);
  for (unsigned i = 0; i < kBuffers; ++i) {
    io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{i} * kBufferSize, kBufferSize,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(kBuffers));
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) {
    if (why) *why = errno_text("eventfd", errno);
    return false;
  }
  if (const int r = io_uring_register_eventfd(&ring_, event_fd_); r < 0) {
    if (why) *why = errno_text("io_uring_register_eventfd", -r);
    ::close(event_fd_);
    event_fd_ = -1;
    return false;
  }
  events_ = std::make_unique<net::posix::stream_descriptor>(io_, event_fd_);
  return true;
}

Ring::~Ring() {
  if (log::enabled(log::Level::kDebug)) {
    log::debug("io", "io_uring ring: " + std::to_string(stats.sockets) + " connections, " +
                         std::to_string(stats.tls_handshakes) + " TLS handshakes");
  }
  events_.reset();  // closes the eventfd; its pending read completes as aborted, touching nothing
  if (ring_ok_) io_uring_queue_exit(&ring_);  // cancels what is in flight
  for (Socket* s : orphans_) {
    ::close(s->fd);
    delete s;
  }
  if (buf_ring_) munmap(buf_ring_, buf_ring_bytes_);
  std::free(buffers_);
}

Socket* Ring::adopt(int fd, bool stream) {
  auto* s = new Socket;
  ++stats.sockets;
  s->ring = this;
  s->fd = fd;
  s->stream = stream;
  return s;
}

void Ring::close(Socket* s) noexcept {
  s->release_buffer();
  if (!s->in_flight()) {
    free_socket(s);
    return;
  }
  s->orphan = true;
  orphans_.push_back(s);
  s->cut();
}

void Ring::free_socket(Socket* s) noexcept {
  if (s->orphan) {
    auto it = std::find(orphans_.begin(), orphans_.end(), s);
    if (it != orphans_.end()) {
      *it = orphans_.back();
      orphans_.pop_back();
    }
  }
  ::close(s->fd);
  delete s;
}

void Ring::give_back(std::uint16_t bid) noexcept {
  io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{bid} * kBufferSize, kBufferSize, bid,
                        io_uring_buf_ring_mask(kBuffers), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

io_uring_sqe* Ring::sqe() {
  io_uring_sqe* e = io_uring_get_sqe(&ring_);
  if (!e) {
    io_uring_submit(&ring_);  // the queue is full: send what is there first
    e = io_uring_get_sqe(&ring_);
  }
  if (!in_run_ && !flush_posted_) {
    flush_posted_ = true;
    net::post(io_, [w = self_] {
      if (auto r = w.lock()) r->flush();
    });
  }
  return e;
}

void Ring::send(Socket& s, const char* p, std::size_t n) {
  s.sending = true;
  s.send_error = 0;
  s.send_ptr = p;
  s.send_left = n;
  s.wake_on_send = false;
  queue_send(s);
}

void Ring::queue_send(Socket& s) {
  io_uring_sqe* e = sqe();
  io_uring_prep_send(e, s.fd, s.send_ptr, s.send_left, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(e, reinterpret_cast<std::uint64_t>(&s) | kSend);
}

void Ring::receive(Socket& s, std::size_t max, bool poll_first) {
  s.receiving = true;
  s.recv_res = 0;
  s.recv_max = static_cast<std::uint32_t>(std::min<std::size_t>(max, kBufferSize));
  queue_receive(s, poll_first);
}

void Ring::queue_receive(Socket& s, bool poll_first) {
  io_uring_sqe* e = sqe();
  if (s.stream) {
    io_uring_prep_recv(e, s.fd, nullptr, s.recv_max, 0);
    e->flags |= IOSQE_BUFFER_SELECT;
    e->buf_group = 0;
    if (poll_first) e->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data64(e, reinterpret_cast<std::uint64_t>(&s) | kRecv);
  } else {
    io_uring_prep_poll_add(e, s.fd, POLLIN);
    io_uring_sqe_set_data64(e, reinterpret_cast<std::uint64_t>(&s) | kPoll);
  }
}

void Ring::arm() {
  events_->async_read_some(net::buffer(event_buf_),
                           [this](const boost::system::error_code& ec, std::size_t) {
                             if (ec == net::error::operation_aborted) return;  // destroyed
                             on_event();
                           });
}

void Ring::on_event() {
  run();
  arm();
}

void Ring::flush() {
  flush_posted_ = false;
  run();
}

// Submits what is queued, runs the completions the kernel deferred to this thread and resumes
// their waiters, until nothing is queued and no completion is pending (or kMaxRounds).
void Ring::run() {
  in_run_ = true;
  io_uring_cq_eventfd_toggle(&ring_, false);  // no wake-ups for what this loop reaps itself
  bool more = true;
  for (int round = 0; round < kMaxRounds && more; ++round) {
    io_uring_submit_and_get_events(&ring_);
    reap();
    if (io_uring_sq_ready(&ring_)) continue;
    io_uring_cq_eventfd_toggle(&ring_, true);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    more = (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN) || io_uring_cq_ready(&ring_);
    if (more) io_uring_cq_eventfd_toggle(&ring_, false);
  }
  in_run_ = false;
  if (more) {
    // Work left after kMaxRounds: the eventfd will not fire for it, so come back after the
    // handlers that are ready.
    io_uring_cq_eventfd_toggle(&ring_, true);
    if (!flush_posted_) {
      flush_posted_ = true;
      net::post(io_, [w = self_] {
        if (auto r = w.lock()) r->flush();
      });
    }
  }
}

bool Ring::reap() {
  struct Done {
    std::uint64_t data;
    int res;
    std::uint32_t flags;
  };
  bool any = false;
  for (;;) {
    Done batch[256];
    unsigned n = 0;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      batch[n++] = {cqe->user_data, cqe->res, cqe->flags};
      if (n == 256) break;
    }
    if (n == 0) return any;
    io_uring_cq_advance(&ring_, n);
    any = true;
    for (unsigned i = 0; i < n; ++i) complete(batch[i].data, batch[i].res, batch[i].flags);
  }
}

void Ring::complete(std::uint64_t data, int res, std::uint32_t flags) {
  const auto tag = data & kTagMask;
  if (tag == kIgnore) return;
  auto* s = reinterpret_cast<Socket*>(data & ~kTagMask);
  if (tag == kSend) {
    if (res > 0 && static_cast<std::size_t>(res) < s->send_left && !s->orphan) {
      s->send_ptr += res;  // a partial send: the rest goes out with the next submission
      s->send_left -= static_cast<std::size_t>(res);
      queue_send(*s);
      return;
    }
    s->sending = false;
    if (res < 0) {
      s->send_error = res;
    } else {
      s->send_left = 0;
    }
    if (s->orphan) {
      if (!s->in_flight()) free_socket(s);
      return;
    }
    if (res < 0 || s->wake_on_send) s->waiter.resume_now();
    return;
  }
  // kRecv / kPoll
  if (res == -ENOBUFS && !s->orphan) {
    queue_receive(*s, false);  // every buffer is taken this instant: ask again
    return;
  }
  s->receiving = false;
  s->recv_res = tag == kPoll && res > 0 ? 1 : res;
  if (flags & IORING_CQE_F_BUFFER) {
    s->bid = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    s->has_buffer = true;
  }
  if (s->orphan) {
    s->release_buffer();
    if (!s->in_flight()) free_socket(s);
    return;
  }
  s->waiter.resume_now();
}

}  // namespace ld::proto::uring
