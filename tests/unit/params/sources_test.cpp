#include "params/sources.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <fstream>

#include "loaddensity/core/error.hpp"

using namespace ld;
using namespace ld::params;

namespace {
// Files the tests write, removed when the test process exits.
struct TempFiles {
  std::vector<std::string> paths;
  ~TempFiles() {
    for (const auto& p : paths) std::remove(p.c_str());
  }
} g_temp_files;

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  g_temp_files.paths.push_back(path);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}
std::string error_of(const std::string& path) {
  try {
    load_csv_source("s", path, true);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(CsvSource, QuotesCommasAndNewlines) {
  const auto path = write_temp("ok.csv", "user,note\r\nalice,\"hello, \"\"world\"\"\"\nbob,\"two\nlines\"\n\n");
  auto s = load_csv_source("users", path, true);
  ASSERT_EQ(s->columns, (std::vector<std::string>{"user", "note"}));
  ASSERT_EQ(s->rows.size(), 2u);
  EXPECT_EQ(s->rows[0][1], "hello, \"world\"");
  EXPECT_EQ(s->rows[1][1], "two\nlines");
}

TEST(CsvSource, ErrorsNameFileAndLine) {
  EXPECT_NE(error_of("/nonexistent/x.csv").find("cannot open '/nonexistent/x.csv'"), std::string::npos);
  const auto bad = write_temp("bad.csv", "a,b\n1,2\n3\n");
  const std::string e = error_of(bad);
  EXPECT_NE(e.find(bad + ":3:"), std::string::npos) << e;
  EXPECT_NE(e.find("1 fields, the header has 2"), std::string::npos) << e;
  const auto open = write_temp("open.csv", "a,b\n1,\"never closed\n");
  EXPECT_NE(error_of(open).find(":2: unterminated quoted field"), std::string::npos) << error_of(open);
}

TEST(DbSource, SqliteQueryRowsAndErrors) {
  const std::string path = ::testing::TempDir() + "src.db";
  g_temp_files.paths.push_back(path);
  std::remove(path.c_str());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE u(name TEXT, age INT); INSERT INTO u VALUES('ann', 30),"
                             "('bo', NULL);", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = load_db_source("people", "sqlite:///" + path, "SELECT name, age FROM u ORDER BY name", true);
  ASSERT_EQ(s->rows.size(), 2u);
  EXPECT_EQ(s->columns[1], "age");
  EXPECT_EQ(s->rows[0][1], "30");
  EXPECT_EQ(s->rows[1][1], "None");
  EXPECT_THROW(load_db_source("x", "sqlite:///" + path, "SELECT nope FROM u", true), ConfigError);
  EXPECT_THROW(load_db_source("x", "mysql://h/db", "SELECT 1", true), ConfigError);
}

TEST(CsvSource, NonRegularFilesAreRefused) {
  EXPECT_NE(error_of("/dev/zero").find("CSV source 's': /dev/zero: not a regular file"),
            std::string::npos)
      << error_of("/dev/zero");
  EXPECT_NE(error_of("/").find("is a directory"), std::string::npos) << error_of("/");
}
