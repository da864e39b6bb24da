// Shared task-field helpers: payload decoding, URLs, host:port targets, and the substring
// matcher that socket_user reads with.
#include "common/task_fields.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/net_util.hpp"
#include "socket/substring_matcher.hpp"

namespace ld::proto {
namespace {

std::string decode(std::string_view text, bool* binary = nullptr) {
  std::string out, error;
  bool bin = false;
  EXPECT_TRUE(decode_payload(text, out, bin, error)) << error;
  if (binary) *binary = bin;
  return out;
}

TEST(DecodePayload, TextIsTakenAsIs) {
  bool binary = true;
  EXPECT_EQ(decode("PING\n", &binary), "PING\n");
  EXPECT_FALSE(binary);
  EXPECT_EQ(decode("HEX:00"), "HEX:00");  // the prefix is case-sensitive, as in the original
}

TEST(DecodePayload, HexBecomesBytesWithOptionalSpaces) {
  bool binary = false;
  EXPECT_EQ(decode("hex:DEADbeef", &binary), std::string("\xDE\xAD\xBE\xEF"));
  EXPECT_TRUE(binary);
  EXPECT_EQ(decode("hex:00 01\t7f"), std::string("\x00\x01\x7F", 3));
  EXPECT_EQ(decode("hex:"), "");
}

TEST(DecodePayload, BadHexNamesTheOffset) {
  std::string out, error;
  bool binary = false;
  EXPECT_FALSE(decode_payload("hex:DEADBEEZ", out, binary, error));
  EXPECT_NE(error.find("'Z'"), std::string::npos) << error;
  EXPECT_NE(error.find("offset 11"), std::string::npos) << error;
  EXPECT_FALSE(decode_payload("hex:ABC", out, binary, error));
  EXPECT_NE(error.find("odd number"), std::string::npos) << error;
  EXPECT_FALSE(decode_payload("hex:A B", out, binary, error));
}

TEST(CompilePayloadField, ErrorsPointAtTheField) {
  const Json task = {{"payload", "hex:xyz"}};
  try {
    compile_payload_field(task, "payload");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/payload");
    EXPECT_NE(std::string(e.what()).find("task field 'payload'"), std::string::npos);
  }
  EXPECT_EQ(compile_payload_field(Json{{"payload", {{"a", 1}}}}, "payload"), "{\"a\":1}");
  EXPECT_EQ(compile_payload_field(Json::object(), "payload"), "");
}

TEST(ParseUrl, SplitsSchemeHostPortAndTarget) {
  const std::vector<Scheme> ws = {{"ws", 80, false}, {"wss", 443, true}};
  Url u;
  std::string error;
  ASSERT_TRUE(parse_url("ws://127.0.0.1:8080/chat?room=1", ws, u, error)) << error;
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.target, "/chat?room=1");
  EXPECT_EQ(u.host_header, "127.0.0.1:8080");
  ASSERT_TRUE(parse_url("WSS://[::1]", ws, u, error)) << error;
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(u.host_header, "[::1]");
  ASSERT_TRUE(parse_url("ws://h?x=1#frag", ws, u, error)) << error;
  EXPECT_EQ(u.target, "/?x=1");
}

TEST(ParseUrl, RejectsOtherSchemesAndBadPorts) {
  const std::vector<Scheme> ws = {{"ws", 80, false}, {"wss", 443, true}};
  Url u;
  std::string error;
  EXPECT_FALSE(parse_url("http://h/", ws, u, error));
  EXPECT_NE(error.find("ws://, wss://"), std::string::npos) << error;
  EXPECT_FALSE(parse_url("/relative", ws, u, error));
  EXPECT_FALSE(parse_url("ws://h:99999/", ws, u, error));
  EXPECT_FALSE(parse_url("ws://:80/", ws, u, error));
  EXPECT_FALSE(parse_url("ws://user:pw@h/", ws, u, error));
}

TEST(ParseHostPort, AcceptsNamesV4AndBracketedV6) {
  std::string host, error;
  std::uint16_t port = 0;
  ASSERT_TRUE(parse_host_port("localhost:9000", host, port, error));
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, 9000);
  ASSERT_TRUE(parse_host_port("[::1]:53", host, port, error));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 53);
  EXPECT_FALSE(parse_host_port("127.0.0.1", host, port, error));
  EXPECT_FALSE(parse_host_port("::1:53", host, port, error));
  EXPECT_FALSE(parse_host_port("h:0", host, port, error));
  EXPECT_FALSE(parse_host_port("h:12x", host, port, error));
  EXPECT_FALSE(parse_host_port(":80", host, port, error));
}

TEST(SubstringMatcher, FindsNeedleSplitAcrossPieces) {
  socket::SubstringMatcher m;
  m.reset("PONG");
  EXPECT_FALSE(m.feed("xxxP"));
  EXPECT_FALSE(m.feed("O"));
  EXPECT_FALSE(m.feed("N"));
  EXPECT_TRUE(m.feed("Gyyy"));
  EXPECT_TRUE(m.found());
}

TEST(SubstringMatcher, DoesNotMatchAcrossForgottenBytes) {
  socket::SubstringMatcher m;
  m.reset("abc");
  EXPECT_FALSE(m.feed("a"));
  EXPECT_FALSE(m.feed("x"));
  EXPECT_FALSE(m.feed("bc"));  // "a" + "x" + "bc": no "abc"
  EXPECT_FALSE(m.feed("ab"));
  EXPECT_TRUE(m.feed("c"));
}

TEST(SubstringMatcher, EmptyNeedleMatchesAtOnce) {
  socket::SubstringMatcher m;
  m.reset("");
  EXPECT_TRUE(m.found());
  EXPECT_TRUE(m.feed(""));
}

TEST(SubstringMatcher, AgreesWithFindOnEverySplit) {
  const std::string hay = "the quick brown fox jumps over the lazy dog";
  for (const std::string needle : {"fox", "dog", "the q", "x j", "zzz", "g"}) {
    const bool want = hay.find(needle) != std::string::npos;
    for (std::size_t a = 0; a <= hay.size(); ++a) {
      for (std::size_t b = a; b <= hay.size(); b += 3) {
        socket::SubstringMatcher m;
        m.reset(needle);
        m.feed(std::string_view(hay).substr(0, a));
        m.feed(std::string_view(hay).substr(a, b - a));
        m.feed(std::string_view(hay).substr(b));
        EXPECT_EQ(m.found(), want) << needle << " split at " << a << "," << b;
      }
    }
  }
}

TEST(TlsMessages, NameTheReasonInStaticStorage) {
  const char* self_signed = tls_verify_message(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  EXPECT_STREQ(self_signed, "TLS certificate verification failed: self-signed certificate");
  EXPECT_EQ(tls_verify_message(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT), self_signed)
      << "one string per code, kept for the process";
  EXPECT_STREQ(tls_verify_message(X509_V_ERR_CERT_HAS_EXPIRED),
               "TLS certificate verification failed: certificate has expired");
  const unsigned long wrong_version = ERR_PACK(ERR_LIB_SSL, 0, SSL_R_WRONG_VERSION_NUMBER);
  EXPECT_STREQ(tls_handshake_message(wrong_version), "TLS handshake failed: wrong version number");
  EXPECT_STREQ(tls_handshake_message(0), "TLS handshake failed");
  const auto e = tls_handshake_error(nullptr, wrong_version);
  EXPECT_EQ(e.kind, stats::ErrorKind::kTls);
  EXPECT_EQ(e.code, 0) << "no number after the text";
}

TEST(PayloadTemplate, StaticTextCostsNothingPerRequest) {
  params::Resolver resolver;
  resolver.set_variable("greeting", "hello");
  const params::ParseContext ctx{resolver};
  const PayloadTemplate p =
      compile_payload_template(Json{{"payload", "${greeting} hex:"}}, "payload", ctx);
  EXPECT_FALSE(p.dynamic);
  EXPECT_EQ(p.bytes, "hello hex:");
  params::UserScope scope(1);
  std::string text, decoded;
  const char* error = nullptr;
  const std::string_view out = p.render(scope, text, decoded, error);
  EXPECT_EQ(out.data(), p.bytes.data());  // the compiled bytes themselves: nothing rendered
  EXPECT_TRUE(text.empty());
  EXPECT_EQ(compile_payload_template(Json{{"payload", "hex:4142"}}, "payload", ctx).bytes, "AB");
}

TEST(PayloadTemplate, PerRequestPartsRenderEachTime) {
  params::Resolver resolver;
  const std::set<std::string> user_vars = {"id"};
  const params::ParseContext ctx{resolver, &user_vars};
  params::UserScope scope(7);
  std::string text, decoded;
  const char* error = nullptr;
  const PayloadTemplate uuid =
      compile_payload_template(Json{{"payload", "id=${uuid()}"}}, "payload", ctx);
  ASSERT_TRUE(uuid.dynamic);
  const std::string first(uuid.render(scope, text, decoded, error));
  const std::string second(uuid.render(scope, text, decoded, error));
  EXPECT_EQ(first.size(), 3u + 36u);
  EXPECT_NE(first, second);
  // "hex:" is decoded after rendering; a JSON value's strings are JSON-escaped.
  scope.set("id", "4142");
  const PayloadTemplate hex =
      compile_payload_template(Json{{"payload", "hex:${id}"}}, "payload", ctx);
  EXPECT_TRUE(hex.binary);
  EXPECT_EQ(hex.render(scope, text, decoded, error), "AB");
  scope.set("id", "zz");
  EXPECT_TRUE(hex.render(scope, text, decoded, error).empty());
  EXPECT_NE(error, nullptr);
  scope.set("id", "say \"hi\"");
  const PayloadTemplate json =
      compile_payload_template(Json{{"payload", {{"id", "${id}"}, {"n", 1}}}}, "payload", ctx);
  EXPECT_EQ(json.render(scope, text, decoded, error), R"({"id":"say \"hi\"","n":1})");
  EXPECT_EQ(error, nullptr);
}

TEST(ResolveJson, FoldsFixedValuesAndKeepsPerUserOnes) {
  params::Resolver resolver;
  resolver.set_variable("host", "h.test");
  resolver.set_variable("token", "registered");
  const std::set<std::string> user_vars = {"token"};  // some task extracts it
  const Json folded = params::resolve_json(
      Json{{"url", "ws://${host}/a"}, {"headers", {{"T", "${token}"}}}, {"n", 3}},
      params::ParseContext{resolver, &user_vars});
  EXPECT_EQ(folded["url"], "ws://h.test/a");
  EXPECT_EQ(folded["headers"]["T"], "${token}");
  EXPECT_EQ(folded["n"], 3);
}

TEST(CheckTaskFields, UnknownFieldsAndTypesFollowTheDeclaration) {
  const std::vector<action::Param> fields = {field("count", action::kInteger, 1, "events"),
                                             field("name", action::kString, nullptr, "label")};
  check_task_fields(Json{{"count", 2}, {"name", "n"}}, fields, "a test_user");
  try {
    check_task_fields(Json{{"cuont", 2}}, fields, "a test_user");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/cuont");
    EXPECT_STREQ(e.what(), "unknown task field 'cuont' for a test_user (did you mean 'count'?)");
  }
  try {
    check_task_fields(Json{{"count", "2"}}, fields, "a test_user");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/count");
    EXPECT_STREQ(e.what(), "task field 'count': must be integer, got string \"2\"");
  }
  EXPECT_THROW(check_task_fields(Json::array(), fields, "a test_user"), ConfigError);
}

}  // namespace
}  // namespace ld::proto
