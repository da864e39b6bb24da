#pragma once
// Private to ld_target: the gRPC echo service of examples/proto/echo.proto (unary and the three
// streaming kinds) with server reflection, so grpc_user examples run offline. It is grpc++'s own
// server on its own threads (the target's Asio threads are not involved).
#include <cstdint>
#include <memory>
#include <string>

namespace ld::target {

class GrpcEcho {
 public:
  GrpcEcho();
  ~GrpcEcho();  // stops the server
  GrpcEcho(const GrpcEcho&) = delete;
  GrpcEcho& operator=(const GrpcEcho&) = delete;

  // Listens on host:port (0 picks a free port); throws std::runtime_error when it cannot.
  void start(const std::string& host, std::uint16_t port);
  void stop();  // idempotent; ends the calls in flight
  std::uint16_t port() const noexcept { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

}  // namespace ld::target
