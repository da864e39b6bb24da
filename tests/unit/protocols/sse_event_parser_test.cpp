// The text/event-stream parser against the HTML standard's event stream interpretation rules.
#include "sse/event_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ld::proto::sse {
namespace {

struct Event {
  std::string type, data, id;
  bool operator==(const Event&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  return os << "{type=" << e.type << " data=" << e.data << " id=" << e.id << "}";
}

// Feeds `pieces` in order and collects every event.
std::vector<Event> parse(EventParser& p, const std::vector<std::string>& pieces) {
  std::vector<Event> out;
  for (const std::string& piece : pieces) {
    std::string_view rest = piece;
    for (;;) {
      bool ready = false;
      const std::size_t used = p.feed(rest, ready);
      rest.remove_prefix(used);
      if (ready)
        out.push_back({std::string(p.type()), std::string(p.data()), std::string(p.last_id())});
      if (!ready && (rest.empty() || p.error())) break;
    }
  }
  return out;
}

std::vector<Event> parse(const std::string& text) {
  EventParser p;
  return parse(p, {text});
}

// Every split of `text` into single bytes.
std::vector<Event> parse_bytewise(const std::string& text) {
  EventParser p;
  std::vector<std::string> pieces;
  for (char c : text) pieces.emplace_back(1, c);
  return parse(p, pieces);
}

TEST(SseEventParser, DispatchesOnBlankLineWithDefaultType) {
  EXPECT_EQ(parse("data: hello\n\n"), (std::vector<Event>{{"message", "hello", ""}}));
}

TEST(SseEventParser, JoinsMultiLineDataWithLineFeeds) {
  EXPECT_EQ(parse("data: one\ndata: two\ndata:three\n\n"),
            (std::vector<Event>{{"message", "one\ntwo\nthree", ""}}));
}

TEST(SseEventParser, AcceptsCrLfAndBareCrLineEnds) {
  const std::vector<Event> want{{"message", "a\nb", ""}, {"message", "c", ""}};
  EXPECT_EQ(parse("data: a\r\ndata: b\r\n\r\ndata: c\r\r"), want);
  EXPECT_EQ(parse("data: a\rdata: b\r\rdata: c\n\n"), want);
}

TEST(SseEventParser, CrLfSplitAcrossPiecesIsOneLineEnd) {
  EventParser p;
  // If the LF after a piece-final CR were a second line end, "data: x" would dispatch early
  // and the blank line would be counted twice.
  const auto events = parse(p, {"data: x\r", "\ndata: y\r", "\n\r", "\n"});
  EXPECT_EQ(events, (std::vector<Event>{{"message", "x\ny", ""}}));
}

TEST(SseEventParser, ByteAtATimeGivesTheSameEvents) {
  const std::string text =
      "\xEF\xBB\xBF: comment\r\nid: 7\r\nevent: tick\r\ndata: a\r\ndata:  b\r\n\r\n"
      "retry: 250\ndata\n\ndata: last\rid: 9\r\r";
  const auto whole = parse(text);
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[0], (Event{"tick", "a\n b", "7"}));
  EXPECT_EQ(whole[1], (Event{"message", "", "7"}));
  EXPECT_EQ(whole[2], (Event{"message", "last", "9"}));
  EXPECT_EQ(parse_bytewise(text), whole);
}

TEST(SseEventParser, CommentsAreCountedAndIgnored) {
  EventParser p;
  const auto events = parse(p, {": keep-alive\n:\ndata: x\n: inside\n\n"});
  EXPECT_EQ(events, (std::vector<Event>{{"message", "x", ""}}));
  EXPECT_EQ(p.comments(), 3u);
}

TEST(SseEventParser, OnlyOneLeadingSpaceIsStripped) {
  EXPECT_EQ(parse("data:  two spaces\n\n")[0].data, " two spaces");
  EXPECT_EQ(parse("data:none\n\n")[0].data, "none");
}

TEST(SseEventParser, FieldWithoutColonHasEmptyValue) {
  // "data" alone appends an empty line: the event dispatches with empty data.
  EXPECT_EQ(parse("data\n\n"), (std::vector<Event>{{"message", "", ""}}));
  EXPECT_EQ(parse("data\ndata\n\n")[0].data, "\n");
}

TEST(SseEventParser, BlockWithoutDataIsNotDispatchedAndResetsType) {
  EXPECT_EQ(parse("event: lonely\n\ndata: x\n\n"), (std::vector<Event>{{"message", "x", ""}}));
}

TEST(SseEventParser, EventTypeAppliesToOneEventOnly) {
  EXPECT_EQ(parse("event: a\ndata: 1\n\ndata: 2\n\n"),
            (std::vector<Event>{{"a", "1", ""}, {"message", "2", ""}}));
}

TEST(SseEventParser, LastIdPersistsAndIsSetAtDispatch) {
  EventParser p;
  bool ready = false;
  std::string_view in = "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 5\n";
  std::vector<std::string> ids;
  while (!in.empty()) {
    in.remove_prefix(p.feed(in, ready));
    if (ready) ids.emplace_back(p.last_id());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "1", ""}));
  // "id: 5" has no blank line after it yet: the stream's last id is still "".
  EXPECT_EQ(p.last_id(), "");
  in = "\n";
  p.feed(in, ready);
  EXPECT_FALSE(ready);  // no data: nothing dispatched, but the id buffer still applies
  EXPECT_EQ(p.last_id(), "5");
}

TEST(SseEventParser, IdContainingNulIsIgnored) {
  std::string text = "id: 3\ndata: a\n\nid: x";
  text.push_back('\0');
  text += "y\ndata: b\n\n";
  const auto events = parse(text);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].id, "3");
}

TEST(SseEventParser, RetryTakesOnlyAsciiDigits) {
  EventParser p;
  parse(p, {"retry: 1500\n\n"});
  EXPECT_EQ(p.retry_ms(), 1500);
  parse(p, {"retry: 12a\n\nretry: -5\n\nretry:\n\nretry: 3.5\n\n"});
  EXPECT_EQ(p.retry_ms(), 1500);
  parse(p, {"retry:0\n\n"});
  EXPECT_EQ(p.retry_ms(), 0);
}

TEST(SseEventParser, UnknownFieldsAreIgnored) {
  EXPECT_EQ(parse("foo: bar\ndata: x\nDATA: upper\n\n"),
            (std::vector<Event>{{"message", "x", ""}}));
}

TEST(SseEventParser, ByteOrderMarkOnlyAtTheStart) {
  EventParser p;
  const auto events = parse(p, {"\xEF\xBB",
                                "\xBF"
                                "data: a\n\n",
                                "data: \xEF\xBB\xBF"
                                "b\n\n"});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "a");
  EXPECT_EQ(events[1].data,
            "\xEF\xBB\xBF"
            "b");
}

TEST(SseEventParser, StopsAfterEachEventSoTheCallerCanResume) {
  EventParser p;
  const std::string in = "data: 1\n\ndata: 2\n\ndata: 3";
  bool ready = false;
  std::size_t used = p.feed(in, ready);
  ASSERT_TRUE(ready);
  EXPECT_EQ(p.data(), "1");
  EXPECT_EQ(used, 9u);  // exactly "data: 1\n\n"
  used += p.feed(std::string_view(in).substr(used), ready);
  ASSERT_TRUE(ready);
  EXPECT_EQ(p.data(), "2");
  used += p.feed(std::string_view(in).substr(used), ready);
  EXPECT_FALSE(ready);  // "data: 3" is not complete
  EXPECT_EQ(used, in.size());
  p.feed("\n\n", ready);
  ASSERT_TRUE(ready);
  EXPECT_EQ(p.data(), "3");
  EXPECT_EQ(p.events(), 3u);
}

TEST(SseEventParser, OverlongLineIsAnErrorAndStopsParsing) {
  EventParser p(16);
  bool ready = false;
  p.feed("data: 0123456789", ready);
  EXPECT_FALSE(p.error());
  p.feed("abcdef", ready);
  EXPECT_TRUE(p.error());
  EXPECT_EQ(p.feed("\n\n", ready), 0u);
  EXPECT_FALSE(ready);
}

TEST(SseEventParser, ResetStartsAFreshStream) {
  EventParser p;
  parse(p, {"id: 4\nretry: 10\ndata: partial"});
  p.reset();
  EXPECT_EQ(p.last_id(), "");
  EXPECT_EQ(p.retry_ms(), -1);
  EXPECT_EQ(parse(p, {"\xEF\xBB\xBF"
                      "data: fresh\n\n"}),
            (std::vector<Event>{{"message", "fresh", ""}}));
}

}  // namespace
}  // namespace ld::proto::sse
