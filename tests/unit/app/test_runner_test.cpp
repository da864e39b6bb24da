// The test runner apart from the CLI: a second start while a test runs is refused at once and
// names the running test; two runners with their own sessions run at the same time; results
// land in the session that ran them.
#include "app/test_runner.hpp"

#include <gtest/gtest.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <thread>

#include "loaddensity/core/error.hpp"

namespace ld::app {
namespace {

namespace net = boost::asio;

// A protocol whose every operation waits 2 ms on a timer and succeeds.
class NapTasks final : public engine::CompiledTasks {
 public:
  explicit NapTasks(engine::NameTable& names) : id_(names.intern("NAP", "nap")) {}
  std::size_t size() const noexcept override { return 1; }
  Nanos max_timeout() const noexcept override { return kNanosPerSecond; }
  std::uint32_t name_id(std::size_t) const noexcept override { return id_; }
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& w) override {
    return std::make_unique<Session>(id_, w);
  }

 private:
  class Session final : public engine::UserSession {
   public:
    Session(std::uint32_t id, engine::WorkerContext& w) : id_(id), w_(w), timer_(w.io) {}
    net::awaitable<void> run_step(std::size_t, Nanos planned) override {
      stats::Record r;
      r.name_id = id_;
      r.planned = planned;
      r.start = steady_now();
      timer_.expires_after(std::chrono::milliseconds(2));
      boost::system::error_code ec;
      co_await timer_.async_wait(net::redirect_error(net::use_awaitable, ec));
      r.end = steady_now();
      w_.record(r);
    }

   private:
    std::uint32_t id_;
    engine::WorkerContext w_;
    net::steady_timer timer_;
  };
  std::uint32_t id_;
};

class NapProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"nap_user"}; }
  void validate_task(const Json&) const override {}
  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>&,
                                                 engine::CompileContext& ctx) const override {
    return std::make_unique<NapTasks>(ctx.names);
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
