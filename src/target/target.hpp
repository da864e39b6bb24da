#pragma once
// The embedded target: an httpbin-like HTTP/1.1 server inside the binary, so a new user can run
// a load test with no server of their own. Runs on its own threads with its own io_contexts.
// Besides HTTP it serves a WebSocket echo (/ws), a Server-Sent Events stream (/sse), TCP and
// UDP echo listeners, a RESP listener (a Redis subset, src/target/resp_server.hpp), an MQTT broker
// (src/target/mqtt_broker.hpp), a MongoDB wire-protocol responder (src/target/mongo_server.hpp)
// a gRPC echo service with reflection (src/target/grpc_echo.hpp) and HTTP/3 over QUIC
// (src/target/h3_server.hpp) on ports of their own, and on request a Kafka broker (librdkafka's
// mock cluster).
#include <cstdint>
#include <memory>
#include <string>

namespace ld::target {

struct TargetOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;   // 0 = pick a free port
  unsigned threads = 1;     // server threads (one io_context each, SO_REUSEPORT acceptors)
  std::uint16_t tcp_port = 0;  // TCP echo listener (0 = pick a free port)
  std::uint16_t udp_port = 0;  // UDP echo listener (0 = pick a free port)
  std::uint16_t redis_port = 0;  // RESP listener (0 = pick a free port)
  std::uint16_t grpc_port = 0;   // gRPC echo with reflection (0 = pick a free port)
  std::uint16_t mqtt_port = 0;   // MQTT broker (0 = pick a free port)
  std::uint16_t mongo_port = 0;  // MongoDB wire-protocol responder (0 = pick a free port)
  std::uint16_t h3_port = 0;     // HTTP/3 over QUIC, a UDP port (0 = pick a free port)
  bool kafka = false;  // librdkafka's mock cluster (one broker, its own threads); off by default
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
  std::string ws_url() const;    // "ws://127.0.0.1:PORT/ws", the WebSocket echo
  std::uint16_t tcp_port() const noexcept;  // TCP echo listener
  std::uint16_t udp_port() const noexcept;  // UDP echo listener
  std::string tcp_address() const;          // "127.0.0.1:PORT" of the TCP echo
  std::string udp_address() const;          // "127.0.0.1:PORT" of the UDP echo
  std::uint16_t redis_port() const noexcept;  // RESP listener
  std::string redis_url() const;              // "redis://127.0.0.1:PORT/0"
  std::uint16_t grpc_port() const noexcept;   // gRPC echo (examples/proto/echo.proto)
  std::string grpc_address() const;           // "127.0.0.1:PORT", a grpc_user target
  std::uint16_t mqtt_port() const noexcept;   // MQTT broker
  std::string mqtt_url() const;               // "mqtt://127.0.0.1:PORT"
  std::uint16_t mongo_port() const noexcept;  // MongoDB responder
  std::string mongo_url() const;              // "mongodb://127.0.0.1:PORT"
  std::uint16_t h3_port() const noexcept;     // HTTP/3 (UDP)
  std::string h3_address() const;             // "127.0.0.1:PORT", for https://${target_h3}/
  // The mock Kafka cluster's bootstrap servers ("127.0.0.1:PORT"); "" unless options.kafka.
  std::string kafka_address() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ld::target
