// The Locust-protocol master's socket loop. The only file besides worker.cpp that includes
// ZeroMQ.
#include "distributed/master.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <stdexcept>
#include <zmq.hpp>

#include "core/log.hpp"
#include "distributed/locust_stats.hpp"
#include "distributed/metrics_wire.hpp"
#include "distributed/msgpack.hpp"

namespace ld::distributed {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string local_time_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::string fmt_s(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

constexpr int kPollMs = 50;
constexpr double kQuitWait = 5.0;  // after "quit": how long the workers' last stats may take

// One (method, name) of one worker, summed from its Locust-shaped deltas.
struct Acc {
  std::uint64_t requests = 0, failures = 0, content = 0;
  std::map<std::int64_t, std::uint64_t> response_times;  // rounded ms -> count
};

struct Peer {
  std::string id;
  int index = 0;
  enum State { kReady, kRunning, kStopped, kMissing, kGone } state = kReady;
  Clock::time_point last_seen = Clock::now();
  std::vector<std::uint32_t> counts;  // per class, as last sent
  double last_spawn_ts = 0;
  bool quit_seen = false;
  std::map<std::pair<std::string, std::string>, Acc> names;
  std::map<std::string, stats::ErrorEntry> errors;
  std::map<std::int64_t, std::pair<std::uint64_t, std::uint64_t>> per_sec;  // wall s -> reqs, fails
  std::optional<stats::Metrics> full;
  WorkerSummary summary;

  bool active() const { return state == kReady || state == kRunning; }
};

std::int64_t key_int(const std::string& k) {
  try {
    return std::stoll(k);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

std::vector<std::vector<std::uint32_t>> Master::split(std::uint32_t total, std::size_t classes,
                                                      std::size_t workers) {
  std::vector<std::vector<std::uint32_t>> out(workers, std::vector<std::uint32_t>(classes, 0));
  if (workers == 0 || classes == 0) return out;
  std::size_t next = 0;  // the worker the next user goes to
  for (std::size_t c = 0; c < classes; ++c) {
    const std::uint32_t count =
        total / static_cast<std::uint32_t>(classes) + (c < total % classes ? 1 : 0);
    const std::uint32_t each = count / static_cast<std::uint32_t>(workers);
    const std::size_t extra = count % workers;
    for (std::size_t w = 0; w < workers; ++w) out[w][c] = each;
    for (std::size_t i = 0; i < extra; ++i) ++out[(next + i) % workers][c];
    next = (next + count) % workers;
  }
  return out;
}

struct Master::Impl {
  MasterOptions opt;
  std::function<void(const std::string&)> say;
  zmq::context_t ctx{1};
  std::optional<zmq::socket_t> sock;
  std::string endpoint;
  std::vector<Peer> peers;  // join order
  std::vector<std::string> exceptions;
  std::vector<std::string> notes;
  std::uint32_t target = 0;  // users dispatched now
  bool running = false;      // between the first spawn and the end of the stop
  bool dispatching = false;  // between the first spawn and the stop: shares may change
  Clock::time_point run_start = Clock::now();
  double run_start_wall = 0;
  std::vector<std::uint32_t> users_by_second;  // the dispatched target, per second of the run

  Impl(MasterOptions o, std::function<void(const std::string&)> s)
      : opt(std::move(o)), say(std::move(s)) {}

  Peer* find(const std::string& id) {
    for (auto& p : peers) {
      if (p.id == id) return &p;
    }
    return nullptr;
  }

  void send(const std::string& id, const std::string& type, Json data) {
    const std::string bytes = encode_message(Message{type, std::move(data), id});
    try {
      sock->send(zmq::buffer(id), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      sock->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      log::warn("master", "sending '" + type + "' to worker " + id + ": " + e.what());
    }
  }

  std::size_t active_count() const {
    return static_cast<std::size_t>(
        std::count_if(peers.begin(), peers.end(), [](const Peer& p) { return p.active(); }));
  }

  // Sends every active worker its share of `target` users (only those whose share changed,
  // unless `all`).
  void dispatch(bool all) {
    std::vector<Peer*> active;
    for (auto& p : peers) {
      if (p.active()) active.push_back(&p);
    }
    const auto shares = split(target, opt.classes.size(), active.size());
    for (std::size_t i = 0; i < active.size(); ++i) {
      Peer& p = *active[i];
      if (!all && p.counts == shares[i] && p.state == Peer::kRunning) continue;
      p.counts = shares[i];
      Json counts = Json::object();
      for (std::size_t c = 0; c < opt.classes.size(); ++c) counts[opt.classes[c]] = shares[i][c];
      p.last_spawn_ts = std::max(LocustReport::wall_now(), p.last_spawn_ts + 1e-3);
      send(p.id, "spawn",
           Json{{"timestamp", p.last_spawn_ts},
                {"user_classes_count", std::move(counts)},
                {"host", opt.host},
                {"stop_timeout", nullptr},
                {"parsed_options", Json::object()}});
      p.state = Peer::kRunning;
    }
  }

  std::uint32_t assigned(const Peer& p) const {
    std::uint32_t n = 0;
    for (auto c : p.counts) n += c;
    return n;
  }

  void add_stats(Peer& p, const Json& data) {
    if (!data.is_object()) return;
    if (data.contains("ld_metrics")) {
      try {
        p.full = metrics_from_wire(data["ld_metrics"]);
      } catch (const std::exception& e) {
        log::warn("master", "worker " + p.id + " sent unreadable ld_metrics: " + e.what());
      }
    }
    static const Json kNone = Json::object();
    auto field = [](const Json& o, const char* k) -> const Json& {
      return o.contains(k) && o[k].is_object() ? o[k] : kNone;
    };
    const Json& entries =
        data.contains("stats") && data["stats"].is_array() ? data["stats"] : kNone;
    for (const auto& e : entries) {
      if (!e.is_object()) continue;
      const std::string method =
          e.value("method", Json()).is_string() ? e["method"].get<std::string>() : std::string();
      Acc& a = p.names[{method, e.value("name", std::string())}];
      a.requests += e.value("num_requests", std::uint64_t{0});
      a.failures += e.value("num_failures", std::uint64_t{0});
      a.content += e.value("total_content_length", std::uint64_t{0});
      for (const auto& [k, v] : field(e, "response_times").items()) {
        a.response_times[key_int(k)] += v.get<std::uint64_t>();
      }
      for (const auto& [k, v] : field(e, "num_reqs_per_sec").items()) {
        p.per_sec[key_int(k)].first += v.get<std::uint64_t>();
      }
      for (const auto& [k, v] : field(e, "num_fail_per_sec").items()) {
        p.per_sec[key_int(k)].second += v.get<std::uint64_t>();
      }
    }
    for (const auto& [key, e] : field(data, "errors").items()) {
      if (!e.is_object()) continue;
      stats::ErrorEntry& x = p.errors[key];
      x.request_type = e.value("method", Json()).is_string() ? e["method"].get<std::string>() : "";
      x.name = e.value("name", std::string());
      x.message = e.value("error", Json()).is_string() ? e["error"].get<std::string>()
                                                       : e.value("error", Json()).dump();
      x.kind = error_kind_from_name(x.message);
      x.count += e.value("occurrences", std::uint64_t{0});
    }
  }

  void mark_missing(Peer& p) {
    p.state = Peer::kMissing;
    p.summary.missing = true;
    p.summary.missing_at = local_time_now();
    p.summary.missing_after_s = running ? seconds_since(run_start) : 0;
    const std::uint32_t had = assigned(p);
    std::string text = "worker " + p.id + " went missing at " + p.summary.missing_at + " (" +
                       fmt_s(p.summary.missing_after_s) + " s into the run): no message for " +
                       fmt_s(opt.heartbeat_timeout_s) + " s";
    if (dispatching && had > 0) {
      text += active_count() > 0 ? "; its " + std::to_string(had) + " users moved to the " +
                                       std::to_string(active_count()) + " other workers"
                                 : "; no worker left";
    }
    notes.push_back(text);
    say(text);
    p.counts.assign(p.counts.size(), 0);
    if (dispatching) dispatch(false);
  }

  void join(Peer& p) {
    send(p.id, "ack", Json{{"index", p.index}});
    if (dispatching) dispatch(false);
  }

  void handle(const std::string& ident, const Message& m) {
    Peer* p = find(m.node_id.empty() ? ident : m.node_id);
    if (m.type == "client_ready") {
      if (!p) {
        peers.push_back(Peer{});
        p = &peers.back();
        p->id = m.node_id.empty() ? ident : m.node_id;
        p->index = static_cast<int>(peers.size()) - 1;
        p->summary.node_id = p->id;
        p->counts.assign(opt.classes.size(), 0);
        say("worker " + p->id + " connected (" + std::to_string(active_count()) + " ready)" +
            (dispatching ? "; users rebalanced" : ""));
      } else if (p->state == Peer::kStopped || !running) {
        p->last_seen = Clock::now();
        return;  // ready again after our stop: nothing more to send it
      }
      p->last_seen = Clock::now();
      p->state = Peer::kReady;
      p->counts.assign(opt.classes.size(), 0);
      join(*p);
      return;
    }
    if (!p) {
      // Locust's master asks an unknown worker to reconnect (its client_ready then joins it).
      send(ident, "reconnect", nullptr);
      return;
    }
    p->last_seen = Clock::now();
    if (m.type == "heartbeat") {
      if (p->state == Peer::kMissing && dispatching) {
        p->state = Peer::kReady;
        const std::string text = "worker " + p->id + " is back at " + local_time_now();
        notes.push_back(text);
        say(text);
        dispatch(false);
      }
    } else if (m.type == "stats") {
      add_stats(*p, m.data);
    } else if (m.type == "client_stopped") {
      if (p->state != Peer::kMissing && p->state != Peer::kGone) p->state = Peer::kStopped;
    } else if (m.type == "quit") {
      p->quit_seen = true;
      const bool was_active = p->active();
      p->state = Peer::kGone;
      if (dispatching && was_active) {
        const std::string text = "worker " + p->id + " quit at " + local_time_now();
        notes.push_back(text);
        say(text);
        p->counts.assign(p->counts.size(), 0);
        dispatch(false);
      }
    } else if (m.type == "exception") {
      const std::string msg = m.data.is_object() && m.data.value("msg", Json()).is_string()
                                  ? m.data["msg"].get<std::string>()
                                  : m.data.dump();
      exceptions.push_back(p->id + ": " + msg);
      say("worker " + p->id + " reported an exception: " + msg);
    } else if (m.type == "spawning" || m.type == "spawning_complete") {
      // The worker acknowledges our spawn; its counts are what we sent.
    } else {
      log::warn("master", "unknown message type from worker " + p->id + ": " + m.type);
    }
  }

  // Receives what arrived within one poll period.
  void pump() {
    zmq::pollitem_t items[] = {{sock->handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, std::chrono::milliseconds(kPollMs));
    for (int i = 0; i < 10000; ++i) {
      zmq::message_t ident, body;
      if (!sock->recv(ident, zmq::recv_flags::dontwait)) break;
      if (!ident.more() || !sock->recv(body, zmq::recv_flags::dontwait)) continue;
      while (body.more()) {
        zmq::message_t rest;
        if (!sock->recv(rest, zmq::recv_flags::dontwait)) break;
      }
      try {
        handle(ident.to_string(), decode_message(body.to_string_view()));
      } catch (const std::exception& e) {
        log::warn("master", std::string("bad message from a worker: ") + e.what());
      }
    }
    for (auto& p : peers) {
      if ((p.active() || (p.state == Peer::kStopped && !p.quit_seen && running)) &&
          seconds_since(p.last_seen) > opt.heartbeat_timeout_s) {
        mark_missing(p);
      }
    }
  }

  MasterResult merge(const std::string& stop_reason, double duration_s, double wall_s,
                     const std::string& started_at) {
    MasterResult r;
    r.stop_reason = stop_reason;
    r.exceptions = exceptions;
    stats::Metrics& m = r.metrics;
    std::vector<stats::IntervalPoint> timeline;
    auto point = [&timeline](std::size_t i) -> stats::IntervalPoint& {
      if (timeline.size() <= i) {
        for (std::size_t k = timeline.size(); k <= i; ++k) {
          stats::IntervalPoint q;
          q.t_s = static_cast<double>(k + 1);
          q.seconds = 1;
          timeline.push_back(q);
        }
      }
      return timeline[i];
    };
    for (auto& p : peers) {
      WorkerSummary s = p.summary;
      if (p.full) {
        s.full_results = true;
        stats::Metrics w = *p.full;
        for (std::size_t i = 0; i < w.timeline.size(); ++i) {
          const stats::IntervalPoint& x = w.timeline[i];
          stats::IntervalPoint& q = point(i);
          q.requests += x.requests;
          q.failures += x.failures;
          q.bytes_in += x.bytes_in;
          // Per-second percentiles do not merge: the highest worker's stands for the second.
          q.p50_ns = std::max(q.p50_ns, x.p50_ns);
          q.p95_ns = std::max(q.p95_ns, x.p95_ns);
          q.p99_ns = std::max(q.p99_ns, x.p99_ns);
          q.max_ns = std::max(q.max_ns, x.max_ns);
        }
        w.timeline.clear();
        s.requests = w.requests();
        s.failures = w.failures();
        m.absorb(w);
      } else {
        stats::Metrics w;
        for (const auto& [key, a] : p.names) {
          stats::NameMetrics& n = w.name_slot(key.first, key.second);
          n.requests += a.requests;
          n.failures += a.failures;
          n.bytes_in += a.content;
          // Locust's buckets do not say which responses failed: a name whose every request
          // failed keeps them as failed latencies, any other as successful ones.
          stats::Histogram& h =
              a.failures > 0 && a.failures == a.requests ? n.fail_latency : n.ok_latency;
          for (const auto& [ms, count] : a.response_times) h.record_n(ms * 1'000'000, count);
        }
        for (const auto& [key, e] : p.errors) {
          stats::NameMetrics& n = w.name_slot(e.request_type, e.name);
          n.by_kind[static_cast<std::size_t>(e.kind)] += e.count;
          w.add_error(e);
        }
        for (const auto& [sec, rf] : p.per_sec) {
          const double rel = static_cast<double>(sec) - std::floor(run_start_wall);
          if (rel < 0) continue;
          stats::IntervalPoint& q = point(static_cast<std::size_t>(rel));
          q.requests += rf.first;
          q.failures += rf.second;
        }
        s.requests = w.requests();
        s.failures = w.failures();
        m.absorb(w);
      }
      r.workers.push_back(std::move(s));
    }
    for (std::size_t i = 0; i < timeline.size(); ++i) {
      timeline[i].users = i < users_by_second.size()
                              ? users_by_second[i]
                              : (users_by_second.empty() ? 0 : users_by_second.back());
    }
    m.timeline = std::move(timeline);
    stats::RunInfo info;
    info.started_at = started_at;
    info.user = "distributed";
    info.users = opt.users;
    info.spawn_rate = opt.spawn_rate;
    info.test_time_s = opt.test_time_s;
    info.duration_s = duration_s;
    info.wall_s = wall_s;
    info.stop_reason = stop_reason;
    info.load_model = "closed:distributed";
    info.notes = notes;
    m.runs.push_back(std::move(info));
    m.sort_errors();
    return r;
  }

  MasterResult run(const std::atomic<bool>& interrupt) {
    // 1. Wait for the workers.
    const std::uint32_t want = std::max<std::uint32_t>(1, opt.expected_workers);
    const auto wait_start = Clock::now();
    while (active_count() < want && seconds_since(wait_start) < opt.startup_timeout_s) {
      if (interrupt.load()) break;
      pump();
    }
    if (active_count() == 0) {
      if (interrupt.load()) {
        MasterResult r = merge("interrupted", 0, 0, local_time_now());
        return r;
      }
      throw std::runtime_error("no worker connected to the master at " + endpoint + " within " +
                               fmt_s(opt.startup_timeout_s) + " s");
    }
    if (active_count() < opt.expected_workers) {
      say("warning: " + std::to_string(active_count()) + " of " +
          std::to_string(opt.expected_workers) + " expected workers connected within " +
          fmt_s(opt.startup_timeout_s) + " s; starting with them");
    }
    // 2. Ramp up, run, watch.
    const std::string started_at = local_time_now();
    running = dispatching = true;
    run_start = Clock::now();
    run_start_wall = LocustReport::wall_now();
    std::string reason;
    int step = 0;
    auto next_step = run_start;
    bool announced = false;
    while (reason.empty()) {
      const double t = seconds_since(run_start);
      if (target < opt.users && Clock::now() >= next_step) {
        const double due = std::ceil(opt.spawn_rate * (step + 1));
        target = static_cast<std::uint32_t>(std::min<double>(opt.users, std::max(1.0, due)));
        dispatch(false);
        ++step;
        next_step = run_start + std::chrono::seconds(step);
      }
      if (!announced && target >= opt.users) {
        announced = true;
        say("all " + std::to_string(opt.users) + " users spawned over " +
            std::to_string(active_count()) + " workers");
      }
      const auto sec = static_cast<std::size_t>(t);
      if (users_by_second.size() <= sec) users_by_second.resize(sec + 1, target);
      users_by_second[sec] = target;
      pump();
      if (interrupt.load()) {
        reason = "interrupted";
      } else if (opt.test_time_s > 0 && seconds_since(run_start) >= opt.test_time_s) {
        reason = "test_time";
      } else if (active_count() == 0) {
        reason = "no_workers";
      }
    }
    const double duration = seconds_since(run_start);
    dispatching = false;
    // 3. Stop: each worker ends its run and sends its last stats, then client_stopped.
    for (auto& p : peers) {
      if (p.active()) send(p.id, "stop", nullptr);
    }
    const auto stop_start = Clock::now();
    auto stopping = [this] {
      return std::any_of(peers.begin(), peers.end(), [](const Peer& p) { return p.active(); });
    };
    while (stopping() && seconds_since(stop_start) < opt.stop_timeout_s) pump();
    running = false;
    for (auto& p : peers) {
      if (p.active()) {
        const std::string text =
            "worker " + p.id + " did not stop within " + fmt_s(opt.stop_timeout_s) + " s";
        notes.push_back(text);
        say(text);
      }
    }
    // 4. Quit: Locust workers send their last stats now; every worker answers "quit".
    for (auto& p : peers) {
      if (p.state != Peer::kMissing && p.state != Peer::kGone) send(p.id, "quit", nullptr);
    }
    const auto quit_start = Clock::now();
    auto quitting = [this] {
      return std::any_of(peers.begin(), peers.end(),
                         [](const Peer& p) { return p.state != Peer::kMissing && !p.quit_seen; });
    };
    while (quitting() && seconds_since(quit_start) < kQuitWait) pump();
    return merge(reason, duration, seconds_since(run_start), started_at);
  }
};

Master::Master(MasterOptions options, std::function<void(const std::string&)> say)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(say))) {
  if (impl_->opt.classes.empty()) impl_->opt.classes.push_back("LoadDensityUser");
}

Master::~Master() {
  if (impl_->sock) impl_->sock->close();
}

void Master::bind() {
  Impl& m = *impl_;
  m.sock.emplace(m.ctx, zmq::socket_type::router);
  m.sock->set(zmq::sockopt::linger, 1000);
  // A worker that reconnects (after "reconnect", or a dropped connection) keeps its identity:
  // the new connection takes over from the old one.
  m.sock->set(zmq::sockopt::router_handover, 1);
  m.sock->set(zmq::sockopt::tcp_keepalive, 1);
  m.sock->set(zmq::sockopt::tcp_keepalive_idle, 30);
  m.sock->set(zmq::sockopt::heartbeat_ivl, 1000);
  m.sock->set(zmq::sockopt::heartbeat_timeout, 3000);
  const std::string host = m.opt.bind_host.empty() ? "*" : m.opt.bind_host;
  m.endpoint = host + ":" + std::to_string(m.opt.bind_port);
  try {
    m.sock->bind("tcp://" + m.endpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("the master cannot listen on " + m.endpoint + ": " + e.what());
  }
}

std::string Master::endpoint() const { return impl_->endpoint; }

MasterResult Master::run(const std::atomic<bool>& interrupt) { return impl_->run(interrupt); }

}  // namespace ld::distributed
