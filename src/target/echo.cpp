// TCP and UDP echo listeners for the embedded target.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include "target/echo.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <unordered_set>

namespace ld::target {

namespace net = boost::asio;
using boost::system::error_code;
using tcp = net::ip::tcp;
using udp = net::ip::udp;

struct EchoServers::Impl {
  // Destroyed after the io_context that runs the coroutines (the target resets it first), so
  // suspended coroutines may still unregister from `connections` while being destroyed.
  net::io_context& io;
  tcp::acceptor acceptor;
  udp::socket datagrams;
  std::unordered_set<tcp::socket*> connections;  // io thread only
  bool stopping = false;
  std::uint16_t tcp_port = 0;  // as bound
  std::uint16_t udp_port = 0;

  explicit Impl(net::io_context& ctx) : io(ctx), acceptor(ctx), datagrams(ctx) {}

  net::awaitable<void> serve(tcp::socket socket) {
    connections.insert(&socket);
    struct Unregister {
      Impl* self;
      tcp::socket* socket;
      ~Unregister() { self->connections.erase(socket); }
    } unregister{this, &socket};
    std::array<char, 16 * 1024> buffer;
    error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    while (!stopping) {
      const std::size_t n = co_await socket.async_read_some(
          net::buffer(buffer), net::redirect_error(net::use_awaitable, ec));
      if (ec || stopping) break;
      co_await net::async_write(socket, net::buffer(buffer.data(), n),
                                net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
    }
    socket.close(ec);
  }

  net::awaitable<void> accept_loop() {
    while (!stopping) {
      error_code ec;
      tcp::socket socket =
          co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
      if (stopping || !acceptor.is_open()) co_return;
      if (ec) {
        if (ec == net::error::operation_aborted) co_return;
        net::steady_timer backoff(io, std::chrono::milliseconds(20));  // EMFILE and the like
        co_await backoff.async_wait(net::redirect_error(net::use_awaitable, ec));
        continue;
      }
      net::co_spawn(io, serve(std::move(socket)), [](std::exception_ptr) noexcept {});
    }
  }

  net::awaitable<void> datagram_loop() {
    std::array<char, 65536> buffer;
    udp::endpoint from;
    while (!stopping) {
      error_code ec;
      const std::size_t n = co_await datagrams.async_receive_from(
          net::buffer(buffer), from, net::redirect_error(net::use_awaitable, ec));
      if (stopping || !datagrams.is_open()) co_return;
      if (ec) continue;  // e.g. ICMP errors reported for an earlier reply
      datagrams.send_to(net::buffer(buffer.data(), n), from, 0,
                        ec);  // drop when the buffer is full
    }
  }
};

EchoServers::EchoServers(net::io_context& io, const net::ip::address& address,
                         std::uint16_t tcp_port, std::uint16_t udp_port)
    : impl_(std::make_unique<Impl>(io)) {
  error_code ec;
  const tcp::endpoint tcp_ep(address, tcp_port);
  impl_->acceptor.open(tcp_ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(tcp_ep, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen for TCP echo on port " + std::to_string(tcp_port) +
                             ": " + ec.message());
  }
  impl_->tcp_port = impl_->acceptor.local_endpoint().port();
  const udp::endpoint udp_ep(address, udp_port);
  impl_->datagrams.open(udp_ep.protocol(), ec);
  if (!ec) impl_->datagrams.bind(udp_ep, ec);
  if (!ec) impl_->datagrams.non_blocking(true, ec);
  if (ec) {
    throw std::runtime_error("cannot bind UDP echo on port " + std::to_string(udp_port) + ": " +
                             ec.message());
  }
  impl_->udp_port = impl_->datagrams.local_endpoint().port();
}

EchoServers::~EchoServers() = default;

void EchoServers::start() {
  net::co_spawn(impl_->io, impl_->accept_loop(), [](std::exception_ptr) noexcept {});
  net::co_spawn(impl_->io, impl_->datagram_loop(), [](std::exception_ptr) noexcept {});
}

void EchoServers::close() noexcept {
  impl_->stopping = true;
  error_code ec;
  impl_->acceptor.close(ec);
  impl_->datagrams.close(ec);
  for (tcp::socket* s : impl_->connections) s->close(ec);
}

std::uint16_t EchoServers::tcp_port() const noexcept { return impl_->tcp_port; }

std::uint16_t EchoServers::udp_port() const noexcept { return impl_->udp_port; }

}  // namespace ld::target
