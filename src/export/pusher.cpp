#include "export/pusher.hpp"

#include <pthread.h>

#include <algorithm>

#include "core/log.hpp"

namespace ld::exporters {

void Backlog::push(std::string payload) {
  if (payload.empty()) return;
  bytes_ += payload.size();
  items_.push_back(std::move(payload));
  while (bytes_ > cap_ && items_.size() > 1) {
    bytes_ -= items_.front().size();
    items_.pop_front();
    ++dropped_;
  }
}

void Backlog::replace_front(std::string rest) {
  bytes_ -= items_.front().size();
  bytes_ += rest.size();
  items_.front() = std::move(rest);
}

void Backlog::pop() {
  bytes_ -= items_.front().size();
  items_.pop_front();
}

void EndpointHealth::down(const std::string& why) {
  ++failed_attempts_;
  successes_ = 0;
  if (down_) return;
  down_ = true;
  log::warn(component_, endpoint_ + " unreachable: " + why +
                            " (reported once; retrying with backoff, the test goes on)");
}

void EndpointHealth::up() {
  if (!down_ || ++successes_ < recover_after_) return;
  down_ = false;
  log::info(component_, endpoint_ + " reachable again after " + std::to_string(failed_attempts_) +
                            " failed attempt(s)");
  failed_attempts_ = 0;
}

std::int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool deliver_lines(UdpSender& udp, Backlog& backlog, std::size_t max_datagram, std::string& why) {
  while (!backlog.empty()) {
    const auto datagrams = pack_lines(backlog.front(), max_datagram);
    for (std::size_t i = 0; i < datagrams.size(); ++i) {
      if (udp.send(datagrams[i], why)) continue;
      std::string rest;
      for (std::size_t j = i; j < datagrams.size(); ++j) rest += datagrams[j] + '\n';
      backlog.replace_front(std::move(rest));
      return false;
    }
    backlog.pop();
  }
  return true;
}

Pusher::Pusher(stats::LiveFeed& feed, std::string component, std::string endpoint,
               std::chrono::milliseconds interval, bool udp)
    : feed_(feed),
      component_(component),
      interval_(std::max(interval, std::chrono::milliseconds(1))),
      health_(std::move(component), std::move(endpoint), udp ? 3 : 1) {}

Pusher::~Pusher() = default;

void Pusher::start() {
  inbox_ = std::make_unique<SnapshotInbox>(feed_);
  thread_ = std::thread([this] { loop(); });
  log::info(component_, "started");
}

void Pusher::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  inbox_.reset();
  log::info(component_, "stopped");
}

void Pusher::loop() {
  // "ld-influxdb", "ld-otlp", "ld-statsd": visible in top -H and /proc/PID/task/*/comm.
  const std::string thread_name = "ld-" + component_.substr(component_.find('.') + 1);
  pthread_setname_np(pthread_self(), thread_name.substr(0, 15).c_str());
  using clock = std::chrono::steady_clock;
  constexpr auto kMaxBackoff = std::chrono::milliseconds(30000);
  auto next = clock::now() + interval_;
  auto retry_at = clock::now();
  auto backoff = interval_;
  for (;;) {
    bool last = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_until(lock, next, [&] { return stopping_; });
      last = stopping_;
    }
    inbox_->drain_into(book_);
    collect(book_, unix_now_ns());
    book_.clear_interval();
    const auto now = clock::now();
    if (last || now >= retry_at) {
      std::string why;
      if (deliver(why)) {
        health_.up();
        backoff = interval_;
      } else {
        health_.down(why);
        retry_at = now + backoff;
        backoff = std::min(backoff * 2, std::max(kMaxBackoff, interval_));
      }
    }
    if (last) break;
    next += interval_;
    if (next < now) next = now + interval_;  // the machine stalled: do not catch up in a burst
  }
}

}  // namespace ld::exporters
