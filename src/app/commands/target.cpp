// The embedded target: LD_start_target, LD_stop_target.
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include <algorithm>
#include <stdexcept>

#include "target/target.hpp"

namespace ld::app {

using action::Args;
using action::Command;
using action::Param;
namespace A = action;

void register_target_commands(action::CommandRegistry& r, App& app) {
  r.add(Command{
      "LD_start_target",
      "Start the embedded httpbin-like target and register its base URL as a variable.",
      {{"host", A::kString, false, "127.0.0.1", ""},
       {"port", A::kInteger, false, 0, "0 picks a free port"},
       {"threads", A::kInteger, false, 1, "server threads"},
       {"variable", A::kString, false, "target", "variable that receives the base URL"},
       {"tcp_port", A::kInteger, false, 0, "TCP echo port (0 picks a free port)"},
       {"udp_port", A::kInteger, false, 0, "UDP echo port (0 picks a free port)"},
       {"redis_port", A::kInteger, false, 0, "RESP (Redis subset) port (0 picks a free port)"},
       {"grpc_port", A::kInteger, false, 0, "gRPC echo port (0 picks a free port)"},
       {"mqtt_port", A::kInteger, false, 0, "MQTT broker port (0 picks a free port)"},
       {"mongo_port", A::kInteger, false, 0,
        "MongoDB wire-protocol responder port (0 picks a free port)"},
       {"kafka", A::kBool, false, false,
        "also start a Kafka broker (librdkafka's mock cluster): ${target_kafka} = its address"},
       {"h3_port", A::kInteger, false, 0, "HTTP/3 (QUIC, UDP) port (0 picks a free port)"}},
      [&app](const Args& a) -> Json {
        if (app.target_ && app.target_->running())
          throw std::runtime_error("the target is already running");
        target::TargetOptions o;
        o.host = a.str("host");
        o.port = static_cast<std::uint16_t>(a.integer("port"));
        o.threads = static_cast<unsigned>(std::max<std::int64_t>(1, a.integer("threads")));
        o.tcp_port = static_cast<std::uint16_t>(a.integer("tcp_port"));
        o.udp_port = static_cast<std::uint16_t>(a.integer("udp_port"));
        o.redis_port = static_cast<std::uint16_t>(a.integer("redis_port"));
        o.grpc_port = static_cast<std::uint16_t>(a.integer("grpc_port"));
        o.mqtt_port = static_cast<std::uint16_t>(a.integer("mqtt_port"));
        o.mongo_port = static_cast<std::uint16_t>(a.integer("mongo_port"));
        o.h3_port = static_cast<std::uint16_t>(a.integer("h3_port"));
        o.kafka = a.flag("kafka");
        app.target_ = std::make_unique<target::EmbeddedTarget>(o);
        app.target_->start();
        // ${target} = http://H:P, ${target_ws} = ws://H:P/ws, ${target_tcp} / ${target_udp} = H:P,
        // ${target_redis} = redis://H:P/0, ${target_grpc} = H:P, ${target_mqtt} = mqtt://H:P,
        // ${target_mongo} = mongodb://H:P, ${target_h3} = H:P (HTTP/3, UDP), ${target_kafka} = H:P
        // (kafka)
        const std::string var = a.str("variable");
        app.resolver_.set_variable(var, app.target_->base_url());
        app.resolver_.set_variable(var + "_ws", app.target_->ws_url());
        app.resolver_.set_variable(var + "_tcp", app.target_->tcp_address());
        app.resolver_.set_variable(var + "_udp", app.target_->udp_address());
        app.resolver_.set_variable(var + "_redis", app.target_->redis_url());
        app.resolver_.set_variable(var + "_grpc", app.target_->grpc_address());
        app.resolver_.set_variable(var + "_mqtt", app.target_->mqtt_url());
        app.resolver_.set_variable(var + "_mongo", app.target_->mongo_url());
        app.resolver_.set_variable(var + "_h3", app.target_->h3_address());
        if (o.kafka) app.resolver_.set_variable(var + "_kafka", app.target_->kafka_address());
        Json out = {{"url", app.target_->base_url()},
                {"port", app.target_->port()},
                {"ws", app.target_->ws_url()},
                {"tcp", app.target_->tcp_address()},
                {"udp", app.target_->udp_address()},
                {"redis", app.target_->redis_url()},
                {"grpc", app.target_->grpc_address()},
                {"mqtt", app.target_->mqtt_url()},
                {"mongo", app.target_->mongo_url()},
                {"h3", app.target_->h3_address()}};
        if (o.kafka) out["kafka"] = app.target_->kafka_address();
        return out;
      },
      [](const Args& a) {
        for (const char* k : {"port", "tcp_port", "udp_port", "redis_port", "grpc_port",
                              "mqtt_port", "mongo_port", "h3_port"}) {
          number_in_range(a[k], k, 0, 65535, false, std::string("/") + k, "(0 picks a free port)");
        }
        number_in_range(a["threads"], "threads", 1, 256, false, "/threads");
      }});
  r.add(Command{"LD_stop_target", "Stop the embedded target.", {}, [&app](const Args&) -> Json {
                  if (app.target_) app.target_->stop();
                  app.target_.reset();
                  return {{"status", "stopped"}};
                }});
}

}  // namespace ld::app
