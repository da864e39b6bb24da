// HTTP/3 task checking and compilation. The requests are the HTTP/2 user's (same fields, header
// blocks, templates, checks, auth), compiled by the HTTP/2 client into http2::Steps; what is
// HTTP/3's own is that every URL is https (QUIC is always TLS) and the GnuTLS credentials.
#include "common/task_fields.hpp"
#include "http3.hpp"
#include "http3_impl.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::proto::http3 {

namespace {

class Http3Protocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"http3_user"}; }

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  std::vector<action::Param> options() const override {
    return {http2::max_streams_option("requests")};
  }

  void validate_options(const Json& args) const override { http2::check_max_streams(args); }

  void validate_task(const Json& task) const override {
    http2::validate_http_task(task, "an HTTP/3 user");
    const char* key = task.contains("request_url") ? "request_url" : "url";
    const std::string url = task[key].get<std::string>();
    if (url.size() >= 7 && text_starts_with_ci(url, "http://")) {
      throw ConfigError(std::string("task field '") + key + "': '" + url +
                            "' is http://; HTTP/3 runs over QUIC, which is always TLS (use "
                            "https://)",
                        pointer_key(key));
    }
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& tasks,
                                                 engine::CompileContext& ctx) const override {
    auto out = std::make_unique<Tasks>();
    out->base = http2::compile_steps(*this, tasks, ctx, /*openssl=*/false);
    out->max_streams = http2::max_streams_of(ctx.options);
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      const http2::Step& s = out->base->steps[i];
      const char* key = tasks[i].contains("request_url") ? "request_url" : "url";
      if (!s.url.tls) {  // a relative URL under an http:// host
        throw ConfigError("task " + std::to_string(i) + ": task field '" + key + "': '" +
                              s.url_text +
                              "' is http://; HTTP/3 runs over QUIC, which is always TLS (use "
                              "https://)",
                          pointer_index(i) + pointer_key(key));
      }
      try {
        out->tls.push_back(tls_.get(tasks[i]));
      } catch (const ConfigError& e) {
        throw ConfigError(std::string("task ") + std::to_string(i) + ": " + e.what(),
                          pointer_index(i) + e.pointer());
      }
    }
    Counters::get();  // registered before the run, so the workers only add
    return out;
  }

 private:
  static bool text_starts_with_ci(const std::string& s, std::string_view prefix) {
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    }
    return true;
  }

  mutable TlsSettings tls_;
  const std::vector<action::Param> fields_ = http2::http_task_fields();
};

}  // namespace

const Counters& Counters::get() {
  static const Counters c{stats::register_counter("http3", "handshakes"),
                          stats::register_counter("http3", "stream_resets"),
                          stats::register_counter("http3", "peer_closes"),
                          stats::register_counter("http3", "connections_failed"),
                          stats::register_counter("http3", "idle_timeouts"),
                          stats::register_counter("http3", "packets_lost"),
                          stats::register_counter("http3", "probe_timeouts")};
  return c;
}

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<Http3Protocol>(); }

}  // namespace ld::proto::http3
