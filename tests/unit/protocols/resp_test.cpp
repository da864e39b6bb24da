// RESP2 framing and encoding (src/core/resp): complete, split and malformed replies, nil, nested
// arrays, JSON rendering for checks, and the server-side command parser of the embedded target.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/resp.hpp"

namespace ld::resp {
namespace {

Reply scan_ok(std::string_view in) {
  Reply r;
  EXPECT_EQ(scan_reply(in, r), Scan::kComplete) << in;
  return r;
}

TEST(Resp, FramesEveryReplyType) {
  Reply r = scan_ok("+OK\r\n");
  EXPECT_EQ(r.type, Type::kSimple);
  EXPECT_EQ(r.text, "OK");
  EXPECT_EQ(r.size, 5u);

  r = scan_ok("-ERR unknown command 'FOO'\r\n");
  EXPECT_EQ(r.type, Type::kError);
  EXPECT_EQ(r.text, "ERR unknown command 'FOO'");

  r = scan_ok(":-42\r\n");
  EXPECT_EQ(r.type, Type::kInteger);
  EXPECT_EQ(r.integer, -42);

  r = scan_ok("$5\r\nhe\r\no\r\n+next\r\n");  // binary-safe; stops after the first reply
  EXPECT_EQ(r.type, Type::kBulk);
  EXPECT_EQ(r.text, "he\r\no");
  EXPECT_EQ(r.size, 11u);

  r = scan_ok("$0\r\n\r\n");
  EXPECT_EQ(r.type, Type::kBulk);
  EXPECT_EQ(r.text, "");

  EXPECT_EQ(scan_ok("$-1\r\n").type, Type::kNil);
  EXPECT_EQ(scan_ok("*-1\r\n").type, Type::kNil);

  r = scan_ok("*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+x\r\n");
  EXPECT_EQ(r.type, Type::kArray);
  EXPECT_EQ(r.integer, 3);
  EXPECT_EQ(r.size, std::string("*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+x\r\n").size());
  EXPECT_EQ(scan_ok("*0\r\n").size, 4u);
}

TEST(Resp, EveryPrefixOfAReplyIsIncomplete) {
  const std::string whole = "*3\r\n$5\r\nhello\r\n:7\r\n*1\r\n-ERR x\r\n";
  for (std::size_t n = 0; n < whole.size(); ++n) {
    Reply r;
    EXPECT_EQ(scan_reply(std::string_view(whole).substr(0, n), r), Scan::kIncomplete) << n;
  }
  EXPECT_EQ(scan_ok(whole).size, whole.size());
}

TEST(Resp, MalformedRepliesAreRejected) {
  for (const char* bad : {"?what\r\n", ":12a\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "*-5\r\n",
                          "*1\r\n!x\r\n", "$99999999999\r\n", ":\r\n"}) {
    Reply r;
    EXPECT_EQ(scan_reply(bad, r), Scan::kMalformed) << bad;
  }
}

TEST(Resp, DeepNestingIsFramedWithoutRecursion) {
  std::string deep;
  for (int i = 0; i < 200000; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  Reply r = scan_ok(deep);
  EXPECT_EQ(r.size, deep.size());
  std::string json;
  append_json(deep, json, 3);  // deeper than 3 renders as null
  EXPECT_EQ(json, "[[[null]]]");
}

TEST(Resp, RendersRepliesAsJson) {
  auto json = [](std::string_view reply) {
    std::string out;
    append_json(reply, out);
    return out;
  };
  EXPECT_EQ(json("$5\r\nhe\"l\n\r\n"), "\"he\\\"l\\u000a\"");
  EXPECT_EQ(json(":12\r\n"), "12");
  EXPECT_EQ(json("$-1\r\n"), "null");
  EXPECT_EQ(json("*4\r\n$1\r\na\r\n:2\r\n$-1\r\n*1\r\n-ERR no\r\n"), "[\"a\",2,null,[\"ERR no\"]]");
  EXPECT_EQ(json("+OK\r\n"), "\"OK\"");
}

TEST(Resp, EncodesCommandsAndServerReplies) {
  std::string out;
  append_command(out, {"SET", "k", ""});
  EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
  out.clear();
  append_simple(out, "OK");
  append_error(out, "ERR bad");
  append_integer(out, -3);
  append_nil(out);
  EXPECT_EQ(out, "+OK\r\n-ERR bad\r\n:-3\r\n$-1\r\n");
}

TEST(Resp, ParsesCommandsInBothForms) {
  std::vector<std::string_view> args;
  std::size_t used = 0;
  const std::string cmd = "*2\r\n$3\r\nGET\r\n$3\r\nk\r\n\r\n*1\r\n";
  ASSERT_EQ(scan_command(cmd, args, used), Scan::kComplete);
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0], "GET");
  EXPECT_EQ(args[1], "k\r\n");
  EXPECT_EQ(used, cmd.size() - 4);
  EXPECT_EQ(scan_command(std::string_view(cmd).substr(0, 20), args, used), Scan::kIncomplete);

  ASSERT_EQ(scan_command("PING  hello\r\nrest", args, used), Scan::kComplete);
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[1], "hello");
  EXPECT_EQ(used, 13u);
  EXPECT_EQ(scan_command("*1\r\n:1\r\n", args, used), Scan::kMalformed);
  EXPECT_EQ(scan_command("*x\r\n", args, used), Scan::kMalformed);
}

}  // namespace
}  // namespace ld::resp
