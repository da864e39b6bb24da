// Loading plugins through the C ABI (include/loaddensity/plugin.h): the test plugins of
// tests/plugins, built as C99, one library per case.
#include "plugins/plugins.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "loaddensity/core/error.hpp"

using namespace ld;
using ld::action::CommandRegistry;

namespace {

std::string lib(const std::string& variant) {
  return std::string(LD_TEST_PLUGIN_DIR) + "/libld_tp_" + variant + ".so";
}

Json call(const CommandRegistry& r, const std::string& name, const Json& args) {
  const action::Command* c = r.find(name);
  if (!c) throw std::logic_error("no command " + name);
  return c->handler(r.bind(*c, args));
}

std::string load_error(CommandRegistry& r, const std::string& path) {
  try {
    plugins::load_into(r, path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

CommandRegistry with_len() {
  CommandRegistry r;
  r.add(action::Command{"len", "", {}, [](const Json&) -> Json { return 0; }});
  return r;
}

}  // namespace

TEST(Plugins, CommandsAreRegisteredWithTheirParameters) {
  CommandRegistry r;
  const plugins::Loaded l = plugins::load_into(r, lib("good"));
  EXPECT_TRUE(l.newly_registered);
  EXPECT_EQ(l.commands, (std::vector<std::string>{"tp_echo", "tp_fail", "tp_bad_input",
                                                  "tp_not_json", "tp_null", "tp_count"}));
  const action::Command* echo = r.find("tp_echo");
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->summary, "Returns its arguments.");
  EXPECT_EQ(echo->origin, std::filesystem::canonical(lib("good")).string());
  ASSERT_EQ(echo->params.size(), 3u);
  EXPECT_EQ(echo->params[1].name, "times");
  EXPECT_EQ(echo->params[1].default_value, 1);
  // The plugin sees every declared parameter, defaults filled in, and nothing else.
  EXPECT_EQ(call(r, "tp_echo", Json::parse(R"({"text": "hi"})")),
            Json::parse(R"({"text": "hi", "times": 1, "extra": null})"));
  EXPECT_EQ(call(r, "tp_echo", Json::parse(R"(["hi", 3, {"a": [1]}])")),
            Json::parse(R"({"text": "hi", "times": 3, "extra": {"a": [1]}})"));
  // Binding checks the declaration before the plugin is called.
  EXPECT_THROW(r.bind(*echo, Json::parse(R"({"times": 2})")), ConfigError);
  EXPECT_THROW(r.bind(*echo, Json::parse(R"({"text": 5})")), ConfigError);
  EXPECT_THROW(r.bind(*echo, Json::parse(R"({"text": "x", "tmies": 2})")), ConfigError);
}

TEST(Plugins, ResultsAndErrorsComeBackAsJsonOrText) {
  CommandRegistry r;
  plugins::load_into(r, lib("good"));
  EXPECT_TRUE(call(r, "tp_null", Json::object()).is_null());
  try {
    call(r, "tp_fail", Json::object());
    FAIL();
  } catch (const ConfigError&) {
    FAIL() << "a failed call is not bad input";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "tp_fail: asked to fail");
  }
  try {
    call(r, "tp_bad_input", Json::object());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "tp_bad_input: the arguments are wrong");
  }
  try {
    call(r, "tp_not_json", Json::object());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("returned text that is not JSON"), std::string::npos);
  }
}

TEST(Plugins, ALibraryIsInitialisedOncePerProcessAndSharedByRegistries) {
  CommandRegistry a, b;
  plugins::load_into(a, lib("good"));
  const Json first = call(a, "tp_count", Json::object());
  // Loading it again into the same registry changes nothing.
  const plugins::Loaded again = plugins::load_into(a, lib("good"));
  EXPECT_FALSE(again.newly_registered);
  // Another registry (a `serve` session) gets the same library: its state carries on.
  EXPECT_TRUE(plugins::load_into(b, lib("good")).newly_registered);
  EXPECT_EQ(call(b, "tp_count", Json::object()), first.get<long>() + 1);
  EXPECT_EQ(call(a, "tp_count", Json::object()), first.get<long>() + 2);
}

TEST(Plugins, AWrongAbiVersionIsRefusedBeforeInit) {
  CommandRegistry r;
  const std::string e = load_error(r, lib("bad_abi"));
  EXPECT_NE(e.find("plugin '" + lib("bad_abi") +
                   "': built for plugin ABI version 999, this "
                   "loaddensity speaks version 1"),
            std::string::npos)
      << e;
  EXPECT_EQ(r.find("tp_echo"), nullptr);  // its init (which registers tp_echo) never ran
}

TEST(Plugins, AMissingSymbolIsNamed) {
  CommandRegistry r;
  const std::string e = load_error(r, lib("no_init"));
  EXPECT_NE(e.find("no symbol 'ld_plugin_init'"), std::string::npos) << e;
}

TEST(Plugins, AFailedInitIsReportedWithItsMessageAndNotRunAgain) {
  CommandRegistry r;
  const std::string e = load_error(r, lib("init_fails"));
  EXPECT_NE(e.find("ld_plugin_init failed (returned 7): no licence key found"), std::string::npos)
      << e;
  EXPECT_EQ(load_error(r, lib("init_fails")), e);
}

TEST(Plugins, AMalformedCommandRefusesThePlugin) {
  CommandRegistry r;
  const std::string e = load_error(r, lib("malformed"));
  EXPECT_NE(e.find("command name 'bad name' is not a name"), std::string::npos) << e;
}

TEST(Plugins, ADuplicateNameRegistersNothing) {
  CommandRegistry r = with_len();
  std::string e = load_error(r, lib("duplicate"));
  EXPECT_NE(e.find("command 'len' is already a loaddensity command or builtin; nothing was "
                   "registered"),
            std::string::npos)
      << e;
  EXPECT_EQ(r.find("tp_echo"), nullptr);  // registered before len in the plugin: not kept

  CommandRegistry other;
  plugins::load_into(other, lib("good"));
  e = load_error(other, lib("duplicate"));
  EXPECT_NE(e.find("command 'tp_echo' is already a command of plugin " +
                   std::filesystem::canonical(lib("good")).string()),
            std::string::npos)
      << e;

  CommandRegistry refused;
  refused.refuse("tp_echo", "test");
  EXPECT_NE(load_error(refused, lib("good")).find("is already a refused name"), std::string::npos);
}

TEST(Plugins, FilesThatAreNotPluginsAreNamed) {
  CommandRegistry r;
  EXPECT_EQ(load_error(r, "/nonexistent/libnothing.so"),
            "plugin '/nonexistent/libnothing.so': no such file");
  EXPECT_NE(load_error(r, LD_TEST_PLUGIN_DIR).find("not a regular file"), std::string::npos);
  const std::string fake =
      (std::filesystem::temp_directory_path() / "ld-plugins-test-fake.so").string();
  std::ofstream(fake) << "not an ELF file\n";
  const std::string e = load_error(r, fake);
  std::remove(fake.c_str());
  EXPECT_NE(e.find("plugin '" + fake + "': cannot be loaded: "), std::string::npos) << e;
}
