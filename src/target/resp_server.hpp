#pragma once
// Private to ld_target: a RESP listener answering a small Redis subset from an in-memory store,
// so redis_user examples run offline. Commands: PING GET SET (EX/PX) INCR DEL EXISTS LPUSH RPOP
// HSET HGET EXPIRE, plus what clients send on connect (AUTH fails as on a server without a
// password, SELECT 0, COMMAND, QUIT). The store belongs to the target, lives on the io_context
// it is given (one thread: no locks) and is bounded (RespServer::kMaxBytes of keys and values,
// kMaxEntries keys, list items and hash fields); a write past that answers -OOM, as Redis does
// at maxmemory.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ld::target {

// The command interpreter, separate from the socket so the unit tests can drive it.
class RespStore {
 public:
  static constexpr std::size_t kMaxBytes = 64u << 20;
  static constexpr std::size_t kMaxEntries = 1'000'000;

  RespStore();
  ~RespStore();
  RespStore(const RespStore&) = delete;
  RespStore& operator=(const RespStore&) = delete;

  // Runs one command and appends its reply to `out`. Returns false when the client asked to
  // close (QUIT).
  bool execute(const std::vector<std::string_view>& args, std::string& out);
  std::size_t bytes() const noexcept;
  std::size_t entries() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class RespServer {
 public:
  // Binds the listener (port 0 = a free port); throws std::runtime_error on failure.
  RespServer(boost::asio::io_context& io, const boost::asio::ip::address& address,
             std::uint16_t port);
  ~RespServer();
  RespServer(const RespServer&) = delete;
  RespServer& operator=(const RespServer&) = delete;

  void start();           // spawns the accept loop
  void close() noexcept;  // closes every socket; call on the io_context's thread
  std::uint16_t port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ld::target
