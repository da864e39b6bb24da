// The test runner apart from the CLI: a second start while a test runs is refused at once and
// names the running test; two runners with their own sessions run at the same time; results
// land in the session that ran them.
#include "app/test_runner.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "csv/records_csv.hpp"
#include "engine/timer_protocol.hpp"
#include "loaddensity/core/error.hpp"
#include "stats/record_log.hpp"
#include "summary/summary.hpp"

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

// Worker 0's first operation blocks its thread for 5 s (a driver without an async API called
// on the worker); every other operation takes 2 ms. Counts the protocol's end_run.
class StuckTasks final : public engine::testing::TimerTasks {
 public:
  StuckTasks(engine::NameTable& names, std::atomic<int>& ends)
      : TimerTasks(names, {{"STUCK", "op"}}), ends_(ends) {}
  void end_run() noexcept override { ++ends_; }

 protected:
  void before_record(engine::WorkerContext& w, std::size_t, stats::Record&) override {
    if (w.thread_index == 0 && !blocked_.exchange(true)) {
      std::this_thread::sleep_for(std::chrono::seconds(5));
    }
  }

 private:
  std::atomic<bool> blocked_{false};
  std::atomic<int>& ends_;
};

class StuckProtocol final : public engine::Protocol {
 public:
  explicit StuckProtocol(std::atomic<int>& ends) : ends_(ends) {}
  std::vector<std::string> user_types() const override { return {"stuck_user"}; }
  void validate_task(const Json&) const override {}
  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>&,
                                                 engine::CompileContext& ctx) const override {
    return std::make_unique<StuckTasks>(ctx.names, ends_);
  }

 private:
  std::atomic<int>& ends_;
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
  TestRunnerTest() {
    protocols.add(std::make_shared<NapProtocol>());
    protocols.add(std::make_shared<StuckProtocol>(stuck_ends));
  }
  std::atomic<int> stuck_ends{0};
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

TEST_F(TestRunnerTest, AWorkerBlockedPastTheHardTimeoutIsAbandonedAndTheRunEndsOnTime) {
  TestRunner runner(protocols);
  TestSession session;
  stats::RecordLog log;
  session.begin_record_run = [&](const engine::NameTable& names, std::uint64_t, std::size_t) {
    std::vector<std::pair<std::string, std::string>> v;
    for (std::uint32_t i = 0; i < names.size(); ++i) v.push_back(names.at(i));
    return &log.begin_run(v, steady_now());
  };
  Json a = args(10);
  a["user_detail_dict"]["user"] = "stuck_user";
  a["user_count"] = 4;
  a["threads"] = 2;
  a["hard_timeout"] = 2;
  const Nanos start = steady_now();
  const RunResult r = runner.run(a, session, RunControls{&interrupt});
  const Nanos took = steady_now() - start;
  RecordProperty("run_ms", static_cast<int>(took / kNanosPerMilli));

  // The run ended at the watchdog, not when worker 0 woke up (5 s).
  EXPECT_LT(took, 4500 * kNanosPerMilli);
  EXPECT_EQ(r.outcome.stop_reason, "hard_timeout");
  ASSERT_EQ(r.outcome.metrics.runs.size(), 1u);
  const stats::RunInfo& info = r.outcome.metrics.runs[0];
  EXPECT_GE(info.aborted, 1u) << "the blocked operation counts as aborted";
  ASSERT_EQ(r.outcome.metrics.names.size(), 1u);
  const stats::NameMetrics& m = r.outcome.metrics.names[0];
  EXPECT_GT(m.requests, 100u) << "worker 1 went on working";
  EXPECT_GE(m.by_kind[static_cast<std::size_t>(stats::ErrorKind::kAborted)], 1u);
  EXPECT_EQ(session.metrics.requests(), r.outcome.metrics.requests());

  // The reports are written: the summary, and the per-request records of the worker that
  // stayed (the abandoned worker's writer is out of the log).
  const std::string dir = ::testing::TempDir() + "ld_stuck_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string summary = reports::write_summary_report(session.metrics, dir + "/summary");
  std::ifstream in(summary);
  ASSERT_TRUE(in.good()) << summary;
  const Json doc = Json::parse(in);
  EXPECT_NE(doc.dump().find("hard_timeout"), std::string::npos);
  std::ostringstream csv;
  EXPECT_GT(reports::write_records_csv(csv, &log), 100u);
  std::filesystem::remove_all(dir);

  // Worker 0 wakes at ~5 s, ends its user on the state it shares and frees itself; the
  // protocol's end_run comes once, after it.
  EXPECT_EQ(stuck_ends.load(), 0);
  const Nanos wait_until = steady_now() + 10 * kNanosPerSecond;
  while (engine::abandoned_workers() > 0 && steady_now() < wait_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(engine::abandoned_workers(), 0u);
  EXPECT_EQ(stuck_ends.load(), 1);
}

}  // namespace
}  // namespace ld::app
