// The per-request side of a gRPC call: request messages rendered from JSON per request (only
// when a placeholder varies; fixed messages were encoded once at compile time) and the answer
// judged from its grpc-status trailer, its message frames and the task's checks.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <google/protobuf/util/json_util.h>

#include "common/url.hpp"
#include "core/text.hpp"
#include "grpc/grpc_impl.hpp"

namespace ld::proto::grpc {

namespace pbu = google::protobuf::util;

int status_code_of(std::string_view name) {
  int n = 0;
  bool digits = !name.empty() && name.size() <= 2;
  for (char c : name) {
    if (c < '0' || c > '9') digits = false;
    else n = n * 10 + (c - '0');
  }
  if (digits) return n < kStatusCount ? n : -1;
  for (int i = 0; i < kStatusCount; ++i) {
    if (text::iequals(kStatusNames[i], name)) return i;
  }
  return -1;
}

void append_frame(std::string& out, std::string_view message) {
  const auto n = static_cast<std::uint32_t>(message.size());
  const char head[5] = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                        static_cast<char>(n >> 8), static_cast<char>(n)};
  out.append(head, 5);
  out.append(message);
}

const char* Call::render_body(std::string& out, std::string& scratch,
                              params::UserScope& scope) const {
  for (const auto& m : messages) {
    scratch.clear();
    m.render(scratch, scope);
    const std::size_t at = out.size();
    out.append(5, '\0');
    // The binary form is appended after the frame header, then the length is filled in.
    if (!pbu::JsonToBinaryString(schema->resolver(), in_type, scratch, &out).ok()) {
      return "gRPC payload does not match the request message once placeholders resolved";
    }
    const auto n = static_cast<std::uint32_t>(out.size() - at - 5);
    out[at + 1] = static_cast<char>(n >> 24);
    out[at + 2] = static_cast<char>(n >> 16);
    out[at + 3] = static_cast<char>(n >> 8);
    out[at + 4] = static_cast<char>(n);
  }
  return nullptr;
}

namespace {

// The value of the last header field `name` in "name: value\r\n" lines (trailers come last).
bool find_field(std::string_view headers, std::string_view name, std::string_view& value) {
  bool found = false;
  while (!headers.empty()) {
    const std::size_t eol = headers.find("\r\n");
    const std::string_view line = headers.substr(0, eol);
    if (line.size() > name.size() + 1 && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ':') {
      value = line.substr(name.size() + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      found = true;
    }
    if (eol == std::string_view::npos) break;
    headers.remove_prefix(eol + 2);
  }
  return found;
}

const stats::ErrorInfo kNoStatus{stats::ErrorKind::kProtocol,
                                 "gRPC response has no grpc-status (not a gRPC server?)", 0, false};

}  // namespace

bool Call::to_json(std::string_view body, std::string& out) const {
  thread_local std::string message;  // BinaryToJsonString takes a std::string
  pbu::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  out.clear();
  if (server_streaming) out.push_back('[');
  bool first = true, ok = true;
  const char* bad = each_frame(body, [&](std::string_view m) {
    if (!ok) return;
    if (!first) out.push_back(',');
    first = false;
    message.assign(m);
    ok = pbu::BinaryToJsonString(schema->resolver(), out_type, message, &out, opts).ok();
  });
  if (bad || !ok) {
    out.assign(bad ? bad : "gRPC response message does not decode as the response type");
    return false;
  }
  if (server_streaming) out.push_back(']');
  else if (first) out.assign("null");
  return true;
}

void Call::judge(std::string_view body, std::string_view headers, std::string& scratch,
                 engine::WorkerContext& w, stats::Record& rec) const {
  const std::uint32_t http_status = rec.status;
  std::string_view value;
  if (!find_field(headers, "grpc-status", value)) {
    rec.error = http_status != 200
                    ? stats::ErrorInfo{stats::ErrorKind::kHttpStatus, "HTTP",
                                       static_cast<int>(http_status), false}
                    : kNoStatus;
    return;
  }
  const int code = status_code_of(value);
  if (code < 0) {
    rec.error = {stats::ErrorKind::kProtocol, "gRPC response has an unknown grpc-status", 0, false};
    return;
  }
  rec.status = static_cast<std::uint32_t>(code);
  std::size_t count = 0;
  if (const char* bad = each_frame(body, [&](std::string_view) { ++count; })) {
    rec.error = {stats::ErrorKind::kProtocol, bad, 0, false};
    return;
  }
  // Streams count their messages (summary: messages_sent / messages_received per name).
  rec.messages_out = streamed_out;
  if (server_streaming) rec.messages_in = static_cast<std::uint32_t>(count);
  if (code != 0 && !status_checked) {
    // Failure path: the server's message is part of the error's identity.
    scratch.assign(kStatusNames[code]);
    if (find_field(headers, "grpc-message", value) && !value.empty()) {
      scratch += ": ";
      std::string text;  // grpc-message is percent-encoded ("Status-Message")
      if (!percent_decode(value, text)) text.assign(value);
      scratch += text;
    }
    // The code is in the text (and in rec.status), so the error carries none of its own.
    rec.error = {stats::ErrorKind::kGrpcStatus, w.intern(scratch), 0, false};
    return;
  }
  if (expect_messages >= 0 && static_cast<long long>(count) != expect_messages) {
    rec.error = {stats::ErrorKind::kAssertion, expect_message.c_str(), code, false};
    return;
  }
  const bool keep = w.keep_bodies != 0;
  if (!checks && !keep) return;
  bool decoded = true;
  if (keep || checks->needs_body()) decoded = to_json(body, scratch);
  if (!decoded) {
    rec.error = {stats::ErrorKind::kProtocol, w.intern(scratch), 0, false};
    return;
  }
  if (checks) {
    if (const char* failed =
            checks->apply(checks::ResponseView{code, scratch, headers}, *w.scope)) {
      rec.error = {stats::ErrorKind::kAssertion, failed, code, false};
      if (checks->needs_body()) rec.text = scratch;
      return;
    }
  }
  if (keep) {
    rec.text = scratch;
    rec.headers = headers;
  }
}

}  // namespace ld::proto::grpc
