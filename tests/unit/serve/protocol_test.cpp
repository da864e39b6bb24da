// The control socket's wire protocol without sockets: frames, the token comparison, legacy
// request boundaries and what each request body asks for (CONTRACT.md §6).
#include "serve/protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ld::serve {
namespace {

const std::string kEnd(kTerminator);

TEST(Framing, HeaderIsFourBytesBigEndian) {
  const auto h = frame_header(0x01020304u);
  EXPECT_EQ(h[0], 1);
  EXPECT_EQ(h[1], 2);
  EXPECT_EQ(h[2], 3);
  EXPECT_EQ(h[3], 4);
  EXPECT_EQ(read_frame_header(h.data()), 0x01020304u);
  const auto big = frame_header(0xFFFFFFFFu);
  EXPECT_EQ(read_frame_header(big.data()), 0xFFFFFFFFu);
}

TEST(Framing, LengthsFromOneByteToOneMiB) {
  EXPECT_FALSE(frame_length_ok(0));
  EXPECT_TRUE(frame_length_ok(1));
  EXPECT_TRUE(frame_length_ok(1u << 20));
  EXPECT_FALSE(frame_length_ok((1u << 20) + 1));
  EXPECT_FALSE(frame_length_ok(0xFFFFFFFFu));
}

TEST(Framing, PiecesAreFramedOnlyInFramedMode) {
  EXPECT_EQ(encode_piece("hi\n", false), "hi\n");
  EXPECT_EQ(encode_piece("hi\n", true), std::string("\0\0\0\3hi\n", 7));
  EXPECT_EQ(encode_piece(kTerminator, true).size(), 4 + kTerminator.size());
}

TEST(Token, EqualOnlyWhenBytesAndLengthMatch) {
  EXPECT_TRUE(token_equal("s3cret", "s3cret"));
  EXPECT_TRUE(token_equal("", ""));
  EXPECT_FALSE(token_equal("s3cret", "s3creT"));
  EXPECT_FALSE(token_equal("s3cret", "s3cre"));
  EXPECT_FALSE(token_equal("s3cre", "s3cret"));
  EXPECT_FALSE(token_equal("s3cret", ""));
  EXPECT_FALSE(token_equal("", "s3cret"));
  // A prefix padded with NULs is not the token either.
  EXPECT_FALSE(token_equal(std::string("s3cret\0", 7), "s3cret"));
}

TEST(Legacy, RequestEndsWithCompleteJsonOrQuit) {
  EXPECT_EQ(legacy_completeness("[[\"LD_summary\"]]"), Completeness::kComplete);
  EXPECT_EQ(legacy_completeness("  quit_server\n"), Completeness::kComplete);
  EXPECT_EQ(legacy_completeness("not json"), Completeness::kComplete);  // answered at once
  EXPECT_EQ(legacy_completeness("[[\"LD_sum"), Completeness::kIncomplete);
  EXPECT_EQ(legacy_completeness("{\"token\": \"x\","), Completeness::kIncomplete);
  EXPECT_EQ(legacy_completeness(""), Completeness::kIncomplete);
  EXPECT_EQ(legacy_completeness("  \n"), Completeness::kIncomplete);
  EXPECT_EQ(legacy_completeness("[1] x"), Completeness::kComplete);  // garbage after a value
}

TEST(Decide, DocumentWithoutToken) {
  const Decision d = decide("[[\"LD_summary\"]]\n", "");
  ASSERT_TRUE(d.document.has_value());
  EXPECT_TRUE(d.document->is_array());
  EXPECT_TRUE(d.reply.empty());
  EXPECT_FALSE(d.quit);
}

TEST(Decide, EmptyRequestGetsNoReply) {
  const Decision d = decide("  \n", "");
  EXPECT_TRUE(d.reply.empty());
  EXPECT_FALSE(d.document.has_value());
  EXPECT_FALSE(d.quit);
}

TEST(Decide, BadJsonRepliesTheErrorThenTheTerminator) {
  const Decision d = decide("not json", "");
  ASSERT_EQ(d.reply.size(), 2u);
  EXPECT_EQ(d.reply[0].rfind("Error: ", 0), 0u) << d.reply[0];
  EXPECT_EQ(d.reply[0].back(), '\n');
  EXPECT_EQ(d.reply[1], kEnd);
  EXPECT_FALSE(d.document.has_value());
}

TEST(Decide, QuitServerWithoutToken) {
  const Decision d = decide("quit_server", "");
  EXPECT_TRUE(d.quit);
  ASSERT_EQ(d.reply.size(), 1u);
  EXPECT_EQ(d.reply[0], "Server shutting down\n");
}

TEST(Decide, QuitServerWithTokenNeedsTheEnvelope) {
  const Decision d = decide("quit_server", "s3cret");
  EXPECT_FALSE(d.quit);
  ASSERT_EQ(d.reply.size(), 1u);
  EXPECT_EQ(d.reply[0], "Error: token required\n");
}

TEST(Decide, TokenRefusesABareDocument) {
  const Decision d = decide("[[\"LD_summary\"]]", "s3cret");
  EXPECT_FALSE(d.document.has_value());
  ASSERT_EQ(d.reply.size(), 1u);
  EXPECT_EQ(d.reply[0], "Error: token required\n");
}

TEST(Decide, EnvelopeWithTheTokenRunsTheCommand) {
  const Decision d = decide(R"({"token": "s3cret", "command": [["LD_summary"]]})", "s3cret");
  ASSERT_TRUE(d.document.has_value());
  EXPECT_EQ(*d.document, Json::parse(R"([["LD_summary"]])"));
}

TEST(Decide, EnvelopeWithAWrongOrMissingTokenIsRefused) {
  for (const char* body :
       {R"({"token": "wrong", "command": [["LD_summary"]]})", R"({"command": [["LD_summary"]]})",
        R"({"token": 5, "op": "quit"})", R"({"token": "s3cre", "op": "quit"})"}) {
    const Decision d = decide(body, "s3cret");
    EXPECT_FALSE(d.document.has_value()) << body;
    EXPECT_FALSE(d.quit) << body;
    ASSERT_EQ(d.reply.size(), 1u) << body;
    EXPECT_EQ(d.reply[0], "Error: unauthorised\n") << body;
  }
}

TEST(Decide, EnvelopeQuit) {
  const Decision with = decide(R"({"token": "s3cret", "op": "quit"})", "s3cret");
  EXPECT_TRUE(with.quit);
  ASSERT_EQ(with.reply.size(), 1u);
  EXPECT_EQ(with.reply[0], "Server shutting down\n");
  EXPECT_TRUE(decide(R"({"op": "quit"})", "").quit);
}

TEST(Decide, EnvelopeWithoutCommandRepliesOnlyTheTerminator) {
  const Decision d = decide(R"({"token": "s3cret"})", "s3cret");
  EXPECT_FALSE(d.document.has_value());
  ASSERT_EQ(d.reply.size(), 1u);
  EXPECT_EQ(d.reply[0], kEnd);
}

TEST(Decide, EnvelopeWorksWithoutAConfiguredToken) {
  const Decision d = decide(R"({"command": {"load_density": [["LD_summary"]]}})", "");
  ASSERT_TRUE(d.document.has_value());
  EXPECT_TRUE(d.document->contains("load_density"));
}

TEST(Decide, WrappedDocumentIsNotAnEnvelope) {
  const Decision d = decide(R"({"load_density": [["LD_summary"]]})", "");
  ASSERT_TRUE(d.document.has_value());
  EXPECT_TRUE(d.document->contains("load_density"));
}

TEST(Reply, OneLinePerActionThenTheTerminator) {
  const Json results = Json::parse(R"([
    {"action": 0, "command": "LD_a", "ok": true, "result": {"n": 1}},
    {"action": 1, "command": "LD_b", "ok": true, "result": "hi"},
    {"action": 2, "command": "LD_c", "ok": true, "result": null},
    {"action": 3, "command": "LD_d", "ok": false, "error": "boom"}])");
  const auto r = reply_for_results(results);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0], "{\"n\":1}\n");
  EXPECT_EQ(r[1], "\"hi\"\n");
  EXPECT_EQ(r[2], "null\n");
  EXPECT_EQ(r[3], "{\"error\":\"boom\"}\n");
  EXPECT_EQ(r[4], kEnd);
  const auto e = reply_for_error("bad");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0], "Error: bad\n");
  EXPECT_EQ(e[1], kEnd);
}

}  // namespace
}  // namespace ld::serve
