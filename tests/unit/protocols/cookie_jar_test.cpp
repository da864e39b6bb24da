// The per-user cookie jar (RFC 6265): parsing, host-only and domain cookies, path matching,
// Expires / Max-Age against an injected clock, Secure, replacement, ordering, and task cookies
// taking precedence.
#include "common/cookie_jar.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ld::proto {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;  // 2023-11-14T22:13:20Z

std::string header(CookieJar& jar, std::string_view host, std::string_view path,
                   bool secure = false, std::int64_t now = kNow, std::string_view overrides = {}) {
  std::string out;
  jar.append_header(out, host, path, secure, now, overrides);
  return out;
}

TEST(CookieJar, StoresAndSendsAHostOnlyCookie) {
  CookieJar jar;
  EXPECT_TRUE(jar.empty());
  EXPECT_TRUE(jar.set("a=1", "example.com", "/cookies/set", kNow));
  ASSERT_EQ(jar.size(), 1u);
  const auto& c = jar.cookies()[0];
  EXPECT_EQ(c.name, "a");
  EXPECT_EQ(c.value, "1");
  EXPECT_TRUE(c.host_only);
  EXPECT_EQ(c.domain, "example.com");
  EXPECT_EQ(c.path, "/cookies");  // default path: up to the last '/'
  EXPECT_EQ(c.expires, CookieJar::kSession);
  EXPECT_EQ(header(jar, "example.com", "/cookies"), "a=1");
  EXPECT_EQ(header(jar, "EXAMPLE.com", "/cookies/x"), "a=1");  // hosts are case-insensitive
  EXPECT_EQ(header(jar, "www.example.com", "/cookies"), "");   // host-only
  EXPECT_EQ(header(jar, "example.com", "/"), "");              // outside the path
}

TEST(CookieJar, IgnoresMalformedCookies) {
  CookieJar jar;
  EXPECT_FALSE(jar.set("no-equals-sign", "h.test", "/", kNow));
  EXPECT_FALSE(jar.set("=value", "h.test", "/", kNow));
  EXPECT_FALSE(jar.set("  ; Path=/", "h.test", "/", kNow));
  EXPECT_FALSE(jar.set("big=" + std::string(5000, 'x'), "h.test", "/", kNow));
  EXPECT_TRUE(jar.empty());
  EXPECT_TRUE(jar.set(" sp = v w ; Path=/", "h.test", "/", kNow));  // trimmed, inner space kept
  EXPECT_EQ(header(jar, "h.test", "/"), "sp=v w");
  EXPECT_TRUE(jar.set("empty=", "h.test", "/", kNow));
  EXPECT_EQ(header(jar, "h.test", "/"), "sp=v w; empty=");
}

TEST(CookieJar, DomainCookiesReachSubdomains) {
  CookieJar jar;
  EXPECT_TRUE(jar.set("d=1; Domain=.Example.COM; Path=/", "www.example.com", "/", kNow));
  ASSERT_EQ(jar.size(), 1u);
  EXPECT_FALSE(jar.cookies()[0].host_only);
  EXPECT_EQ(jar.cookies()[0].domain, "example.com");
  EXPECT_EQ(header(jar, "example.com", "/"), "d=1");
  EXPECT_EQ(header(jar, "a.b.example.com", "/x"), "d=1");
  EXPECT_EQ(header(jar, "badexample.com", "/"), "");  // not a label boundary
  EXPECT_EQ(header(jar, "example.org", "/"), "");
  // Domain equal to the host is a domain cookie too.
  EXPECT_TRUE(jar.set("e=2; Domain=example.com; Path=/", "example.com", "/", kNow));
  EXPECT_EQ(header(jar, "www.example.com", "/"), "d=1; e=2");
}

TEST(CookieJar, RejectsADomainTheHostCannotSet) {
  CookieJar jar;
  EXPECT_FALSE(jar.set("x=1; Domain=other.com", "www.example.com", "/", kNow));
  EXPECT_FALSE(jar.set("x=1; Domain=www.example.com", "example.com", "/", kNow));  // a subdomain
  EXPECT_FALSE(jar.set("x=1; Domain=com", "example.com", "/", kNow));  // single label: a suffix
  EXPECT_FALSE(jar.set("x=1; Domain=0.0.1", "127.0.0.1", "/", kNow));  // IPs match only exactly
  EXPECT_TRUE(jar.empty());
  // A single-label Domain naming the host itself is kept, host-only.
  EXPECT_TRUE(jar.set("l=1; Domain=localhost", "localhost", "/", kNow));
  EXPECT_TRUE(jar.cookies()[0].host_only);
  EXPECT_TRUE(jar.set("ip=1; Domain=127.0.0.1", "127.0.0.1", "/", kNow));
  EXPECT_EQ(header(jar, "127.0.0.1", "/"), "ip=1");
  EXPECT_EQ(header(jar, "localhost", "/"), "l=1");
}

TEST(CookieJar, EmptyDomainAttributeIsIgnored) {
  CookieJar jar;
  EXPECT_TRUE(jar.set("x=1; Domain=", "example.com", "/", kNow));
  EXPECT_TRUE(jar.cookies()[0].host_only);
}

TEST(CookieJar, PathMatching) {
  EXPECT_TRUE(CookieJar::path_match("/", "/"));
  EXPECT_TRUE(CookieJar::path_match("/docs", "/docs"));
  EXPECT_TRUE(CookieJar::path_match("/docs/", "/docs"));
  EXPECT_TRUE(CookieJar::path_match("/docs/web", "/docs"));
  EXPECT_TRUE(CookieJar::path_match("/docs/web", "/docs/"));
  EXPECT_FALSE(CookieJar::path_match("/docsets", "/docs"));
  EXPECT_FALSE(CookieJar::path_match("/doc", "/docs"));
  EXPECT_FALSE(CookieJar::path_match("/", "/docs"));
  EXPECT_EQ(CookieJar::path_of("/a/b?x=/c#f"), "/a/b");
  EXPECT_EQ(CookieJar::path_of("/"), "/");
}

TEST(CookieJar, DefaultAndExplicitPaths) {
  CookieJar jar;
  jar.set("root=1", "h.test", "/login", kNow);              // one slash: "/"
  jar.set("deep=1", "h.test", "/a/b/c", kNow);              // "/a/b"
  jar.set("rel=1; Path=relative", "h.test", "/x/y", kNow);  // not absolute: default "/x"
  jar.set("abs=1; Path=/a", "h.test", "/zzz", kNow);
  EXPECT_EQ(header(jar, "h.test", "/"), "root=1");
  EXPECT_EQ(header(jar, "h.test", "/a/b/c"), "deep=1; abs=1; root=1");  // longest path first
  EXPECT_EQ(header(jar, "h.test", "/x/q"), "rel=1; root=1");
}

TEST(CookieJar, SameLengthPathsGoOldestFirst) {
  CookieJar jar;
  jar.set("b=1; Path=/", "h.test", "/", kNow);
  jar.set("a=1; Path=/", "h.test", "/", kNow);
  jar.set("c=1; Path=/p", "h.test", "/", kNow);
  EXPECT_EQ(header(jar, "h.test", "/p"), "c=1; b=1; a=1");
  jar.set("b=2; Path=/", "h.test", "/", kNow);  // replaced: keeps its place
  EXPECT_EQ(header(jar, "h.test", "/p"), "c=1; b=2; a=1");
}

TEST(CookieJar, ReplacementIsByNameDomainAndPath) {
  CookieJar jar;
  jar.set("s=1; Path=/", "h.test", "/", kNow);
  jar.set("s=2; Path=/", "h.test", "/", kNow);
  EXPECT_EQ(jar.size(), 1u);
  EXPECT_EQ(header(jar, "h.test", "/"), "s=2");
  jar.set("s=3; Path=/sub", "h.test", "/", kNow);  // another path: another cookie
  EXPECT_EQ(jar.size(), 2u);
  EXPECT_EQ(header(jar, "h.test", "/sub"), "s=3; s=2");
  jar.set("s=4; Domain=h.test; Path=/", "www.h.test", "/", kNow);  // domain "h.test" as well
  EXPECT_EQ(jar.size(), 2u);
  EXPECT_EQ(header(jar, "h.test", "/"), "s=4");
  EXPECT_FALSE(jar.cookies()[1].host_only);
}

TEST(CookieJar, MaxAgeExpiresAndDeletes) {
  CookieJar jar;
  jar.set("m=1; Max-Age=60; Path=/", "h.test", "/", kNow);
  EXPECT_EQ(jar.cookies()[0].expires, kNow + 60);
  EXPECT_EQ(header(jar, "h.test", "/", false, kNow + 59), "m=1");
  EXPECT_EQ(header(jar, "h.test", "/", false, kNow + 60), "");  // expired, and dropped
  EXPECT_TRUE(jar.empty());

  jar.set("m=1; Path=/", "h.test", "/", kNow);
  jar.set("m=x; Max-Age=0; Path=/", "h.test", "/", kNow);  // deletes
  EXPECT_TRUE(jar.empty());
  jar.set("m=1; Path=/", "h.test", "/", kNow);
  jar.set("m=x; Max-Age=-5; Path=/", "h.test", "/", kNow);
  EXPECT_TRUE(jar.empty());
  jar.set("new=1; Max-Age=0", "h.test", "/", kNow);  // never stored
  EXPECT_TRUE(jar.empty());
  jar.set("bad=1; Max-Age=abc; Path=/", "h.test", "/", kNow);  // attribute ignored
  EXPECT_EQ(jar.cookies()[0].expires, CookieJar::kSession);
  jar.set("huge=1; Max-Age=99999999999999999999999; Path=/", "h.test", "/", kNow);
  EXPECT_EQ(header(jar, "h.test", "/", false, kNow + 100000000), "bad=1; huge=1");
}

TEST(CookieJar, ExpiresAndMaxAgePrecedence) {
  CookieJar jar;
  jar.set("e=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/", "h.test", "/", 1445411000);
  ASSERT_EQ(jar.size(), 1u);
  EXPECT_EQ(jar.cookies()[0].expires, 1445412480);
  EXPECT_EQ(header(jar, "h.test", "/", false, 1445412479), "e=1");
  EXPECT_EQ(header(jar, "h.test", "/", false, 1445412480), "");
  // A past Expires deletes a stored cookie.
  jar.set("p=1; Path=/", "h.test", "/", kNow);
  jar.set("p=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/", "h.test", "/", kNow);
  EXPECT_TRUE(jar.empty());
  // Max-Age wins over Expires, in either order.
  jar.set("q=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=100; Path=/", "h.test", "/", kNow);
  jar.set("r=1; Max-Age=100; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/", "h.test", "/", kNow);
  EXPECT_EQ(header(jar, "h.test", "/"), "q=1; r=1");
  // An unparsable Expires is ignored (session cookie).
  jar.set("s=1; Expires=tomorrow; Path=/", "h.test", "/", kNow);
  EXPECT_EQ(jar.cookies().back().expires, CookieJar::kSession);
}

TEST(CookieJar, ParsesCookieDateVariants) {
  std::int64_t t = 0;
  ASSERT_TRUE(CookieJar::parse_date("Wed, 21 Oct 2015 07:28:00 GMT", t));
  EXPECT_EQ(t, 1445412480);
  ASSERT_TRUE(CookieJar::parse_date("Wednesday, 21-Oct-15 07:28:00 GMT", t));  // RFC 850
  EXPECT_EQ(t, 1445412480);
  ASSERT_TRUE(CookieJar::parse_date("Wed Oct 21 07:28:00 2015", t));  // asctime
  EXPECT_EQ(t, 1445412480);
  ASSERT_TRUE(CookieJar::parse_date("21 oct 1999 7:8:9", t));
  EXPECT_EQ(t, 940489689);
  ASSERT_TRUE(CookieJar::parse_date("Sat, 29 Feb 2020 23:59:59 GMT", t));
  EXPECT_EQ(t, 1583020799);
  EXPECT_FALSE(CookieJar::parse_date("", t));
  EXPECT_FALSE(CookieJar::parse_date("Wed, 21 Oct 2015", t));           // no time
  EXPECT_FALSE(CookieJar::parse_date("Wed, 32 Oct 2015 07:28:00", t));  // day
  EXPECT_FALSE(CookieJar::parse_date("Wed, 21 Foo 2015 07:28:00", t));  // month
  EXPECT_FALSE(CookieJar::parse_date("Wed, 21 Oct 2015 24:00:00", t));  // hour
  EXPECT_FALSE(CookieJar::parse_date("Wed, 21 Oct 1500 07:28:00", t));  // before 1601
}

TEST(CookieJar, SecureCookiesGoOverHttpsOnly) {
  CookieJar jar;
  jar.set("sec=1; Secure; Path=/", "h.test", "/", kNow);
  jar.set("plain=1; Path=/", "h.test", "/", kNow);
  EXPECT_EQ(header(jar, "h.test", "/", /*secure=*/false), "plain=1");
  EXPECT_EQ(header(jar, "h.test", "/", /*secure=*/true), "sec=1; plain=1");
}

TEST(CookieJar, AttributeNamesAreCaseInsensitiveAndUnknownOnesIgnored) {
  CookieJar jar;
  jar.set("k=v; HTTPONLY; sEcUrE; PATH=/p; SameSite=Lax; max-AGE=10; Foo", "h.test", "/", kNow);
  ASSERT_EQ(jar.size(), 1u);
  EXPECT_TRUE(jar.cookies()[0].secure);
  EXPECT_EQ(jar.cookies()[0].path, "/p");
  EXPECT_EQ(jar.cookies()[0].expires, kNow + 10);
}

TEST(CookieJar, TaskCookiesOverrideJarCookiesOfTheSameName) {
  CookieJar jar;
  jar.set("a=jar; Path=/", "h.test", "/", kNow);
  jar.set("b=jar; Path=/", "h.test", "/", kNow);
  std::string out = "a=task";
  EXPECT_EQ(jar.append_header(out, "h.test", "/", false, kNow, "a=task"), 1u);
  EXPECT_EQ(out, "a=task; b=jar");
  EXPECT_EQ(header(jar, "h.test", "/", false, kNow, " b = x ;a=y"), "");
}

TEST(CookieJar, OldestCookieGoesPastTheLimit) {
  CookieJar jar;
  for (std::size_t i = 0; i <= CookieJar::kMaxCookies; ++i) {
    jar.set("c" + std::to_string(i) + "=1; Path=/", "h.test", "/", kNow);
  }
  EXPECT_EQ(jar.size(), CookieJar::kMaxCookies);
  EXPECT_EQ(jar.cookies().front().name, "c1");
}

}  // namespace
}  // namespace ld::proto
