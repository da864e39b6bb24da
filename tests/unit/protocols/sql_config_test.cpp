// sql_user: named parameters become positional outside quoted text, comments and casts; bad
// options and task fields are ConfigErrors naming the field and its JSON pointer.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/json_util.hpp"
#include "loaddensity/core/error.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "protocols/expect_config_error.hpp"
#include "sql/sql.hpp"

namespace ld::proto::sql {
namespace {

TEST(SqlNamedParams, RewrittenInOrderOfFirstUse) {
  std::vector<std::string> names;
  EXPECT_EQ(rewrite_named("SELECT * FROM t WHERE a = :b AND c = :a OR d = :b", '$', names),
            "SELECT * FROM t WHERE a = $1 AND c = $2 OR d = $1");
  EXPECT_EQ(names, (std::vector<std::string>{"b", "a"}));
  names.clear();
  EXPECT_EQ(rewrite_named("INSERT INTO t VALUES (:id, ':x', \":y\", :n::int) -- :z\n/* :w */", '?',
                          names),
            "INSERT INTO t VALUES (?1, ':x', \":y\", ?2::int) -- :z\n/* :w */");
  EXPECT_EQ(names, (std::vector<std::string>{"id", "n"}));
  names.clear();
  EXPECT_EQ(rewrite_named("SELECT 'it''s :not', a:b, ':'", '$', names),
            "SELECT 'it''s :not', a:b, ':'");
  EXPECT_TRUE(names.empty());
}

TEST(SqlMariadbMarkers, EveryParameterBecomesAQuestionMark) {
  std::vector<std::string> names;
  std::vector<std::uint32_t> order;
  // Named: one marker per use, a name used twice binds its value twice.
  EXPECT_EQ(to_markers("SELECT * FROM t WHERE a = :b AND c = :a OR d = :b", true, names, order),
            "SELECT * FROM t WHERE a = ? AND c = ? OR d = ?");
  EXPECT_EQ(names, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(order, (std::vector<std::uint32_t>{0, 1, 0}));
  // MariaDB lexing: backslash escapes in quoted text, # and -- comments, @a := assignments.
  names.clear();
  EXPECT_EQ(to_markers("SELECT 'it\\'s :x', \"a\\\":y\", `:z`, @v := :id # :w\n-- :q\n, :n", true,
                       names, order),
            "SELECT 'it\\'s :x', \"a\\\":y\", `:z`, @v := ? # :w\n-- :q\n, ?");
  EXPECT_EQ(names, (std::vector<std::string>{"id", "n"}));
  EXPECT_EQ(order, (std::vector<std::uint32_t>{0, 1}));
  // Positional: $N and ?N name the parameter, a bare ? takes the next one.
  names.clear();
  EXPECT_EQ(to_markers("SELECT $2, $1, ?1, a$1, '$1', ?, ?", false, names, order),
            "SELECT ?, ?, ?, a$1, '$1', ?, ?");
  EXPECT_EQ(order, (std::vector<std::uint32_t>{1, 0, 0, 0, 1}));
  EXPECT_TRUE(names.empty());
  // Named mode leaves ? alone (the server then counts more markers than the task binds).
  EXPECT_EQ(to_markers("SELECT ?, :a", true, names, order), "SELECT ?, ?");
  EXPECT_EQ(order, (std::vector<std::uint32_t>{0}));
}

TEST(SqlConfig, BadInputNamesFieldAndPointer) {
  const auto p = make_protocol();
  expect_config_error([&] { p->validate_task(Json{{"name", "x"}}); }, "/sql", "needs 'sql'");
  expect_config_error(
      [&] {
        p->validate_task(Json{{"sql", "SELECT 1"}, {"params", "x"}});
      },
      "/params", "params");
  expect_config_error(
      [&] {
        p->validate_task(Json{{"sql", "SELECT 1"}, {"expect_rows", -2}});
      },
      "/expect_rows", "expect_rows");
  expect_config_error(
      [&] {
        p->validate_task(Json{{"sql", "SELECT 1"}, {"sqll", 1}});
      },
      "/sqll", "did you mean");
  expect_config_error(
      [&] {
        p->validate_options(Json{{"connection_string", "mysql://root@127.0.0.1/db?sslcert=x"}});
      },
      "/connection_string", "option 'sslcert' this version does not understand");
  for (const auto& [query, why] : std::vector<std::pair<std::string, std::string>>{
           {"?ssl=maybe", "(true or false)"},
           {"?sslmode=prefer", "either requires TLS"},
           {"?ssl_mode=VERIFY_CA", "names no CA"},
           {"?ssl_verify_cert=1", "names no CA"},
           {"?sslmode=disable&ssl_ca=/ca.pem", "TLS options with TLS turned off"},
           {"?ssl=0&ssl_verify_cert=true&ssl_ca=/ca.pem",
            "ssl_verify_cert=true with TLS turned off"},
           {"?ssl=1&ssl_key=/k.pem", "needs both ssl_cert and ssl_key"},
           {"?ssl=1&sslmode=verify-full", "asks for TLS twice"},
       }) {
    expect_config_error(
        [&] {
          p->validate_options(Json{{"connection_string", "mysql://root@127.0.0.1/db" + query}});
        },
        "/connection_string", why);
  }
  for (const char* query :
       {"?ssl=1", "?tls=true&ssl=on", "?sslmode=require", "?ssl_mode=DISABLED", "?ssl_ca=/ca.pem",
        "?sslmode=verify-ca&ssl_capath=/etc/ssl/certs",
        "?ssl_ca=/ca.pem&ssl_verify_cert=true&ssl_cipher=HIGH",
        "?ssl_mode=VERIFY_IDENTITY&ssl_ca=/ca.pem&ssl_cert=/c.pem&ssl_key=/k.pem", "?ssl=false"}) {
    p->validate_options(
        Json{{"connection_string", std::string("mysql://root@127.0.0.1/db") + query}});
  }
  expect_config_error(
      [&] {
        p->validate_options(Json{{"connection_string", "mariadb+pymysql://u:p%zz@h/db"}});
      },
      "/connection_string", "bad %-escape");
  expect_config_error(
      [&] {
        p->validate_options(Json{{"connection_string", "mysql://h:99999/db"}});
      },
      "/connection_string", "mysql://user:password@host:port/database");
  p->validate_options(Json{{"connection_string", "mysql://root@127.0.0.1/db"}});
  p->validate_options(Json{{"connection_string", "mysql+pymysql://u:p%40ss@[::1]:3307/db"}});
  p->validate_options(
      Json{{"connection_string", "mariadb://u@/db?unix_socket=/run/m.sock&charset=utf8mb4"}});
  expect_config_error(
      [&] {
        p->validate_options(Json{{"connection_string", "sqlite://x.db"}});
      },
      "/connection_string", "sqlite:///relative.db");
  p->validate_options(Json{{"connection_string", "postgresql://u@127.0.0.1:5432/db"}});
  p->validate_options(Json{{"connection_string", "sqlite:///:memory:"}});
}

}  // namespace
}  // namespace ld::proto::sql
