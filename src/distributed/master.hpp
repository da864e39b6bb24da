#pragma once
// A Locust-protocol master: a ZeroMQ ROUTER that drives Locust 2.x workers (loaddensity's own
// or Locust's) with the same messages Locust's MasterRunner sends, and merges what they report.
// It runs no users itself. One thread (the caller of run()) owns the socket: it waits for the
// workers, ramps the user count at the spawn rate by sending each worker its share per Locust
// user class, watches heartbeats (a silent worker is marked missing and its users move to the
// others), stops and quits the workers, and returns the merged results: a worker that sent its
// full results ("ld_metrics", loaddensity workers) contributes those exactly, any other (a
// Locust worker, a worker that went missing) its Locust-shaped deltas. ZeroMQ stays in
// master.cpp.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loaddensity/stats/metrics.hpp"

namespace ld::distributed {

struct MasterOptions {
  std::string bind_host = "*";  // the original's master_bind_host
  int bind_port = 5557;
  std::uint32_t expected_workers = 0;  // wait for this many (at least one) before spawning
  double startup_timeout_s = 60;       // ... at most this long
  double heartbeat_timeout_s = 15;     // a worker silent this long is missing
  std::uint32_t users = 50;
  double spawn_rate = 10;      // users per second over all workers
  double test_time_s = 60;     // from the first spawn; 0 = until interrupted
  double stop_timeout_s = 45;  // how long a stop waits for the workers' client_stopped
  std::vector<std::string> classes{"LoadDensityUser"};  // Locust user classes, equal weights
  std::string host;  // the spawn message's host ("" = the workers' own)
};

struct WorkerSummary {
  std::string node_id;
  bool full_results = false;  // sent ld_metrics (a loaddensity worker that finished its run)
  std::uint64_t requests = 0, failures = 0;
  bool missing = false;
  std::string missing_at;      // local wall time, when missing
  double missing_after_s = 0;  // seconds after the first spawn
};

struct MasterResult {
  stats::Metrics metrics;  // the merged run (one RunInfo)
  std::string stop_reason;
  std::vector<WorkerSummary> workers;   // every worker that took part, in join order
  std::vector<std::string> exceptions;  // "node_id: message", as the workers reported them
};

class Master {
 public:
  // `say` prints a line for the terminal (worker joins, missing workers, exceptions).
  Master(MasterOptions options, std::function<void(const std::string&)> say);
  ~Master();
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Binds the ROUTER socket; throws std::runtime_error when the address cannot be bound.
  void bind();
  std::string endpoint() const;
  // Waits for the workers, runs the test, stops and quits them. Throws std::runtime_error when
  // no worker connected within startup_timeout_s. `interrupt` ends the test early (stop
  // reason "interrupted").
  MasterResult run(const std::atomic<bool>& interrupt);

  // Users per worker for `total` users of `classes` (equal weights) over `workers` workers, as
  // Locust's dispatcher deals them: class counts differ by at most one, and each class's users
  // go round-robin over the workers, continuing where the previous class stopped.
  static std::vector<std::vector<std::uint32_t>> split(std::uint32_t total, std::size_t classes,
                                                       std::size_t workers);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ld::distributed
