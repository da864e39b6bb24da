#pragma once
// The embedded target: an httpbin-like HTTP/1.1 server inside the binary, so a new user can run
// a load test with no server of their own. Runs on its own threads with its own io_contexts.
#include <cstdint>
#include <memory>
#include <string>

namespace ld::target {

struct TargetOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;   // 0 = pick a free port
  unsigned threads = 1;     // server threads (one io_context each, SO_REUSEPORT acceptors)
};

class EmbeddedTarget {
 public:
  explicit EmbeddedTarget(TargetOptions options = {});
  ~EmbeddedTarget();  // stops the server
  EmbeddedTarget(const EmbeddedTarget&) = delete;
  EmbeddedTarget& operator=(const EmbeddedTarget&) = delete;

  void start();  // binds and starts serving; throws std::runtime_error naming host:port on failure
  void stop();   // closes the listener and every connection, joins the threads; idempotent
  bool running() const noexcept;
  std::uint16_t port() const noexcept;
  std::string base_url() const;  // "http://127.0.0.1:PORT"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ld::target
