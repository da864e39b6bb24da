#pragma once
// The control socket server (`loaddensity serve`, LD_start_socket_server): one I/O thread
// reads requests and writes replies for every connection; each request's document runs on a
// thread of its own, in a Session the caller's factory makes, so a slow, silent or broken
// client never holds up the others. Asio stays in server.cpp.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.hpp"

namespace ld::serve {

struct ServeOptions {
  std::string host = "localhost";
  std::uint16_t port = 9940;      // 0 = a free port
  bool framed = false;            // 4-byte big-endian length + body; else the legacy single read
  std::string token;              // "" = none (LOAD_DENSITY_SOCKET_TOKEN is read by the caller)
  std::string tls_cert;           // PEM certificate chain; TLS when both files are given
  std::string tls_key;            // PEM private key
  double read_timeout_s = 30;     // a request must have arrived by then (and a reply gone out)
  unsigned max_connections = 64;  // open connections past this are closed at once
};

// One connection's document runner: its own variables, sources and results.
class Session {
 public:
  virtual ~Session() = default;
  // Runs a document; returns the reply pieces (reply_for_results / reply_for_error).
  virtual std::vector<std::string> run(const Json& document) = 0;
  // Called from another thread when the server stops: end a running test soon.
  virtual void interrupt() noexcept = 0;
};
using SessionFactory = std::function<std::unique_ptr<Session>()>;

struct ServeStats {
  std::uint64_t accepted = 0;
  std::uint64_t documents = 0;  // documents run
  std::uint64_t refused = 0;    // closed at once: over max_connections
  std::uint64_t dropped = 0;    // closed unanswered: bad frame, timeout, TLS failure
};

class SocketServer {
 public:
  SocketServer(ServeOptions options, SessionFactory sessions);
  ~SocketServer();  // stop()
  SocketServer(const SocketServer&) = delete;
  SocketServer& operator=(const SocketServer&) = delete;

  // Checks the options and binds. Throws ConfigError for options that cannot work (a
  // non-loopback address without a token or TLS, one TLS file without the other, unreadable
  // certificate or key) and std::runtime_error when the address cannot be bound.
  void start();
  std::uint16_t port() const noexcept;
  std::string address() const;  // "127.0.0.1:9940"
  bool tls() const noexcept;

  // Blocks until a client asked the server to quit or `*interrupt` became true (polled).
  // Returns true when a client asked.
  bool wait(const std::atomic<bool>* interrupt);
  // Stops accepting, interrupts running documents, waits for them, closes every connection
  // and joins the threads. Idempotent.
  void stop();
  ServeStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ld::serve
