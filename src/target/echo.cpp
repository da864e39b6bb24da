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
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <exception>
#include <stdexcept>
#include <string>

#include "target/listener.hpp"

namespace ld::target {

namespace net = boost::asio;
using boost::system::error_code;
using tcp = net::ip::tcp;
using udp = net::ip::udp;

struct EchoServers::Impl {
  // Destroyed after the io_context that runs the coroutines (the target resets it first), so
  // suspended coroutines may still unregister from the listener while being destroyed.
  TcpListener listener;
  udp::socket datagrams;
  bool stopping = false;
  std::uint16_t udp_port = 0;

  Impl(net::io_context& ctx, const net::ip::address& address, std::uint16_t tcp_port)
      : listener(ctx, address, tcp_port, "TCP echo"), datagrams(ctx) {}

  net::awaitable<void> serve(tcp::socket socket) {
    TcpListener::Registration registration(listener, socket);
    std::array<char, 16 * 1024> buffer;
    error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    while (!listener.stopping()) {
      const std::size_t n = co_await socket.async_read_some(
          net::buffer(buffer), net::redirect_error(net::use_awaitable, ec));
      if (ec || listener.stopping()) break;
      co_await net::async_write(socket, net::buffer(buffer.data(), n),
                                net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
    }
    socket.close(ec);
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
    : impl_(std::make_unique<Impl>(io, address, tcp_port)) {
  error_code ec;
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
  impl_->listener.start([this](tcp::socket s) { return impl_->serve(std::move(s)); });
  net::co_spawn(impl_->datagrams.get_executor(), impl_->datagram_loop(),
                [](std::exception_ptr) noexcept {});
}

void EchoServers::close() noexcept {
  impl_->stopping = true;
  impl_->listener.close();
  error_code ec;
  impl_->datagrams.close(ec);
}

std::uint16_t EchoServers::tcp_port() const noexcept { return impl_->listener.port(); }

std::uint16_t EchoServers::udp_port() const noexcept { return impl_->udp_port; }

}  // namespace ld::target
