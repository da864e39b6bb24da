#pragma once
// Private to protocols/grpc: a gRPC call is an HTTP/2 request (POST /pkg.Service/Method,
// content-type application/grpc, te: trailers) whose body is length-prefixed protobuf messages
// and whose outcome is the grpc-status trailer. The calls run on the HTTP/2 client of
// protocols/http2 (one connection per user, `max_streams` calls at once, TLS, timeouts); this
// folder builds the messages and judges the answers through http2::StepHooks.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <memory>
#include <string>
#include <vector>

#include "checks/checks.hpp"
#include "grpc/schema.hpp"
#include "http2/http2_impl.hpp"

namespace ld::proto::grpc {

constexpr double kDefaultTimeoutS = 30.0;
constexpr std::string_view kDefaultTarget = "localhost:50051";  // the original's default

// gRPC status code names (index = code).
inline constexpr const char* kStatusNames[] = {
    "OK",           "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED", "NOT_FOUND",     "ALREADY_EXISTS", "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL",          "UNAVAILABLE",    "DATA_LOSS",
    "UNAUTHENTICATED"};
constexpr int kStatusCount = 17;
// "NOT_FOUND" / "not_found" / "5" -> 5; -1 when unknown.
int status_code_of(std::string_view name);

// Appends one gRPC message frame (uncompressed flag, 4-byte big-endian length, bytes).
void append_frame(std::string& out, std::string_view message);
// Splits a response body into message frames. Returns null and calls `each(message)` per
// message, or why the body is malformed.
template <typename F>
const char* each_frame(std::string_view body, F&& each) {
  while (!body.empty()) {
    if (body.size() < 5) return "gRPC response body ends inside a message header";
    if (body[0] != 0) return "gRPC response message is compressed (none was offered)";
    const auto* p = reinterpret_cast<const unsigned char*>(body.data());
    const std::size_t len = (std::size_t{p[1]} << 24) | (std::size_t{p[2]} << 16) |
                            (std::size_t{p[3]} << 8) | std::size_t{p[4]};
    if (body.size() - 5 < len) return "gRPC response body ends inside a message";
    each(body.substr(5, len));
    body.remove_prefix(5 + len);
  }
  return nullptr;
}

// One task's call: how its request body is built per request and its answer judged.
class Call final : public http2::StepHooks {
 public:
  std::shared_ptr<const Schema> schema;  // keeps the descriptors alive
  std::string in_type, out_type;         // type URLs of the request and response messages
  bool server_streaming = false;
  std::uint32_t streamed_out = 0;  // client streaming: the request messages each call sends
  std::vector<params::Template> messages;  // per-request messages (JSON), when dynamic
  long long expect_messages = -1;          // -1: not checked
  std::string expect_message;              // "expect_messages failed: ..." (static)
  std::unique_ptr<checks::Checks> checks;  // null when the task has none
  bool status_checked = false;             // a `status` assertion decides what a non-OK means

  const char* render_body(std::string& out, std::string& scratch,
                          params::UserScope& scope) const override;
  void judge(std::string_view body, std::string_view headers, std::string& scratch,
             engine::WorkerContext& w, stats::Record& rec) const override;

  // The response messages as JSON into `out`: one object for a single-response method, an
  // array for a streaming one. False (and `out` says why) when a message does not decode.
  bool to_json(std::string_view body, std::string& out) const;
};

// The run's compiled tasks: HTTP/2 steps with a Call each.
class Tasks final : public engine::CompiledTasks {
 public:
  std::size_t size() const noexcept override { return h2.size(); }
  Nanos max_timeout() const noexcept override { return h2.max_timeout(); }
  std::uint32_t name_id(std::size_t i) const noexcept override { return h2.name_id(i); }
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override {
    return h2.new_user(worker);
  }
  http2::Tasks h2;
};

}  // namespace ld::proto::grpc
