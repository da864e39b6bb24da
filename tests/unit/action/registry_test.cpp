#include "action/registry.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "action/executor.hpp"
#include "loaddensity/core/error.hpp"

using namespace ld;
using namespace ld::action;

namespace {

CommandRegistry make_registry(std::vector<std::string>* calls) {
  CommandRegistry r;
  r.add(Command{"LD_add",
                "",
                {{"a", kInteger, true, nullptr, ""}, {"b", kInteger, false, 10, ""}},
                [calls](const Json& args) -> Json {
                  calls->push_back("add");
                  return args["a"].get<int>() + args["b"].get<int>();
                }});
  r.add(Command{"LD_boom", "", {}, [calls](const Json&) -> Json {
                  calls->push_back("boom");
                  throw std::runtime_error("kaboom");
                }});
  return r;
}

std::string bind_error(const CommandRegistry& r, const std::string& cmd, const Json& args) {
  try {
    r.bind(*r.find(cmd), args);
  } catch (const ConfigError& e) {
    return std::string(e.what()) + " @" + e.pointer();
  }
  return "";
}

}  // namespace

TEST(Registry, ADuplicateNameIsRefusedAtRegistration) {
  std::vector<std::string> calls;
  CommandRegistry r = make_registry(&calls);
  EXPECT_THROW(r.add(Command{"LD_add", "", {}, [](const Json&) -> Json { return nullptr; }}),
               std::logic_error);
  // The first registration stands.
  EXPECT_EQ(r.find("LD_add")->params.size(), 2u);
}

TEST(Registry, BindsKwargsPositionalAndDefaults) {
  std::vector<std::string> calls;
  auto r = make_registry(&calls);
  EXPECT_EQ(r.bind(*r.find("LD_add"), Json{{"a", 1}})["b"], 10);
  EXPECT_EQ(r.bind(*r.find("LD_add"), Json::array({1, 2}))["b"], 2);
}

TEST(Registry, UnknownKeyIsNamedWithSuggestion) {
  std::vector<std::string> calls;
  auto r = make_registry(&calls);
  const std::string e = bind_error(r, "LD_add", Json{{"a", 1}, {"bb", 2}});
  EXPECT_NE(e.find("unknown argument 'bb'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'b'"), std::string::npos) << e;
  EXPECT_NE(e.find("@/bb"), std::string::npos) << e;
}

TEST(Registry, WrongTypeAndMissingRequiredAreNamed) {
  std::vector<std::string> calls;
  auto r = make_registry(&calls);
  std::string e = bind_error(r, "LD_add", Json{{"a", "one"}});
  EXPECT_NE(e.find("argument 'a' of LD_add must be integer, got string"), std::string::npos) << e;
  EXPECT_NE(e.find("@/a"), std::string::npos) << e;
  e = bind_error(r, "LD_add", Json::object());
  EXPECT_NE(e.find("missing required argument 'a'"), std::string::npos) << e;
  e = bind_error(r, "LD_add", Json::array({1, 2, 3}));
  EXPECT_NE(e.find("at most 2 positional"), std::string::npos) << e;
}

TEST(Executor, UnknownCommandSuggestsClosestAndNothingRuns) {
  std::vector<std::string> calls;
  auto r = make_registry(&calls);
  std::ostringstream out, err;
  Executor ex(r, out, err);
  auto doc = parse_document(R"([["LD_add", {"a": 1}], ["LD_ad", {"a": 2}]])", "d.json");
  try {
    ex.check(doc);
    FAIL() << "check should throw";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("action 1"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'LD_add'"), std::string::npos) << m;
  }
  EXPECT_TRUE(calls.empty());
}

TEST(Executor, FailingActionIsReportedAndTheRestRun) {
  std::vector<std::string> calls;
  auto r = make_registry(&calls);
  std::ostringstream out, err;
  Executor ex(r, out, err);
  auto doc = parse_document(R"([["LD_boom"], ["LD_add", [1, 2]]])", "d.json");
  ex.check(doc);
  auto rep = ex.run(doc);
  EXPECT_EQ(rep.failed, 1u);
  EXPECT_EQ(rep.ran, 2u);
  EXPECT_EQ((std::vector<std::string>{"boom", "add"}), calls);
  EXPECT_EQ(rep.results[1]["result"], 3);
  EXPECT_NE(err.str().find("FAIL [0] LD_boom: kaboom"), std::string::npos) << err.str();
}

namespace {
CommandRegistry nesting_registry(std::vector<std::string>* calls) {
  auto r = make_registry(calls);
  Command nest{
      "LD_nest", "", {{"action_list", kArray, true, nullptr, ""}}, [](const Json&) -> Json {
        return nullptr;
      }};
  nest.nested_actions = "action_list";
  r.add(std::move(nest));
  return r;
}
std::string check_error(const CommandRegistry& r, const std::string& text) {
  std::ostringstream out, err;
  Executor ex(r, out, err);
  try {
    ex.check(parse_document(text, "d.json"));
  } catch (const ConfigError& e) {
    return std::string(e.what()) + " @" + e.pointer();
  }
  return "";
}
}  // namespace

TEST(Executor, NestedActionListsAreCheckedWithAbsolutePointers) {
  std::vector<std::string> calls;
  auto r = nesting_registry(&calls);
  const std::string e = check_error(
      r, R"([["LD_add", [1]], ["LD_nest", {"action_list": [["LD_add", [1]], ["LD_ad", [1]]]}]])");
  EXPECT_NE(e.find("unknown command 'LD_ad'"), std::string::npos) << e;
  EXPECT_NE(e.find("@/1/1/action_list/1/0"), std::string::npos) << e;
  const std::string p = check_error(r, R"([["LD_nest", [[["LD_add", {"a": "x"}]]]]])");
  EXPECT_NE(p.find("must be integer"), std::string::npos) << p;
  EXPECT_NE(p.find("@/0/1/0/0/1/a"), std::string::npos) << p;
  EXPECT_TRUE(calls.empty());
}

TEST(Executor, NestingDeeperThanTheLimitIsAStaticError) {
  std::vector<std::string> calls;
  auto r = nesting_registry(&calls);
  auto nested = [](int levels) {
    std::string s = R"([["LD_add", [1]]])";
    for (int i = 0; i < levels; ++i) s = R"([["LD_nest", {"action_list": )" + s + "}]]";
    return s;
  };
  EXPECT_EQ(check_error(r, nested(limits::kMaxActionNesting)), "");
  const std::string e = check_error(r, nested(limits::kMaxActionNesting + 1));
  EXPECT_NE(e.find("nested more than 16 levels deep"), std::string::npos) << e;
}

TEST(Args, TypedViewOfBoundArguments) {
  CommandRegistry r;
  r.add(Command{"LD_typed",
                "",
                {{"name", kString, true, nullptr, ""},
                 {"port", kInteger, false, 8080, ""},
                 {"rate", kNumber, false, 1.5, ""},
                 {"cycle", kBool, false, true, ""},
                 {"label", kString | kNull, false, nullptr, ""}},
                [](const Args&) -> Json { return nullptr; }});
  const Command& c = *r.find("LD_typed");
  const Json bound = r.bind(c, Json{{"name", "a"}, {"port", 5.0}, {"cycle", false}});
  const Args a(bound);
  EXPECT_EQ(a.str("name"), "a");
  EXPECT_EQ(a.integer("port"), 5);          // 5.0 is an acceptable integer
  EXPECT_DOUBLE_EQ(a.number("rate"), 1.5);  // the default
  EXPECT_FALSE(a.flag("cycle", true));
  EXPECT_FALSE(a.has("label"));
  EXPECT_EQ(a.str("label", "none"), "none");  // absent/null: the fallback
  EXPECT_TRUE(a["nope"].is_null());
  EXPECT_TRUE(a.given("port"));
  EXPECT_FALSE(a.given("rate"));  // filled in by bind, not named by the action
  // Handlers written against the raw object still work: Args converts to it.
  const Json& raw = a;
  EXPECT_EQ(raw["name"], "a");
}
