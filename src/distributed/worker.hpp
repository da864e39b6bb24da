#pragma once
// A Locust-protocol worker: a ZeroMQ DEALER to the master's ROUTER, speaking Locust 2.x's
// messages (locust/runners.py WorkerRunner). One RPC thread owns the socket: it answers the
// master (ack, spawn, stop, quit, reconnect, heartbeat), sends a heartbeat every second and
// the stats every 3 s; the test thread (LD_start_test with runner_mode "worker") waits for a
// spawn, runs a test whose user count follows the master (engine::ExternalUserTarget), and
// tells the worker when the run ended. ZeroMQ stays inside worker.cpp.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/run_control.hpp"

namespace ld::stats {
class LiveFeed;
class Metrics;
}

namespace ld::distributed {

struct WorkerOptions {
  std::string master_host = "127.0.0.1";
  int master_port = 5557;
  // No sign of the master this long (a dropped connection that did not come back, or, with a
  // master that sends heartbeats, no heartbeat) ends the test and the worker with an error.
  double heartbeat_timeout_s = 60;
  // client_ready is repeated every 5 s until the master acknowledges, at most this long.
  double connect_timeout_s = 300;
  // The Locust user classes this test runs; empty = every class the master asks for.
  std::vector<std::string> classes;
  std::uint32_t max_users = 0;  // the test's user_count: the most users the master may start
  // The version sent in client_ready. "-1" (an integer -1 on the wire) skips the master's check.
  std::string version = "-1";
};

enum class MasterCommand {
  kSpawn,        // the master wants users: start a run (target() holds them)
  kQuit,         // the master is done with this worker
  kLost,         // the master disappeared (lost_reason() says how)
  kInterrupted,  // the interrupt flag was raised while waiting
};

class Worker {
 public:
  Worker(WorkerOptions options, stats::LiveFeed& feed);
  ~Worker();  // final stats and "quit" to the master, then the RPC thread ends
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the RPC thread and sends client_ready until the master acknowledges. Throws
  // std::runtime_error after connect_timeout_s; Interrupted when `interrupt` is raised.
  void connect(const std::atomic<bool>& interrupt);
  // Blocks until the master asks for something the test thread acts on.
  MasterCommand wait(const std::atomic<bool>& interrupt);
  // What the run follows: users (capped at max_users), and `stop` once the master stops, quits
  // or is lost.
  engine::ExternalUserTarget& target() noexcept;
  // The test thread: the run has ended. Sends its last stats (with `metrics`, the run's full
  // results, under "ld_metrics" for a loaddensity master; null when the run failed), then
  // (after a stop) tells the master the worker stopped and is ready again.
  void run_ended(const stats::Metrics* metrics);
  // An error of this worker for the master's exceptions tab.
  void send_exception(const std::string& msg, const std::string& traceback);

  std::string lost_reason() const;
  const std::string& node_id() const noexcept;
  // Warnings for the terminal (unmapped classes, a capped spawn), drained by the caller.
  std::vector<std::string> take_notes();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ld::distributed
