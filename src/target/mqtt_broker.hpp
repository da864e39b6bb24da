#pragma once
// Private to ld_target: a small MQTT broker (3.1, 3.1.1 and 5) so that mqtt_user examples run
// offline. It routes PUBLISH to matching subscriptions (`+` and `#` wildcards, QoS 0, 1 and 2 in
// both directions, no-local), keeps retained messages, publishes wills on an unclean close,
// answers PINGREQ and closes a connection silent for 1.5 × its keepalive. MQTT 5 properties are
// parsed; topic aliases are honoured and the message properties are forwarded to MQTT 5
// subscribers. Not kept: sessions across connections (CONNACK always says "no session present",
// which a client must accept) and queued messages for offline clients; no authentication (every
// username/password is accepted). Bounded: packets of kMaxPacket bytes, kMaxQueued bytes queued
// to one slow subscriber (it is disconnected past that), kMaxRetainedBytes of retained
// messages. Runs on the io_context it is given (one thread: no locks).
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <memory>
#include <string_view>

namespace ld::target {

// Topic filter matching (MQTT 3.1.1 §4.7): `+` one level, `#` the rest (and the parent level);
// wildcards at the first level do not match topics that start with `$`.
bool mqtt_topic_matches(std::string_view filter, std::string_view topic) noexcept;
// A well-formed filter: `#` only as the last whole level, `+` only as a whole level, not empty.
bool mqtt_valid_filter(std::string_view filter) noexcept;

class MqttBroker {
 public:
  static constexpr std::size_t kMaxPacket = 4u << 20;
  static constexpr std::size_t kMaxQueued = 8u << 20;
  static constexpr std::size_t kMaxRetainedBytes = 16u << 20;

  // Binds the listener (port 0 = a free port); throws std::runtime_error on failure.
  MqttBroker(boost::asio::io_context& io, const boost::asio::ip::address& address,
             std::uint16_t port);
  ~MqttBroker();
  MqttBroker(const MqttBroker&) = delete;
  MqttBroker& operator=(const MqttBroker&) = delete;

  void start();           // spawns the accept loop and the keepalive sweep
  void close() noexcept;  // closes every socket; call on the io_context's thread
  std::uint16_t port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ld::target
