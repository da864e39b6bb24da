#pragma once
// The part every pushing exporter (InfluxDB, OTLP, StatsD) shares: its own thread that wakes
// every interval, folds the snapshots that arrived into a SeriesBook, lets the exporter turn
// them into payloads, and delivers them. A delivery that fails keeps its payloads (bounded)
// and is retried with a doubling backoff (one interval up to 30 s); the first failure of an
// outage is logged once as a warning, the recovery once at info level. Nothing here ever
// runs on a worker or makes the control thread wait.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "export/series.hpp"
#include "export/transport.hpp"

namespace ld::exporters {

// Payloads waiting for delivery, oldest first, at most `cap_bytes` (the oldest are dropped
// and counted when a long outage overflows it).
class Backlog {
 public:
  explicit Backlog(std::size_t cap_bytes = 16u << 20) : cap_(cap_bytes) {}
  void push(std::string payload);
  bool empty() const noexcept { return items_.empty(); }
  const std::string& front() const { return items_.front(); }
  void pop();
  void replace_front(std::string rest);  // part of the oldest was delivered
  std::size_t size() const noexcept { return items_.size(); }
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  std::size_t cap_;
  std::size_t bytes_ = 0;
  std::uint64_t dropped_ = 0;
  std::deque<std::string> items_;
};

// Logs an endpoint's outages once each: down() on every failed attempt, up() on every
// success. An outage ends after `recover_after` successes in a row: over UDP a closed port
// only shows on the send after the one it refused, so one success proves nothing there.
class EndpointHealth {
 public:
  EndpointHealth(std::string component, std::string endpoint, int recover_after = 1)
      : component_(std::move(component)),
        endpoint_(std::move(endpoint)),
        recover_after_(recover_after) {}
  void down(const std::string& why);
  void up();
  bool is_down() const noexcept { return down_; }

 private:
  std::string component_;
  std::string endpoint_;
  int recover_after_;
  bool down_ = false;
  int successes_ = 0;
  std::uint64_t failed_attempts_ = 0;
};

class Pusher {
 public:
  // `udp`: the endpoint is reached over UDP (see EndpointHealth).
  Pusher(stats::LiveFeed& feed, std::string component, std::string endpoint,
         std::chrono::milliseconds interval, bool udp);
  virtual ~Pusher();  // derived destructors call stop() first
  Pusher(const Pusher&) = delete;
  Pusher& operator=(const Pusher&) = delete;

  void start();
  // Collects and delivers once more (the final interval), then ends the thread. Idempotent.
  void stop();

 protected:
  // Exporter thread, every interval: turn the book into payloads (interval() is cleared
  // after this returns). `now_ns` is the wall clock (Unix ns).
  virtual void collect(const SeriesBook& book, std::int64_t now_ns) = 0;
  // Exporter thread: deliver what is pending; false with `why` set when the endpoint failed
  // (what was not delivered stays pending).
  virtual bool deliver(std::string& why) = 0;

  const std::string& component() const noexcept { return component_; }

 private:
  void loop();

  stats::LiveFeed& feed_;
  std::string component_;
  std::chrono::milliseconds interval_;
  EndpointHealth health_;
  SeriesBook book_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  std::unique_ptr<SnapshotInbox> inbox_;
};

std::int64_t unix_now_ns();

// Sends the backlog's lines in datagrams of at most `max_datagram` bytes, oldest first; on a
// failure keeps exactly what was not sent.
bool deliver_lines(UdpSender& udp, Backlog& backlog, std::size_t max_datagram, std::string& why);

}  // namespace ld::exporters
