// sql_user: named parameters become positional outside quoted text, comments and casts; bad
// options and task fields are ConfigErrors naming the field and its JSON pointer.
#include <gtest/gtest.h>

#include <string>
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
        p->validate_options(Json{{"connection_string", "mysql://root@127.0.0.1/db"}});
      },
      "/connection_string", "not built yet");
  expect_config_error(
      [&] {
        p->validate_options(Json{{"connection_string", "mariadb+pymysql://h/db"}});
      },
      "/connection_string", "mariadb:// is not built yet");
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
