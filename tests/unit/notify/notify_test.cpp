// Notifier messages: Slack Block Kit and the Teams Adaptive Card made from a summary, and the
// POST's refusal of what it cannot send to.
#include <gtest/gtest.h>

#include "notify/notify.hpp"

namespace ld::notify {
namespace {

const Json kSummary = Json::parse(R"({
  "totals": {"requests": 12345, "failures": 123, "duration_s": 10.04, "requests_per_second": 1229.6},
  "latency_overall": {"p95_ms": 8.456, "p99_ms": 123.4},
  "runs": [{"user": "fast_http_user", "users": 50, "stop_reason": "test_time"}],
  "errors": [
    {"name": "a", "request_type": "GET", "kind": "timeout", "message": "request timed out", "count": 3},
    {"name": "b<&>", "request_type": "POST", "kind": "http_status", "message": "HTTP 503", "count": 120}
  ]})");
const Json kSla = Json::parse(R"([
  {"passed": true, "rule": {"type": "latency_p95", "value": 200}, "actual": 8.456, "reason": ""},
  {"passed": false, "rule": {"type": "failure_rate", "name": "b", "op": "lt", "value": 0.001},
   "actual": 0.0099, "reason": "failure_rate(b)=0.0099 not lt 0.001"}])");

TEST(SlackPayloadTest, BlockKitWithFactsSlaAndTopErrors) {
  const Json p = slack_payload({kSummary, kSla, "Nightly <prod>"});
  EXPECT_EQ(p["text"],
            "Nightly <prod>: 12,345 requests, 123 failed (1.00%), p95 8.46 ms, p99 123 ms");
  const Json& b = p["blocks"];
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[0], Json::parse(
                      R"({"type":"header","text":{"type":"plain_text","text":"Nightly <prod>"}})"));
  EXPECT_EQ(b[1]["type"], "section");
  EXPECT_EQ(b[1]["fields"][0], Json::parse(R"({"type":"mrkdwn","text":"*Requests*\n12,345"})"));
  EXPECT_EQ(b[1]["fields"][1]["text"], "*Failures*\n123");
  EXPECT_EQ(b[1]["fields"][2]["text"], "*Failure rate*\n1.00%");
  EXPECT_EQ(b[1]["fields"][3]["text"], "*P95 latency*\n8.46 ms");
  EXPECT_EQ(b[1]["fields"][4]["text"], "*P99 latency*\n123 ms");
  EXPECT_EQ(b[1]["fields"][5]["text"], "*Requests/s*\n1229.6");
  EXPECT_EQ(b[2]["type"], "context");
  EXPECT_EQ(b[2]["elements"][0]["text"],
            "Duration 10.0 s · fast_http_user · 50 users · stopped by test_time");
  EXPECT_EQ(b[3]["text"]["text"],
            "*SLA: 1 of 2 rules passed*\n:white_check_mark: `latency_p95(overall) lte 200: 8.456`"
            "\n:x: `failure_rate(b) lt 0.001: 0.0099`");
  // Most frequent first; mrkdwn's three special characters escaped.
  EXPECT_EQ(b[4]["text"]["text"],
            "*Top errors*\n• `POST b&lt;&amp;&gt;` http_status: HTTP 503 (120)"
            "\n• `GET a` timeout: request timed out (3)");
}

TEST(SlackPayloadTest, NoSlaNoErrorsAndLongTitles) {
  const Json p = slack_payload({Json::object(), Json(), std::string(200, 't')});
  ASSERT_EQ(p["blocks"].size(), 3u);
  EXPECT_EQ(p["blocks"][0]["text"]["text"].get<std::string>().size(), 150u);
  EXPECT_EQ(p["blocks"][1]["fields"][0]["text"], "*Requests*\n0");
}

TEST(TeamsPayloadTest, AdaptiveCardInAMessage) {
  const Json p = teams_payload({kSummary, kSla, "Nightly"});
  EXPECT_EQ(p["type"], "message");
  ASSERT_EQ(p["attachments"].size(), 1u);
  EXPECT_EQ(p["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
  const Json& card = p["attachments"][0]["content"];
  EXPECT_EQ(card["type"], "AdaptiveCard");
  EXPECT_EQ(card["version"], "1.4");
  const Json& body = card["body"];
  ASSERT_EQ(body.size(), 7u);
  EXPECT_EQ(body[0]["text"], "Nightly");
  EXPECT_EQ(body[2]["type"], "FactSet");
  EXPECT_EQ(body[2]["facts"][0], Json::parse(R"({"title":"Requests","value":"12,345"})"));
  EXPECT_EQ(body[2]["facts"][3], Json::parse(R"({"title":"P95 latency","value":"8.46 ms"})"));
  EXPECT_EQ(body[3]["text"], "SLA: 1 of 2 rules passed");
  EXPECT_EQ(body[3]["color"], "Attention");
  EXPECT_EQ(body[4]["facts"][1],
            Json::parse(R"({"title":"FAILED","value":"failure_rate(b) lt 0.001: 0.0099"})"));
  EXPECT_EQ(body[6]["facts"][0],
            Json::parse(R"j({"title":"POST b<&>","value":"http_status: HTTP 503 (120)"})j"));
}

TEST(PostJsonTest, RefusesWhatItCannotSendTo) {
  try {
    post_json("ftp://example.com/x", "{}", 1, true);
    FAIL() << "no error";
  } catch (const PostError& e) {
    EXPECT_EQ(e.status(), 0);
    EXPECT_NE(std::string(e.what()).find("webhook_url: "), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ld::notify
