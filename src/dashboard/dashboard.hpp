#pragma once
// The live dashboard: one HTTP server on its own thread (Boost.Beast, src/dashboard/dashboard.cpp)
// that serves a self-contained page and streams each live snapshot to it as Server-Sent Events.
//   GET / or /index.html  the page (inline CSS and JS, charts drawn on canvas; no other fetch)
//   GET /snapshot         the latest update as JSON (404 before the first interval)
//   GET /events           text/event-stream: `event: history` with the run's chart points so
//                         far, then one `data:` update per interval (the final one flagged)
// The control thread only hands the published snapshot to the server's thread (one post per
// interval): formatting and writing happen there. Each SSE client has a bounded queue of
// updates; a client whose queue is full (it stopped reading) is disconnected.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ld::stats {
class LiveFeed;
}

namespace ld::dashboard {

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8765;     // 0 = a free port
  double refresh_s = 1.0;        // at most one update per refresh_s of run time (the final: always)
  double window_s = 10.0;        // "requests/s" = the last window_s seconds of intervals
  std::size_t max_clients = 64;  // open connections; more are answered 503
  std::size_t client_queue = 16;  // updates waiting for one SSE client before it is dropped
};

class Dashboard {
 public:
  // Binds and starts serving, and observes `feed` (which must outlive the dashboard). Throws
  // std::runtime_error when the address cannot be bound.
  Dashboard(stats::LiveFeed& feed, Options options);
  ~Dashboard();  // stop()
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  std::string url() const;  // http://host:port/
  std::uint16_t port() const noexcept;
  // Leaves the feed, closes every connection and joins the server thread. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The page (HTML with its CSS and script inline).
const std::string& page_html();

}  // namespace ld::dashboard
