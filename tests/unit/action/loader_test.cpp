#include "action/loader.hpp"

#include <gtest/gtest.h>

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
