// The control socket: LD_start_socket_server (and `loaddensity serve`, which runs it).
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include <atomic>
#include <cstdlib>
#include <ostream>
#include <stdexcept>

#include "action/loader.hpp"
#include "engine/scheduler.hpp"
#include "loaddensity/core/error.hpp"
#include "serve/protocol.hpp"
#include "serve/server.hpp"

namespace ld::app {

using action::Args;
using action::Command;
namespace A = action;

namespace {

// One connection's session: an App of its own (variables, sources, results, record log,
// embedded target) whose tests run through the server's runner, so one test runs at a time
// and a second start fails with RunnerBusy.
class AppSession final : public serve::Session {
 public:
  AppSession(TestRunner& runner, const Options& parent)
      : held_(std::make_unique<Held>(runner, session_options(parent))) {}
  ~AppSession() override {
    // A worker thread a run abandoned while a protocol blocked it may still reach the
    // session's resolver when it wakes: such a session is kept for the life of the process.
    if (engine::abandoned_workers() > 0) (void)held_.release();
  }

  std::vector<std::string> run(const Json& document) override {
    App& app = held_->app;
    try {
      action::Document doc = action::parse_document_json(document, "request");
      app.prepare({doc});
      return serve::reply_for_results(app.execute(doc).results);
    } catch (const ConfigError& e) {
      return serve::reply_for_error(e.what());  // nothing ran
    }
  }
  void interrupt() noexcept override { held_->app.interrupt_flag().store(true); }

 private:
  static Options session_options(const Options& parent) {
    Options o = parent;
    o.quiet = true;  // no per-action lines or tables: the reply carries the results
    o.progress = false;
    o.csv_prefix.clear();
    o.load_plugins = false;  // a client cannot load code into the server; --plugin can
    return o;
  }
  struct Held {
    Held(TestRunner& runner, const Options& o) : app(null, null, o, &runner) {}
    std::ostream null{nullptr};  // discards what the App would print
    App app;
  };
  std::unique_ptr<Held> held_;
};

std::atomic<bool> g_serving{false};  // one control socket per process

}  // namespace

void register_serve_commands(action::CommandRegistry& r, App& app) {
  r.add(Command{
      "LD_start_socket_server",
      "Serve action documents on a TCP control socket until a client sends quit_server or "
      "{\"op\": \"quit\"} (or Ctrl-C); each connection runs one document in a session of its "
      "own.",
      {{"host", A::kString, false, "localhost", "listen address"},
       {"port", A::kInteger, false, 9940, "port (0 picks a free port)"},
       {"framed", A::kBool, false, false,
        "4-byte big-endian length + body (1 B to 1 MiB); false: the original's single read"},
       {"token", A::kString | A::kNull, false, nullptr,
        "required in a {\"token\", \"command\"} envelope (default: LOAD_DENSITY_SOCKET_TOKEN)"},
       {"certfile", A::kString | A::kNull, false, nullptr, "TLS certificate chain (PEM)"},
       {"keyfile", A::kString | A::kNull, false, nullptr, "TLS private key (PEM)"},
       {"read_timeout", A::kNumber, false, 30,
        "seconds a client has to send its request (and to take its reply)"},
       {"max_connections", A::kInteger, false, 128,
        "connections served at once; more are closed at once"}},
      [&app](const Args& a) -> Json {
        serve::ServeOptions o;
        o.host = a.str("host");
        o.port = static_cast<std::uint16_t>(a.integer("port"));
        o.framed = a.flag("framed");
        o.token = a.str("token");
        if (!a.has("token")) {
          if (const char* env = std::getenv("LOAD_DENSITY_SOCKET_TOKEN")) o.token = env;
        }
        o.tls_cert = a.str("certfile");
        o.tls_key = a.str("keyfile");
        o.read_timeout_s = a.number("read_timeout");
        o.max_connections = static_cast<unsigned>(a.integer("max_connections"));
        if (g_serving.exchange(true)) {
          throw std::runtime_error("a control socket is already being served by this process");
        }
        struct Release {
          ~Release() { g_serving.store(false); }
        } release;
        const Options parent = app.options_;
        TestRunner& runner = app.runner_;
        serve::SocketServer server(
            o, [&runner, parent] { return std::make_unique<AppSession>(runner, parent); });
        server.start();
        // The line tools and tests wait for (stdout, flushed; the port may have been 0).
        app.out_ << "loaddensity control socket listening on " << server.address()
                 << (server.tls() ? " (TLS)" : "") << (o.framed ? " framed" : " legacy")
                 << (o.token.empty() ? "" : ", token required") << std::endl;
        const bool asked = server.wait(&app.interrupted_);
        server.stop();
        const serve::ServeStats s = server.stats();
        return Json{{"host", o.host},
                    {"port", server.port()},
                    {"stopped_by", asked ? "quit" : "interrupt"},
                    {"connections", s.accepted},
                    {"documents", s.documents},
                    {"refused", s.refused},
                    {"dropped", s.dropped}};
      },
      [](const Args& a) {
        const std::int64_t port = a.integer("port");
        if (port < 0 || port > 65535) {
          throw ConfigError("port must be from 0 to 65535, got " + std::to_string(port), "/port");
        }
        seconds_in_range(a["read_timeout"], "read_timeout", "/read_timeout");
        const std::int64_t n = a.integer("max_connections");
        if (n < 1 || n > 100000) {
          throw ConfigError("max_connections must be from 1 to 100000, got " + std::to_string(n),
                            "/max_connections");
        }
        if (a.has("certfile") != a.has("keyfile")) {
          throw ConfigError("TLS needs both certfile and keyfile",
                            a.has("certfile") ? "/keyfile" : "/certfile");
        }
      }});
}

}  // namespace ld::app
