#pragma once
// What the plain TCP listeners share (the target's echo and RESP, the live dashboard; header
// only). A listener binds an acceptor, accepts on one io_context and keeps the set of open
// connections so that close() can end them; each connection runs `serve(socket)` as its own
// coroutine.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>

namespace ld::target {

class TcpListener {
 public:
  using tcp = boost::asio::ip::tcp;

  // Binds address:port (0 = a free port); throws std::runtime_error naming `what` on failure.
  TcpListener(boost::asio::io_context& io, const boost::asio::ip::address& address,
              std::uint16_t port, const std::string& what)
      : io_(io), acceptor_(io) {
    boost::system::error_code ec;
    const tcp::endpoint ep(address, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("cannot listen for " + what + " on port " + std::to_string(port) +
                               ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
  }

  std::uint16_t port() const noexcept { return port_; }
  bool stopping() const noexcept { return stopping_; }

  // Spawns the accept loop; `serve(tcp::socket)` returns the connection's awaitable.
  template <class Serve>
  void start(Serve serve) {
    boost::asio::co_spawn(io_, accept_loop(std::move(serve)), [](std::exception_ptr) noexcept {});
  }

  // Closes the acceptor and every open connection; call on the io_context's thread.
  void close() noexcept {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (tcp::socket* s : connections_) s->close(ec);
  }

  // Serves one connection of a request/reply protocol (RESP, MongoDB's wire protocol): reads
  // into a buffer, calls `consume(in, out, open)` to answer the complete requests at the front
  // of `in` (it returns how many bytes it used and clears `open` to close after replying), then
  // writes `out`. The connection closes when the peer does, on a write error, or when more than
  // `max_pending` bytes of an incomplete request are buffered.
  template <class Consume>
  boost::asio::awaitable<void> serve_requests(tcp::socket socket, std::size_t max_pending,
                                              Consume consume) {
    namespace net = boost::asio;
    Registration registration(*this, socket);
    std::array<char, 16 * 1024> buffer;
    std::string in, out;
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    bool open = true;
    while (open && !stopping_) {
      const std::size_t n = co_await socket.async_read_some(
          net::buffer(buffer), net::redirect_error(net::use_awaitable, ec));
      if (ec || stopping_) break;
      in.append(buffer.data(), n);
      in.erase(0, consume(std::string_view(in), out, open));
      if (in.size() > max_pending) break;
      if (!out.empty()) {
        co_await net::async_write(socket, net::buffer(out),
                                  net::redirect_error(net::use_awaitable, ec));
        out.clear();
        if (ec) break;
      }
    }
    socket.close(ec);
  }

  // Registers a connection for close() while it lives (hold it in the serving coroutine).
  struct Registration {
    TcpListener* self;
    tcp::socket* socket;
    Registration(TcpListener& l, tcp::socket& s) : self(&l), socket(&s) {
      self->connections_.insert(socket);
    }
    ~Registration() { self->connections_.erase(socket); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
  };

 private:
  template <class Serve>
  boost::asio::awaitable<void> accept_loop(Serve serve) {
    namespace net = boost::asio;
    while (!stopping_) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(net::redirect_error(net::use_awaitable, ec));
      if (stopping_ || !acceptor_.is_open()) co_return;
      if (ec) {
        if (ec == net::error::operation_aborted) co_return;
        net::steady_timer backoff(io_, std::chrono::milliseconds(20));  // EMFILE and the like
        co_await backoff.async_wait(net::redirect_error(net::use_awaitable, ec));
        continue;
      }
      net::co_spawn(io_, serve(std::move(socket)), [](std::exception_ptr) noexcept {});
    }
  }

  boost::asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::unordered_set<tcp::socket*> connections_;  // io thread only
  bool stopping_ = false;
  std::uint16_t port_ = 0;
};

}  // namespace ld::target
