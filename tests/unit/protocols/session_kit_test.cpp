// The kit every protocol session uses (protocols/common): the error classifier, the operation
// scope (stamping, deadline, abort, recording), the TCP/TLS connect and the one URL type.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <gtest/gtest.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/connect.hpp"
#include "common/net_util.hpp"
#include "common/op_scope.hpp"
#include "common/url.hpp"
#include "stats/recorder.hpp"

namespace ld::proto {
namespace {

using boost::system::error_code;
using stats::ErrorKind;
using tcp = net::ip::tcp;

// --- classify_error

TEST(ClassifyError, MapsEveryProtocolsErrorsOneWay) {
  auto refused = classify_error(net::error::connection_refused, "connect");
  EXPECT_EQ(refused.kind, ErrorKind::kRefused);
  EXPECT_STREQ(refused.what, "connect");
  EXPECT_EQ(refused.code, ECONNREFUSED);
  EXPECT_TRUE(refused.code_is_errno);
  // The peer went away, whatever the call noticed it (ENOTCONN: a write after its close).
  for (const error_code& ec :
       {error_code(net::error::eof), error_code(net::error::connection_reset),
        error_code(net::error::broken_pipe), error_code(net::error::not_connected),
        error_code(net::ssl::error::stream_truncated)}) {
    const auto e = classify_error(ec, "I/O error");
    EXPECT_EQ(e.kind, ErrorKind::kReset) << ec.message();
    EXPECT_STREQ(e.what, "connection closed by peer") << ec.message();
  }
  auto dns = classify_error(net::error::host_not_found, "DNS lookup failed");
  EXPECT_EQ(dns.kind, ErrorKind::kConnect);
  EXPECT_STREQ(dns.what, "DNS lookup failed");
  EXPECT_EQ(classify_error(net::error::host_not_found_try_again, "x").kind, ErrorKind::kConnect);
  // Other system errors keep their errno; only a connect makes them `connect` failures.
  auto unreachable = classify_error(net::error::network_unreachable, "connect");
  EXPECT_EQ(unreachable.kind, ErrorKind::kConnect);
  EXPECT_EQ(unreachable.code, ENETUNREACH);
  EXPECT_TRUE(unreachable.code_is_errno);
  EXPECT_EQ(classify_error(net::error::network_unreachable, "send").kind, ErrorKind::kOther);
  // A cancel that was not a timeout (the scope reports timeouts) is ours, not the peer's.
  auto aborted = classify_error(net::error::operation_aborted, "I/O error");
  EXPECT_EQ(aborted.kind, ErrorKind::kOther);
  EXPECT_EQ(aborted.code, ECANCELED);
  auto tls = classify_error(error_code(SSL_R_WRONG_VERSION_NUMBER, net::error::get_ssl_category()),
                            "I/O error");
  EXPECT_EQ(tls.kind, ErrorKind::kTls);
  EXPECT_STREQ(tls.what, "I/O error");
  auto other = classify_error(net::error::service_not_found, "DNS lookup failed");
  EXPECT_EQ(other.kind, ErrorKind::kOther);
  EXPECT_FALSE(other.code_is_errno);
}

// --- OpScope

struct Worker {
  net::io_context io{1};
  stats::WorkerStats stats{1};
  engine::DeadlineSweeper sweeper;
  std::vector<char> scratch = std::vector<char>(1024);
  bool aborting = false;
  ErrorKind outcome = ErrorKind::kNone;
  engine::WorkerContext ctx{io, stats, sweeper, std::span<char>(scratch), &aborting};
  Worker() { ctx.outcome = &outcome; }
};

struct Op {
  engine::TimedOp op;
  int expired = 0;
  explicit Op(engine::DeadlineSweeper& s) {
    op.on_expire = [](void* self) { ++static_cast<Op*>(self)->expired; };
    op.self = this;
    s.add(&op);
  }
};

TEST(OpScope, StampsArmsDisarmsAndRecords) {
  Worker w;
  Op c(w.sweeper);
  const Nanos planned = steady_now() - 1000;
  OpScope op(w.ctx, c.op, 0, planned, 5 * kNanosPerSecond);
  EXPECT_EQ(op.rec.planned, planned);
  EXPECT_GE(op.rec.start, planned);
  EXPECT_EQ(c.op.deadline, op.rec.start + 5 * kNanosPerSecond) << "armed at start + timeout";
  EXPECT_FALSE(op.expired());
  EXPECT_FALSE(op.stop()) << "not aborted";
  EXPECT_EQ(c.op.deadline, 0) << "disarmed";
  EXPECT_GE(op.rec.end, op.rec.start);
  const Nanos end = op.rec.end;
  EXPECT_TRUE(op.finish());
  EXPECT_EQ(op.rec.end, end) << "the end is stamped once";
  EXPECT_EQ(w.stats.names()[0].requests, 1u);
  EXPECT_EQ(w.stats.names()[0].failures, 0u);
}

TEST(OpScope, AnExpiredOperationIsItsTimeoutWhateverTheIoError) {
  Worker w;
  Op c(w.sweeper);
  OpScope op(w.ctx, c.op, 0, steady_now(), 1000, kRequestTimedOut);
  w.sweeper.sweep(op.rec.start + 2000);
  EXPECT_EQ(c.expired, 1) << "the sweeper fired the op";
  EXPECT_TRUE(op.expired());
  const auto e = op.error(net::error::operation_aborted, "I/O error");
  EXPECT_EQ(e.kind, ErrorKind::kTimeout);
  EXPECT_STREQ(e.what, "request timed out");
  op.rec.error = e;
  EXPECT_FALSE(op.finish());
  EXPECT_EQ(w.outcome, ErrorKind::kTimeout);
  EXPECT_STREQ(OpScope(w.ctx, 0, 0, 0).timed_out().what, "timed out");
}

TEST(OpScope, AnOperationCutShortByTheStopIsRecordedAsAborted) {
  Worker w;
  Op c(w.sweeper);
  OpScope op(w.ctx, c.op, 0, steady_now(), 60 * kNanosPerSecond);
  w.aborting = true;
  w.sweeper.sweep(steady_now(), /*all=*/true);  // what the engine does when it abandons work
  op.rec.error = op.error(net::error::operation_aborted, "I/O error");
  EXPECT_TRUE(op.stop());
  EXPECT_EQ(op.rec.error.kind, ErrorKind::kAborted);
  EXPECT_STREQ(op.rec.error.what, engine::kAbortedError.what);
  op.record();
  EXPECT_EQ(w.outcome, ErrorKind::kAborted);
  EXPECT_EQ(w.stats.names()[0].by_kind[static_cast<std::size_t>(ErrorKind::kAborted)], 1u);
}

TEST(OpScope, ReArmingMovesTheDeadlineToTheNextConnection) {
  Worker w;
  Op first(w.sweeper), second(w.sweeper);
  OpScope op(w.ctx, first.op, 0, steady_now(), kNanosPerSecond);
  const Nanos deadline = first.op.deadline;
  op.arm(second.op);  // a redirect to another origin
  EXPECT_EQ(first.op.deadline, 0) << "the idle connection is not closed at the deadline";
  EXPECT_EQ(second.op.deadline, deadline) << "one deadline for every hop";
  w.sweeper.sweep(deadline + 1);
  EXPECT_EQ(first.expired, 0);
  EXPECT_EQ(second.expired, 1);
  EXPECT_TRUE(op.expired());
  op.stop();
  EXPECT_EQ(second.op.deadline, 0);
}

// --- connect

ErrorKind run_connect(Worker& w, const std::string& host, std::uint16_t port,
                      const std::vector<tcp::endpoint>& eps) {
  Op c(w.sweeper);
  tcp::socket sock(w.io);
  stats::ErrorInfo result{ErrorKind::kOther, "not run", 0, false};
  net::co_spawn(
      w.io,
      [&]() -> net::awaitable<void> {
        OpScope op(w.ctx, c.op, 0, steady_now(), 5 * kNanosPerSecond);
        result = co_await connect_tcp(sock, host, port, eps, op);
        op.stop();
      },
      net::detached);
  w.io.run();
  w.io.restart();
  if (result.kind == ErrorKind::kNone) {
    error_code ec;
    EXPECT_TRUE(sock.is_open());
    tcp::no_delay nd;
    sock.get_option(nd, ec);
    EXPECT_TRUE(nd.value()) << "TCP_NODELAY is set";
  }
  return result.kind;
}

TEST(ConnectTcp, ConnectsResolvesAndClassifiesRefusal) {
  Worker w;
  tcp::acceptor acceptor(w.io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const std::uint16_t port = acceptor.local_endpoint().port();
  EXPECT_EQ(run_connect(w, "127.0.0.1", port, {acceptor.local_endpoint()}), ErrorKind::kNone);
  EXPECT_EQ(run_connect(w, "127.0.0.1", port, {}), ErrorKind::kNone) << "resolved at run time";
  acceptor.close();
  EXPECT_EQ(run_connect(w, "127.0.0.1", port, {}), ErrorKind::kRefused);
}

TEST(PrepareTlsClient, SniForNamesAndTheCertificateNameToCheck) {
  net::ssl::context verifying(net::ssl::context::tls_client);
  verifying.set_verify_mode(net::ssl::verify_peer);
  SSL* ssl = SSL_new(verifying.native_handle());
  prepare_tls_client(ssl, "example.test");
  EXPECT_STREQ(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), "example.test");
  EXPECT_STREQ(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), "example.test");
  SSL_free(ssl);

  ssl = SSL_new(verifying.native_handle());
  prepare_tls_client(ssl, "127.0.0.1");
  EXPECT_EQ(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), nullptr)
      << "no SNI for an address (RFC 6066)";
  EXPECT_EQ(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), nullptr);
  SSL_free(ssl);

  net::ssl::context trusting(net::ssl::context::tls_client);
  trusting.set_verify_mode(net::ssl::verify_none);
  ssl = SSL_new(trusting.native_handle());
  prepare_tls_client(ssl, "example.test");
  EXPECT_STREQ(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), "example.test");
  EXPECT_EQ(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), nullptr)
      << "nothing to check when verification is off";
  SSL_free(ssl);
}

// --- Url

TEST(Url, TargetsArePercentEncodedAsCurlDoes) {
  Url u;
  std::string err;
  ASSERT_TRUE(parse_url("http://h/a b/\xC3\xA9?q=x y&c=\x01\x7f\t&k=%41/?:@!$'()*+,;=~", u, err));
  EXPECT_EQ(u.target, "/a%20b/%C3%A9?q=x%20y&c=%01%7F%09&k=%41/?:@!$'()*+,;=~");
  ASSERT_TRUE(parse_url("http://h?a b", u, err));
  EXPECT_EQ(u.target, "/?a%20b");
  std::string out = "GET ";
  EXPECT_TRUE(append_target(out, "/%zz 100%"));
  EXPECT_EQ(out, "GET /%zz%20100%") << "existing % signs are kept as they are";
}

TEST(Url, LineBreaksNulAndBadHostsAreRejected) {
  Url u;
  std::string err;
  EXPECT_FALSE(parse_url("http://h/get?x=1 HTTP/1.1\r\nInjected: url\r\n\r\n", u, err));
  EXPECT_NE(err.find("line break"), std::string::npos) << err;
  EXPECT_FALSE(parse_url(std::string("http://h/a\0b", 12), u, err));
  EXPECT_FALSE(parse_url("http://h\n/", u, err));
  EXPECT_FALSE(parse_url("http://a b/", u, err));
  EXPECT_FALSE(
      parse_url("http://a\x01"
                "b/",
                u, err));
  for (std::string_view bad :
       {std::string_view("a\rb"), std::string_view("a\nb"), std::string_view("a\0b", 3)}) {
    std::string out;
    EXPECT_FALSE(append_target(out, bad)) << bad;
  }
  EXPECT_TRUE(has_line_break_or_nul(std::string_view("x\0", 2)));
  EXPECT_FALSE(has_line_break_or_nul("x\t\x01 y"));
  // Redirect locations: encoded the same way; a NUL is a bad location.
  Url base, next;
  ASSERT_TRUE(parse_url("http://h:1/dir/page?q", base, err));
  ASSERT_TRUE(resolve_location(base, "/new place?\xC3\xA9#frag", next, err));
  EXPECT_EQ(next.target, "/new%20place?%C3%A9");
  ASSERT_TRUE(resolve_location(base, "rel ative", next, err));
  EXPECT_EQ(next.target, "/dir/rel%20ative");
  EXPECT_EQ(next.text, "http://h:1/dir/rel%20ative");
  EXPECT_FALSE(resolve_location(base, std::string_view("/a\0", 3), next, err));
}

TEST(Url, ParsesAndResolvesRedirects) {
  Url u;
  std::string err;
  ASSERT_TRUE(parse_url("HTTPS://example.test:8443/a/b?x=1#frag", u, err));
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.scheme, "https");
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(u.target, "/a/b?x=1");
  EXPECT_EQ(u.host_header, "example.test:8443");
  EXPECT_EQ(u.text, "HTTPS://example.test:8443/a/b?x=1#frag") << "the URL as given";
  ASSERT_TRUE(parse_url("http://[::1]:81", u, err));
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(u.host_header, "[::1]:81");
  ASSERT_TRUE(parse_url("http://h:80/", u, err));
  EXPECT_EQ(u.host_header, "h") << "the default port is not sent";
  EXPECT_FALSE(parse_url("ftp://x/", u, err));
  EXPECT_NE(err.find("http://, https://"), std::string::npos) << err;
  EXPECT_FALSE(parse_url("/relative", u, err));
  EXPECT_NE(err.find("not an absolute URL"), std::string::npos) << err;
  EXPECT_FALSE(parse_url("http://h:99999/", u, err));
  EXPECT_FALSE(parse_url("http://h:/", u, err)) << "an empty port is not the default";
  EXPECT_FALSE(parse_url("http://::1:80/", u, err));
  EXPECT_NE(err.find("brackets"), std::string::npos) << err;
  EXPECT_FALSE(parse_url("http://[::1/", u, err));
  EXPECT_FALSE(parse_url("http:///path", u, err));
  Url base, next;
  ASSERT_TRUE(parse_url("http://h:1/dir/page?q", base, err));
  ASSERT_TRUE(resolve_location(base, "other", next, err));
  EXPECT_EQ(next.target, "/dir/other");
  ASSERT_TRUE(resolve_location(base, "https://k/z", next, err));
  EXPECT_EQ(next.host, "k");
  EXPECT_TRUE(next.tls);
  ASSERT_TRUE(resolve_location(base, "//other:2/x", next, err));
  EXPECT_EQ(next.scheme, "http") << "a scheme-relative location keeps the scheme";
  EXPECT_EQ(next.host_header, "other:2");
}

TEST(Url, CredentialsAreRefusedForEveryScheme) {
  // Silently dropping them (as HTTP once did) sent requests without the auth they asked for.
  Url u;
  std::string err;
  EXPECT_FALSE(parse_url("http://user:pw@h/", u, err));
  EXPECT_NE(err.find("Authorization"), std::string::npos) << err;
  const Scheme ws[] = {{"ws", 80, false}, {"wss", 443, true}};
  EXPECT_FALSE(parse_url("wss://user@h/", ws, u, err));
  EXPECT_TRUE(parse_url("http://h/p?mail=a@b", u, err)) << "an @ after the host is fine";
}

TEST(Url, OtherSchemesShareTheRules) {
  const Scheme ws[] = {{"ws", 80, false}, {"wss", 443, true}};
  Url u;
  std::string err;
  ASSERT_TRUE(parse_url("wss://h/chat room?x=1", ws, u, err)) << err;
  EXPECT_EQ(u.scheme, "wss");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.target, "/chat%20room?x=1") << "encoded as HTTP targets are";
  EXPECT_FALSE(parse_url("ws://h/a\r\nX: y", ws, u, err));
  EXPECT_FALSE(parse_url("http://h/", ws, u, err));
  EXPECT_NE(err.find("ws://, wss://"), std::string::npos) << err;
}

}  // namespace
}  // namespace ld::proto
