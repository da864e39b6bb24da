#include "action/loader.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "loaddensity/core/error.hpp"

using ld::ConfigError;
using ld::action::parse_document;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_document(text, "t.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Loader, AcceptsBareListAndWrappedForms) {
  auto a = parse_document(R"([["LD_summary"], ["LD_register_variable", {"name": "x", "value": 1}]])",
                          "t");
  ASSERT_EQ(a.actions.size(), 2u);
  EXPECT_EQ(a.actions[0].command, "LD_summary");
  EXPECT_TRUE(a.actions[0].args.is_null());
  EXPECT_EQ(a.actions[1].pointer, "/1");
  auto b = parse_document(R"({"load_density": [["LD_register_variable", ["x", 1]]]})", "t");
  ASSERT_EQ(b.actions.size(), 1u);
  EXPECT_TRUE(b.actions[0].args.is_array());
  EXPECT_EQ(b.actions[0].pointer, "/load_density/0");
}

TEST(Loader, InvalidJsonNamesLineAndColumn) {
  const std::string e = error_of("[\n  [\"LD_summary\"],\n  [\"LD_x\" {}]\n]");
  EXPECT_NE(e.find("t.json:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
}

TEST(Loader, WrongShapesAreRejectedWithPointer) {
  EXPECT_NE(error_of(R"({"actions": []})").find("no \"load_density\" key"), std::string::npos);
  EXPECT_NE(error_of(R"({"load_density": {}})").find("must be a list"), std::string::npos);
  const std::string e = error_of(R"({"load_density": [["LD_summary"], [42]]})");
  EXPECT_NE(e.find("/load_density/1"), std::string::npos) << e;
  EXPECT_NE(e.find("command name must be a string"), std::string::npos) << e;
  EXPECT_NE(error_of(R"([[]])").find("empty action"), std::string::npos);
  EXPECT_NE(error_of(R"([["LD_a", 5]])").find("object or a list"), std::string::npos);
  EXPECT_NE(error_of(R"([["LD_a", {}, {}]])").find("too many"), std::string::npos);
  EXPECT_NE(error_of(R"(["LD_a"])").find("expected a list"), std::string::npos);
}

TEST(Loader, MissingFileIsAConfigError) {
  EXPECT_THROW(ld::action::load_document_file("/nonexistent/x.json"), ConfigError);
}

TEST(Loader, NestingBeyondTheLimitIsRefusedWithPosition) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string e = error_of(deep);
  EXPECT_NE(e.find("t.json:1:129: JSON nested more than 128 levels"), std::string::npos) << e;
  // 128 levels parse (the shape is then wrong, which is a different error).
  const std::string ok = std::string(128, '[') + std::string(128, ']');
  EXPECT_EQ(error_of(ok).find("nested more than"), std::string::npos) << error_of(ok);
  // Brackets inside strings do not count.
  const std::string in_string = R"([["LD_summary", {"x": ")" + std::string(1000, '[') + R"("}]])";
  EXPECT_EQ(error_of(in_string), "");
}

TEST(Loader, NumberOutOfRangeNamesLineAndColumn) {
  const std::string e = error_of("[[\"LD_x\",\n {\"v\": -1e400}]]");
  EXPECT_NE(e.find("t.json:2:8: number -1e400 is out of range"), std::string::npos) << e;
  EXPECT_EQ(error_of(R"([["LD_x", {"v": 1e-400, "w": 123456789012345678901234567890}]])"), "");
}

TEST(JsonUtil, BriefIsBoundedForDeepAndLargeValues) {
  ld::Json deep = ld::Json::array();
  for (int i = 0; i < 200000; ++i) {
    ld::Json outer = ld::Json::array();
    outer.push_back(std::move(deep));
    deep = std::move(outer);
  }
  const std::string b = ld::json_brief(deep, 80);
  EXPECT_LE(b.size(), 80u);
  EXPECT_EQ(b.substr(0, 4), "[[[[");
  const ld::Json big = ld::Json{{"k", std::string(10'000'000, 'x')}, {"z", 1}};
  const std::string s = ld::json_brief(big, 30);
  EXPECT_EQ(s, "{\"k\":\"" + std::string(21, 'x') + "...");
  EXPECT_EQ(ld::json_brief(ld::Json::parse(R"({"a":[1,2.5,"x\n"],"b":null})")),
            R"({"a":[1,2.5,"x\n"],"b":null})");
  EXPECT_EQ(ld::json_depth(deep), 200001u);
  // nlohmann copies and compares recursively: release the chain from the bottom.
  while (!deep.empty()) {
    ld::Json inner = std::move(deep[0]);
    deep = std::move(inner);
  }
}

TEST(JsonUtil, InputFilesMustBeRegularAndSmallEnough) {
  auto error = [](const std::string& path, std::size_t max) {
    try {
      ld::read_input_file(path, max, "action file");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error("/dev/zero", 1000).find("/dev/zero: not a regular file"), std::string::npos);
  EXPECT_NE(error("/", 1000).find("/: is a directory"), std::string::npos);
  EXPECT_NE(error("/nonexistent/x", 1000).find("cannot open '/nonexistent/x'"), std::string::npos);
  const std::string path = ::testing::TempDir() + "limit.json";
  { std::ofstream(path) << std::string(2000, ' '); }
  EXPECT_NE(error(path, 1024).find("action file of 2.0 KiB is over the 1 KiB limit"),
            std::string::npos)
      << error(path, 1024);
  EXPECT_EQ(error(path, 4096), "");
  std::remove(path.c_str());
}

TEST(JsonUtil, NumberRangesNameTheRange) {
  auto error = [](const ld::Json& v, bool zero_ok) {
    try {
      ld::seconds_in_range(v, "test_time", "/test_time", zero_ok);
    } catch (const ConfigError& e) {
      return std::string(e.what()) + " @" + e.pointer();
    }
    return std::string();
  };
  EXPECT_EQ(error(1e10, true),
            "test_time must be a number between 0 and 315360000 seconds (10 years), got "
            "10000000000 @/test_time");
  EXPECT_EQ(error(0, false).find("test_time must be a number > 0 and <= 315360000"), 0u);
  EXPECT_EQ(error(0, true), "");
  EXPECT_NE(error("x", true).find("got string \"x\""), std::string::npos) << error("x", true);
}
