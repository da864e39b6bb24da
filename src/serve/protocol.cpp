#include "serve/protocol.hpp"

#include <exception>

#include "loaddensity/core/error.hpp"

namespace ld::serve {

std::array<unsigned char, 4> frame_header(std::uint32_t n) noexcept {
  return {static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
          static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
}

std::uint32_t read_frame_header(const unsigned char* b) noexcept {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

std::string encode_piece(std::string_view piece, bool framed) {
  if (!framed) return std::string(piece);
  const auto h = frame_header(static_cast<std::uint32_t>(piece.size()));
  std::string out(reinterpret_cast<const char*>(h.data()), h.size());
  out.append(piece);
  return out;
}

bool token_equal(std::string_view a, std::string_view b) noexcept {
  // Every byte of the longer string is visited; a length difference is folded into the
  // result instead of returning early.
  const std::size_t n = a.size() > b.size() ? a.size() : b.size();
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

namespace {

std::string_view strip(std::string_view s) {
  auto ws = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// A SAX handler that builds nothing: only where a parse error happened matters.
struct ErrorPosition : nlohmann::json_sax<Json> {
  std::size_t position = 0;
  bool failed = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t pos, const std::string&,
                   const nlohmann::detail::exception&) override {
    failed = true;
    position = pos;
    return false;
  }
};

}  // namespace

Completeness legacy_completeness(std::string_view bytes) {
  const std::string_view s = strip(bytes);
  if (s.empty()) return Completeness::kIncomplete;
  if (s == kQuitServer) return Completeness::kComplete;
  ErrorPosition sax;
  Json::sax_parse(s.begin(), s.end(), &sax);
  // An error at the end of the input means the text could still become JSON.
  return sax.failed && sax.position > s.size() ? Completeness::kIncomplete
                                               : Completeness::kComplete;
}

std::vector<std::string> reply_for_error(std::string_view message) {
  return {"Error: " + std::string(message) + "\n", std::string(kTerminator)};
}

Decision decide(std::string_view raw, std::string_view token) {
  Decision d;
  const std::string_view body = strip(raw);
  if (body.empty()) return d;  // nothing asked, nothing answered
  const bool secured = !token.empty();
  if (body == kQuitServer) {
    // With a token the bare word cannot stop the server: the envelope's "op" must.
    d.reply.emplace_back(secured ? kTokenRequired : kShuttingDown);
    d.quit = !secured;
    return d;
  }
  Json j;
  try {
    j = parse_json_text(body, "request");
  } catch (const std::exception& e) {
    d.reply = reply_for_error(e.what());
    return d;
  }
  const bool envelope =
      j.is_object() && (j.contains("token") || j.contains("command") || j.contains("op"));
  if (!envelope) {
    if (secured) {
      d.reply.emplace_back(kTokenRequired);
    } else {
      d.document = std::move(j);
    }
    return d;
  }
  if (secured) {
    const Json& t = j.contains("token") ? j["token"] : Json();
    if (!t.is_string() || !token_equal(t.get_ref<const std::string&>(), token)) {
      d.reply.emplace_back(kUnauthorised);
      return d;
    }
  }
  if (j.contains("op") && j["op"] == "quit") {
    d.reply.emplace_back(kShuttingDown);
    d.quit = true;
    return d;
  }
  if (j.contains("command") && !j["command"].is_null()) {
    d.document = std::move(j["command"]);
    return d;
  }
  d.reply.emplace_back(kTerminator);  // an envelope that asks nothing
  return d;
}

std::vector<std::string> reply_for_results(const Json& results) {
  std::vector<std::string> out;
  out.reserve(results.size() + 1);
  for (const Json& r : results) {
    const bool ok = r.value("ok", false);
    const Json value = ok ? r.value("result", Json()) : Json{{"error", r.value("error", "")}};
    out.push_back(value.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n");
  }
  out.emplace_back(kTerminator);
  return out;
}

}  // namespace ld::serve
