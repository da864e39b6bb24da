#pragma once
// Private to ld_target: TCP and UDP echo listeners. Every byte a TCP client sends comes back on
// the same connection; every UDP datagram goes back to its sender. They run on the io_context
// they are given (one of the target's server threads).
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <memory>

namespace ld::target {

class EchoServers {
 public:
  // Binds both listeners (port 0 = a free port each); throws std::runtime_error on failure.
  EchoServers(boost::asio::io_context& io, const boost::asio::ip::address& address,
              std::uint16_t tcp_port, std::uint16_t udp_port);
  ~EchoServers();
  EchoServers(const EchoServers&) = delete;
  EchoServers& operator=(const EchoServers&) = delete;

  void start();           // spawns the accept and receive loops
  void close() noexcept;  // closes every socket; call on the io_context's thread
  std::uint16_t tcp_port() const noexcept;
  std::uint16_t udp_port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ld::target
