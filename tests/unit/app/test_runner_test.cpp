// The test runner apart from the CLI: a second start while a test runs is refused at once and
// names the running test; two runners with their own sessions run at the same time; results
// land in the session that ran them.
#include "app/test_runner.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "engine/timer_protocol.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::app {
namespace {

class NapProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"nap_user"}; }
  void validate_task(const Json&) const override {}
  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>&,
                                                 engine::CompileContext& ctx) const override {
    return std::make_unique<engine::testing::TimerTasks>(
        ctx.names, std::vector<std::pair<std::string, std::string>>{{"NAP", "nap"}});
  }
};

Json args(double seconds) {
  return Json{{"user_detail_dict", {{"user", "nap_user"}}},
              {"user_count", 2},
              {"spawn_rate", 1000},
              {"test_time", seconds},
              {"threads", 1},
              {"tasks", Json::array({Json::object()})}};
}

class TestRunnerTest : public ::testing::Test {
 protected:
  TestRunnerTest() { protocols.add(std::make_shared<NapProtocol>()); }
  engine::ProtocolRegistry protocols;
  std::atomic<bool> interrupt{false};
};

TEST_F(TestRunnerTest, ASecondStartWhileATestRunsIsRefused) {
  TestRunner runner(protocols);
  TestSession session;
  std::thread first([&] { runner.run(args(1.5), session, RunControls{&interrupt}); });
  while (!runner.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  try {
    runner.run(args(1), session, RunControls{&interrupt});
    ADD_FAILURE() << "a second start ran";
  } catch (const RunnerBusy& e) {
    EXPECT_NE(std::string(e.what()).find("already running"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nap_user, 2 users"), std::string::npos) << e.what();
  }
  first.join();
  EXPECT_FALSE(runner.busy());
  // Once it ended, the next start runs; both runs are in the session's results.
  const RunResult again = runner.run(args(0.3), session, RunControls{&interrupt});
  EXPECT_GT(again.outcome.metrics.requests(), 0u);
  ASSERT_EQ(session.metrics.runs.size(), 2u);
  EXPECT_EQ(session.metrics.runs[0].stop_reason, "test_time");
}

TEST_F(TestRunnerTest, RunnersWithTheirOwnSessionsRunAtTheSameTime) {
  TestRunner a(protocols), b(protocols);
  TestSession sa, sb;
  RunResult ra, rb;
  std::thread ta([&] { ra = a.run(args(1), sa, RunControls{&interrupt}); });
  std::thread tb([&] { rb = b.run(args(1), sb, RunControls{&interrupt}); });
  ta.join();
  tb.join();
  EXPECT_GT(ra.outcome.metrics.requests(), 0u);
  EXPECT_GT(rb.outcome.metrics.requests(), 0u);
  EXPECT_EQ(sa.metrics.requests(), ra.outcome.metrics.requests());
  EXPECT_EQ(sb.metrics.requests(), rb.outcome.metrics.requests());
}

TEST_F(TestRunnerTest, CheckNamesTheBadArgument) {
  TestRunner runner(protocols);
  Json bad = args(1);
  bad["user_detail_dict"]["user"] = "nope_user";
  try {
    runner.check(bad);
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/user_detail_dict/user");
    EXPECT_NE(std::string(e.what()).find("available: nap_user"), std::string::npos);
  }
  EXPECT_FALSE(runner.busy());
}

}  // namespace
}  // namespace ld::app
