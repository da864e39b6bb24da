// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include "notify/notify.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cmath>
#include <optional>
#include <vector>

#include "common/connect.hpp"
#include "common/format.hpp"
#include "common/net_util.hpp"
#include "common/url.hpp"

namespace ld::notify {

namespace {

// ---- the message

std::uint64_t u64(const Json& block, const char* key) {
  auto it = block.find(key);
  return it != block.end() && it->is_number() ? it->get<std::uint64_t>() : 0;
}
double num(const Json& block, const char* key) {
  auto it = block.find(key);
  return it != block.end() && it->is_number() ? it->get<double>() : 0.0;
}
const Json& object(const Json& j, const char* key) {
  static const Json kEmpty = Json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

std::string ms_text(double ms) {
  return reports::fixed(ms, ms >= 100 ? 0 : ms >= 10 ? 1 : 2) + " ms";
}
std::string percent(double fraction) { return reports::fixed(fraction * 100, 2) + "%"; }

// The facts every message shows, in order: label and value.
struct Facts {
  std::vector<std::pair<std::string, std::string>> items;
  std::string fallback;  // one line for notifications
  std::string context;   // duration, throughput, stop reason
};

Facts facts_of(const Report& r) {
  const Json& totals = object(r.summary, "totals");
  const Json& lat = object(r.summary, "latency_overall");
  const std::uint64_t requests = u64(totals, "requests"), failures = u64(totals, "failures");
  const double rate = requests ? static_cast<double>(failures) / static_cast<double>(requests) : 0;
  Facts f;
  f.items = {{"Requests", reports::thousands(requests)},
             {"Failures", reports::thousands(failures)},
             {"Failure rate", percent(rate)},
             {"P95 latency", ms_text(num(lat, "p95_ms"))},
             {"P99 latency", ms_text(num(lat, "p99_ms"))},
             {"Requests/s", reports::fixed(num(totals, "requests_per_second"), 1)}};
  f.fallback = r.title + ": " + reports::thousands(requests) + " requests, " +
               reports::thousands(failures) + " failed (" + percent(rate) + "), p95 " +
               ms_text(num(lat, "p95_ms")) + ", p99 " + ms_text(num(lat, "p99_ms"));
  f.context = "Duration " + reports::fixed(num(totals, "duration_s"), 1) + " s";
  if (auto runs = r.summary.find("runs");
      runs != r.summary.end() && runs->is_array() && !runs->empty() && runs->back().is_object()) {
    const Json& last = runs->back();
    if (last.contains("user") && last["user"].is_string()) {
      f.context += " · " + last["user"].get<std::string>();
    }
    if (last.contains("users") && last["users"].is_number()) {
      f.context += " · " + reports::thousands(last["users"].get<std::uint64_t>()) + " users";
    }
    if (last.contains("stop_reason") && last["stop_reason"].is_string()) {
      f.context += " · stopped by " + last["stop_reason"].get<std::string>();
    }
  }
  return f;
}

struct SlaLine {
  bool passed;
  std::string text;
};
// "latency_p95(overall) lte 200: 12.5" per rule; empty when no SLA ran.
std::vector<SlaLine> sla_lines(const Json& results) {
  std::vector<SlaLine> out;
  if (!results.is_array()) return out;
  for (const Json& res : results) {
    if (!res.is_object()) continue;
    const Json& rule = object(res, "rule");
    std::string text = rule.value("type", std::string("rule"));
    text += "(" +
            (rule.contains("name") && rule["name"].is_string() ? rule["name"].get<std::string>()
                                                               : std::string("overall")) +
            ") ";
    text += rule.contains("op") && rule["op"].is_string() ? rule["op"].get<std::string>() : "lte";
    if (rule.contains("value")) text += " " + rule["value"].dump();
    const bool passed = res.value("passed", false);
    if (res.contains("actual") && res["actual"].is_number()) {
      text += ": " + reports::py_float(res["actual"].get<double>());
    } else if (!passed && res.contains("reason") && res["reason"].is_string()) {
      text += ": " + res["reason"].get<std::string>();
    }
    out.push_back({passed, std::move(text)});
  }
  return out;
}

struct ErrorLine {
  std::string where;  // "GET name"
  std::string what;   // "http_status: HTTP 503"
  std::uint64_t count;
};
std::vector<ErrorLine> top_errors(const Json& summary) {
  std::vector<ErrorLine> out;
  auto it = summary.find("errors");
  if (it == summary.end() || !it->is_array()) return out;
  for (const Json& e : *it) {
    if (!e.is_object()) continue;
    out.push_back({e.value("request_type", std::string()) + " " + e.value("name", std::string()),
                   e.value("kind", std::string()) + ": " + e.value("message", std::string()),
                   u64(e, "count")});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const ErrorLine& a, const ErrorLine& b) { return a.count > b.count; });
  if (out.size() > kTopErrors) out.resize(kTopErrors);
  return out;
}

std::string clip(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  s.resize(max - 3);
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();  // a lead byte
  return s + "...";
}

// Slack mrkdwn: &, < and > are escaped, nothing else.
std::string mrkdwn(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Json slack_payload(const Report& r) {
  const Facts f = facts_of(r);
  Json fields = Json::array();
  for (const auto& [label, value] : f.items) {
    fields.push_back({{"type", "mrkdwn"}, {"text", "*" + label + "*\n" + value}});
  }
  Json blocks = Json::array();
  blocks.push_back(
      {{"type", "header"}, {"text", {{"type", "plain_text"}, {"text", clip(r.title, 150)}}}});
  blocks.push_back({{"type", "section"}, {"fields", std::move(fields)}});
  blocks.push_back(
      {{"type", "context"},
       {"elements", Json::array({{{"type", "mrkdwn"}, {"text", mrkdwn(f.context)}}})}});
  if (const auto sla = sla_lines(r.sla_results); !sla.empty()) {
    const auto passed =
        std::count_if(sla.begin(), sla.end(), [](const SlaLine& l) { return l.passed; });
    std::string text =
        "*SLA: " + std::to_string(passed) + " of " + std::to_string(sla.size()) + " rules passed*";
    for (const auto& l : sla)
      text += std::string("\n") + (l.passed ? ":white_check_mark: " : ":x: ") + "`" +
              mrkdwn(l.text) + "`";
    blocks.push_back(
        {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", clip(text, 3000)}}}});
  }
  if (const auto errors = top_errors(r.summary); !errors.empty()) {
    std::string text = "*Top errors*";
    for (const auto& e : errors) {
      text += "\n• `" + mrkdwn(e.where) + "` " + mrkdwn(e.what) + " (" +
              reports::thousands(e.count) + ")";
    }
    blocks.push_back(
        {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", clip(text, 3000)}}}});
  }
  return {{"text", f.fallback}, {"blocks", std::move(blocks)}};
}

Json teams_payload(const Report& r) {
  const Facts f = facts_of(r);
  Json facts = Json::array();
  for (const auto& [label, value] : f.items) facts.push_back({{"title", label}, {"value", value}});
  Json body = Json::array();
  body.push_back({{"type", "TextBlock"},
                  {"text", r.title},
                  {"size", "Large"},
                  {"weight", "Bolder"},
                  {"wrap", true}});
  body.push_back({{"type", "TextBlock"},
                  {"text", f.context},
                  {"isSubtle", true},
                  {"spacing", "None"},
                  {"wrap", true}});
  body.push_back({{"type", "FactSet"}, {"facts", std::move(facts)}});
  if (const auto sla = sla_lines(r.sla_results); !sla.empty()) {
    const auto passed =
        std::count_if(sla.begin(), sla.end(), [](const SlaLine& l) { return l.passed; });
    body.push_back(
        {{"type", "TextBlock"},
         {"text",
          "SLA: " + std::to_string(passed) + " of " + std::to_string(sla.size()) + " rules passed"},
         {"weight", "Bolder"},
         {"color", passed == static_cast<std::ptrdiff_t>(sla.size()) ? "Good" : "Attention"},
         {"spacing", "Medium"},
         {"wrap", true}});
    Json rules = Json::array();
    for (const auto& l : sla)
      rules.push_back({{"title", l.passed ? "passed" : "FAILED"}, {"value", l.text}});
    body.push_back({{"type", "FactSet"}, {"facts", std::move(rules)}});
  }
  if (const auto errors = top_errors(r.summary); !errors.empty()) {
    body.push_back({{"type", "TextBlock"},
                    {"text", "Top errors"},
                    {"weight", "Bolder"},
                    {"spacing", "Medium"},
                    {"wrap", true}});
    Json rows = Json::array();
    for (const auto& e : errors) {
      rows.push_back(
          {{"title", e.where}, {"value", e.what + " (" + reports::thousands(e.count) + ")"}});
    }
    body.push_back({{"type", "FactSet"}, {"facts", std::move(rows)}});
  }
  Json card = {{"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
               {"type", "AdaptiveCard"},
               {"version", "1.4"},
               {"msteams", {{"width", "Full"}}},
               {"body", std::move(body)}};
  return {{"type", "message"},
          {"summary", f.fallback},
          {"attachments", Json::array({{{"contentType", "application/vnd.microsoft.card.adaptive"},
                                        {"contentUrl", nullptr},
                                        {"content", std::move(card)}}})}};
}

// ---- the POST

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using boost::system::system_error;

struct Answer {
  int status = 0;
  std::string body;
};

template <class Stream>
net::awaitable<Answer> exchange(Stream& stream, const proto::Url& url, const std::string& body) {
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.host_header);
  req.set(http::field::user_agent, "loaddensity");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::connection, "close");
  req.body() = body;
  req.prepare_payload();
  co_await http::async_write(stream, req, net::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1u << 20);
  co_await http::async_read(stream, buffer, parser, net::use_awaitable);
  co_return Answer{static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
}

}  // namespace

int post_json(const std::string& url_text, const std::string& body, double timeout_s,
              const Json& verify) {
  proto::Url url;
  std::string error;
  if (!proto::parse_url(url_text, url, error)) {
    throw PostError("webhook_url: " + error, 0);
  }
  std::shared_ptr<net::ssl::context> tls;
  if (url.tls) {
    proto::TlsContexts contexts;
    tls = contexts.get(Json{{"verify", verify}});
  }
  net::io_context io;
  std::optional<Answer> answer;
  std::string failure;
  const std::string where = url.host + ":" + std::to_string(url.port);
  auto run = [&]() -> net::awaitable<void> {
    tcp::resolver resolver(io);
    const char* stage = "cannot resolve ";
    try {
      auto endpoints =
          co_await resolver.async_resolve(url.host, std::to_string(url.port), net::use_awaitable);
      stage = "cannot connect to ";
      beast::tcp_stream tcp_stream(io);
      co_await tcp_stream.async_connect(endpoints, net::use_awaitable);
      if (!tls) {
        stage = "exchange with ";
        answer = co_await exchange(tcp_stream, url, body);
        co_return;
      }
      beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), *tls);
      proto::prepare_tls_client(stream.native_handle(), url.host);
      stage = "TLS handshake with ";
      try {
        co_await stream.async_handshake(net::ssl::stream_base::client, net::use_awaitable);
      } catch (const system_error&) {
        const char* why = proto::tls_handshake_error(stream.native_handle()).what;
        failure = "TLS handshake with " + where + " failed: " + (why ? why : "unknown reason");
        co_return;
      }
      stage = "exchange with ";
      answer = co_await exchange(stream, url, body);
    } catch (const system_error& e) {
      failure = stage + where + ": " + e.code().message();
    }
  };
  net::co_spawn(io, run(), [](std::exception_ptr) {});
  const auto budget = std::chrono::duration<double>(timeout_s > 0 ? timeout_s : 5.0);
  io.run_for(std::chrono::duration_cast<std::chrono::nanoseconds>(budget));
  if (!answer && failure.empty()) {
    throw PostError(
        "webhook " + where + " did not answer within " + reports::py_float(budget.count()) + " s",
        0);
  }
  if (!answer) throw PostError("webhook: " + failure, 0);
  if (answer->status < 200 || answer->status > 299) {
    std::string text = answer->body.substr(0, 200);
    for (char& c : text) {
      if (c == '\r' || c == '\n') c = ' ';
    }
    throw PostError("webhook answered HTTP " + std::to_string(answer->status) +
                        (text.empty() ? std::string() : ": " + text),
                    answer->status);
  }
  return answer->status;
}

}  // namespace ld::notify
