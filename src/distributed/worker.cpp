// The Locust-protocol worker's RPC thread. The only file that includes ZeroMQ.
#include "distributed/worker.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <zmq.hpp>

#include "core/log.hpp"
#include "distributed/locust_stats.hpp"
#include "distributed/metrics_wire.hpp"
#include "distributed/msgpack.hpp"
#include "loaddensity/core/error.hpp"
#include "loaddensity/stats/live.hpp"

namespace ld::distributed {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string make_node_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "loaddensity");
  std::random_device rd;
  std::string id = std::string(host) + "_";
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) id.push_back(hex[rd() & 15]);
  return id;
}

// Process CPU time in seconds (user + system).
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Resident set size in bytes (what psutil's memory_info().rss reports).
std::uint64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

constexpr double kHeartbeatInterval = 1.0;  // locust/runners.py HEARTBEAT_INTERVAL
constexpr double kReportInterval = 3.0;     // WORKER_REPORT_INTERVAL
constexpr double kConnectRetry = 5.0;       // CONNECT_TIMEOUT
constexpr int kPollMs = 50;

}  // namespace

struct Worker::Impl {
  WorkerOptions opt;
  stats::LiveFeed& feed;
  LocustReport report;
  std::string node_id = make_node_id();
  engine::ExternalUserTarget target;

  // --- shared between the test thread and the RPC thread (mu)
  mutable std::mutex mu;
  std::condition_variable cv;
  bool acked = false;
  std::optional<MasterCommand> command;
  bool running = false;            // a spawn was handed to the test thread and its run not ended
  bool stop_after_run = false;     // the master stopped the run: client_stopped + ready after it
  bool respawn_after_run = false;  // a spawn came while the run was stopping
  bool run_ended = false;          // the test thread says the run is over
  Json run_metrics;                // its full results for the last stats message, or null
  bool resend_ready = false;       // connect(): client_ready again
  std::vector<Message> outbox;
  std::string lost;
  std::vector<std::string> notes;
  std::atomic<bool> finish{false};

  // --- the RPC thread only
  zmq::context_t ctx{1};
  std::optional<zmq::socket_t> sock, monitor;
  int monitor_seq = 0;
  std::thread thread;
  Json classes_count = Json::object();  // what this worker runs, per Locust class
  std::uint32_t user_count = 0;
  std::string state = "ready";
  double last_spawn_ts = 0;
  std::vector<std::string> unmapped_noted;
  bool connected = false;
  Clock::time_point down_since = Clock::now();
  Clock::time_point last_master_msg = Clock::now();
  bool master_heartbeats = false;
  double cpu_usage = 0;
  double last_cpu = cpu_seconds();
  Clock::time_point last_cpu_at = Clock::now();

  Impl(WorkerOptions o, stats::LiveFeed& f) : opt(std::move(o)), feed(f) {
    target.users.store(0);
    target.spawn_rate.store(1e9);  // the master paces the spawning; the worker follows at once
  }

  std::string master() const { return opt.master_host + ":" + std::to_string(opt.master_port); }

  void open_socket() {
    sock.emplace(ctx, zmq::socket_type::dealer);
    sock->set(zmq::sockopt::routing_id, node_id);
    sock->set(zmq::sockopt::linger, 1000);
    sock->set(zmq::sockopt::tcp_keepalive, 1);
    sock->set(zmq::sockopt::tcp_keepalive_idle, 30);
    // ZMTP heartbeats: a master that vanished without closing its connection is noticed in
    // seconds even when it sends no heartbeats of its own (Locust 2.12 does not).
    sock->set(zmq::sockopt::heartbeat_ivl, 1000);
    sock->set(zmq::sockopt::heartbeat_timeout, 3000);
    const std::string ep = "inproc://ld-worker-monitor-" + std::to_string(++monitor_seq);
    if (zmq_socket_monitor(sock->handle(), ep.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0) {
      throw std::runtime_error(std::string("zmq_socket_monitor: ") + zmq_strerror(zmq_errno()));
    }
    monitor.emplace(ctx, zmq::socket_type::pair);
    monitor->connect(ep);
    connected = false;
    down_since = Clock::now();
    sock->connect("tcp://" + opt.master_host + ":" + std::to_string(opt.master_port));
  }

  void close_socket() {
    if (sock) zmq_socket_monitor(sock->handle(), nullptr, 0);
    monitor.reset();
    sock.reset();
  }

  void send(const std::string& type, Json data) {
    const std::string bytes = encode_message(Message{type, std::move(data), node_id});
    try {
      if (!sock->send(zmq::buffer(bytes), zmq::send_flags::dontwait)) {
        log::warn("worker", "could not queue a '" + type + "' message for the master");
      }
    } catch (const zmq::error_t& e) {
      log::warn("worker", "sending '" + type + "' to the master: " + e.what());
    }
  }

  Json ready_version() const {
    if (opt.version == "-1") return -1;
    return opt.version;
  }

  void send_stats(Json ld_metrics = nullptr) {
    Json data = report.take(LocustReport::wall_now());
    if (!ld_metrics.is_null()) data["ld_metrics"] = std::move(ld_metrics);
    data["user_classes_count"] = classes_count;
    data["user_count"] = user_count;
    send("stats", std::move(data));
  }

  void note(std::string text) {
    log::warn("worker", text);
    std::lock_guard<std::mutex> lock(mu);
    notes.push_back(std::move(text));
  }

  void on_spawn(const Json& job) {
    send("spawning", nullptr);
    const double ts = job.value("timestamp", 0.0);
    if (ts <= last_spawn_ts) {
      log::info("worker", "discarded a spawn message older than the previous one");
      return;
    }
    last_spawn_ts = ts;
    std::uint64_t users = 0;
    Json counts = Json::object();
    if (job.contains("user_classes_count") && job["user_classes_count"].is_object()) {
      for (auto it = job["user_classes_count"].begin(); it != job["user_classes_count"].end();
           ++it) {
        const std::uint64_t n = it.value().is_number() ? it.value().get<std::uint64_t>() : 0;
        const bool mapped = opt.classes.empty() || std::find(opt.classes.begin(), opt.classes.end(),
                                                             it.key()) != opt.classes.end();
        counts[it.key()] = mapped ? n : 0;
        if (mapped) {
          users += n;
        } else if (n > 0 && std::find(unmapped_noted.begin(), unmapped_noted.end(), it.key()) ==
                                unmapped_noted.end()) {
          unmapped_noted.push_back(it.key());
          note("the master asked for " + std::to_string(n) + " users of Locust class '" + it.key() +
               "', which this test does not run (user_detail_dict.locust_class)");
        }
      }
    }
    if (users > opt.max_users) {
      note("the master asked for " + std::to_string(users) + " users; this worker runs at most " +
           std::to_string(opt.max_users) + " (the test's user_count)");
      users = opt.max_users;
    }
    classes_count = std::move(counts);
    user_count = static_cast<std::uint32_t>(users);
    target.users.store(user_count);
    state = "running";
    send("spawning_complete",
         Json{{"user_classes_count", classes_count}, {"user_count", user_count}});
    std::lock_guard<std::mutex> lock(mu);
    if (!running) {
      running = true;
      target.stop.store(false);
      command = MasterCommand::kSpawn;
      cv.notify_all();
    } else if (target.stop.load()) {
      respawn_after_run = true;
    }
  }

  void zero_counts() {
    for (auto it = classes_count.begin(); it != classes_count.end(); ++it) it.value() = 0;
    user_count = 0;
    target.users.store(0);
  }

  void on_stop() {
    std::unique_lock<std::mutex> lock(mu);
    respawn_after_run = false;
    if (running) {
      target.stop.store(true);
      stop_after_run = true;
      state = "stopping";
      return;
    }
    lock.unlock();
    zero_counts();
    send("client_stopped", nullptr);
    send("client_ready", ready_version());
    state = "ready";
  }

  void end_session(MasterCommand why, std::string reason) {
    std::lock_guard<std::mutex> lock(mu);
    if (why == MasterCommand::kLost) lost = std::move(reason);
    target.stop.store(true);
    respawn_after_run = false;
    command = why;
    cv.notify_all();
  }

  void handle(const Message& m) {
    last_master_msg = Clock::now();
    if (m.type == "ack") {
      std::lock_guard<std::mutex> lock(mu);
      acked = true;
      cv.notify_all();
    } else if (m.type == "spawn") {
      if (m.data.is_object()) on_spawn(m.data);
    } else if (m.type == "stop") {
      on_stop();
    } else if (m.type == "quit") {
      log::info("worker", "the master sent quit");
      send_stats();  // what was measured so far, before the master stops listening
      end_session(MasterCommand::kQuit, {});
    } else if (m.type == "reconnect") {
      log::warn("worker", "the master asked for a reconnect: resetting the connection");
      close_socket();
      open_socket();
    } else if (m.type == "heartbeat") {
      master_heartbeats = true;  // newer masters: their heartbeats are the liveness signal
    } else {
      log::warn("worker", "unknown message type from the master: " + m.type);
    }
  }

  void drain_monitor() {
    for (;;) {
      zmq::message_t ev;
      if (!monitor->recv(ev, zmq::recv_flags::dontwait)) return;
      std::uint16_t event = 0;
      if (ev.size() >= 2) std::memcpy(&event, ev.data(), sizeof event);
      while (monitor->get(zmq::sockopt::rcvmore)) {
        zmq::message_t rest;
        (void)monitor->recv(rest, zmq::recv_flags::dontwait);
      }
      if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        connected = true;
      } else if (event == ZMQ_EVENT_DISCONNECTED) {
        if (connected) down_since = Clock::now();
        connected = false;
        log::warn("worker", "lost the connection to the master at " + master());
      }
    }
  }

  void check_master(bool acked_now) {
    if (!acked_now) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!lost.empty() || command == MasterCommand::kQuit) return;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", opt.heartbeat_timeout_s);
    if (master_heartbeats && seconds_since(last_master_msg) > opt.heartbeat_timeout_s) {
      end_session(MasterCommand::kLost,
                  "no heartbeat from the master at " + master() + " for " + buf + " s");
    } else if (!connected && seconds_since(down_since) > opt.heartbeat_timeout_s) {
      end_session(MasterCommand::kLost,
                  "the master at " + master() + " has been unreachable for " + buf + " s");
    }
  }

  void loop() {
    auto last_heartbeat = Clock::now() - std::chrono::seconds(1);
    auto last_report = Clock::now();
    while (!finish.load()) {
      zmq::pollitem_t items[] = {{sock->handle(), 0, ZMQ_POLLIN, 0},
                                 {monitor->handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(kPollMs));
      drain_monitor();
      for (int i = 0; i < 1000; ++i) {  // bounded: heartbeats must still go out
        zmq::message_t msg;
        if (!sock->recv(msg, zmq::recv_flags::dontwait)) break;
        try {
          handle(decode_message(msg.to_string_view()));
        } catch (const std::exception& e) {
          log::warn("worker", std::string("bad message from the master: ") + e.what());
        }
      }
      std::vector<Message> out;
      bool ended = false, ready_again = false, acked_now = false;
      Json ended_metrics;
      {
        std::lock_guard<std::mutex> lock(mu);
        out.swap(outbox);
        acked_now = acked;
        ready_again = resend_ready;
        resend_ready = false;
        if (run_ended) {
          ended = true;
          run_ended = false;
          running = false;
          ended_metrics.swap(run_metrics);
        }
      }
      if (ready_again) send("client_ready", ready_version());
      for (auto& m : out) send(m.type, std::move(m.data));
      if (ended) after_run(std::move(ended_metrics));
      if (seconds_since(last_heartbeat) >= kHeartbeatInterval) {
        last_heartbeat = Clock::now();
        const double cpu = cpu_seconds();
        const double dt = seconds_since(last_cpu_at);
        if (dt > 0) cpu_usage = (cpu - last_cpu) / dt * 100.0;
        last_cpu = cpu;
        last_cpu_at = Clock::now();
        send("heartbeat", Json{{"state", state},
                               {"current_cpu_usage", std::round(cpu_usage * 10) / 10},
                               {"current_memory_usage", rss_bytes()}});
      }
      if (acked_now && seconds_since(last_report) >= kReportInterval) {
        last_report = Clock::now();
        send_stats();
      }
      check_master(acked_now);
    }
    // Leaving: what is still queued (an exception), the last stats, then "quit" (as a Locust
    // worker does when it shuts down).
    bool acked_now;
    std::vector<Message> out;
    {
      std::lock_guard<std::mutex> lock(mu);
      acked_now = acked;
      out.swap(outbox);
    }
    if (acked_now) {
      for (auto& m : out) send(m.type, std::move(m.data));
      send_stats();
      send("quit", nullptr);
    }
    close_socket();
  }

  void after_run(Json metrics) {
    send_stats(std::move(metrics));  // everything the run measured, its final interval included
    bool stopped, respawn;
    {
      std::lock_guard<std::mutex> lock(mu);
      stopped = stop_after_run;
      respawn = respawn_after_run;
      stop_after_run = respawn_after_run = false;
      if (respawn) {
        running = true;
        target.stop.store(false);
        command = MasterCommand::kSpawn;
        cv.notify_all();
      }
    }
    if (respawn) return;
    if (stopped) {
      zero_counts();
      send("client_stopped", nullptr);
      send("client_ready", ready_version());
    }
    state = "ready";
  }
};

Worker::Worker(WorkerOptions options, stats::LiveFeed& feed)
    : impl_(std::make_unique<Impl>(std::move(options), feed)) {
  impl_->feed.add_observer(&impl_->report);
}

Worker::~Worker() {
  impl_->finish.store(true);
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->feed.remove_observer(&impl_->report);
}

void Worker::connect(const std::atomic<bool>& interrupt) {
  Impl& w = *impl_;
  w.open_socket();
  w.send("client_ready", w.ready_version());
  w.thread = std::thread([&w] {
    try {
      w.loop();
    } catch (const std::exception& e) {
      w.end_session(MasterCommand::kLost, std::string("worker RPC thread: ") + e.what());
    }
  });
  const auto start = Clock::now();
  auto last_try = start;
  std::unique_lock<std::mutex> lock(w.mu);
  while (!w.acked) {
    if (interrupt.load()) throw Interrupted();
    if (w.command == MasterCommand::kLost) throw std::runtime_error(w.lost);
    if (seconds_since(start) > w.opt.connect_timeout_s) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", w.opt.connect_timeout_s);
      throw std::runtime_error("no Locust master answered at " + w.master() + " within " + buf +
                               " s");
    }
    if (seconds_since(last_try) >= kConnectRetry) {
      last_try = Clock::now();
      w.resend_ready = true;
      log::info("worker", "no answer from the master at " + w.master() + " yet, retrying");
    }
    w.cv.wait_for(lock, std::chrono::milliseconds(100));
  }
}

MasterCommand Worker::wait(const std::atomic<bool>& interrupt) {
  Impl& w = *impl_;
  std::unique_lock<std::mutex> lock(w.mu);
  for (;;) {
    if (w.command) {
      const MasterCommand c = *w.command;
      w.command.reset();
      return c;
    }
    if (interrupt.load()) return MasterCommand::kInterrupted;
    w.cv.wait_for(lock, std::chrono::milliseconds(100));
  }
}

engine::ExternalUserTarget& Worker::target() noexcept { return impl_->target; }

void Worker::run_ended(const stats::Metrics* metrics) {
  Json wire = metrics ? metrics_to_wire(*metrics) : Json();
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->run_ended = true;
  impl_->run_metrics = std::move(wire);
}

void Worker::send_exception(const std::string& msg, const std::string& traceback) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->outbox.push_back(Message{"exception", Json{{"msg", msg}, {"traceback", traceback}}, {}});
}

std::string Worker::lost_reason() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->lost;
}

const std::string& Worker::node_id() const noexcept { return impl_->node_id; }

std::vector<std::string> Worker::take_notes() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<std::string> out;
  out.swap(impl_->notes);
  return out;
}

}  // namespace ld::distributed
