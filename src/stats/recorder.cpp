#include "stats/recorder.hpp"

#include "stats/record_log.hpp"

#include <cstring>
#include <functional>
#include <mutex>
#include <unordered_set>

namespace ld::stats {

const char* error_kind_name(ErrorKind k) noexcept {
  switch (k) {
    case ErrorKind::kNone: return "none";
    case ErrorKind::kRefused: return "refused";
    case ErrorKind::kConnect: return "connect";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kReset: return "reset";
    case ErrorKind::kTls: return "tls";
    case ErrorKind::kHttpStatus: return "http_status";
    case ErrorKind::kProtocol: return "protocol";
    case ErrorKind::kAssertion: return "assertion";
    case ErrorKind::kDropped: return "dropped";
    case ErrorKind::kAborted: return "aborted";
    case ErrorKind::kInvalidRequest: return "invalid_request";
    case ErrorKind::kRedisError: return "redis_error";
    case ErrorKind::kSqlError: return "sql_error";
    case ErrorKind::kGrpcStatus: return "grpc_status";
    case ErrorKind::kKafkaError: return "kafka_error";
    case ErrorKind::kMongoError: return "mongo_error";
    case ErrorKind::kAuth: return "auth";
    case ErrorKind::kUnreachable: return "unreachable";
    case ErrorKind::kOther:
    case ErrorKind::kCount_: break;
  }
  return "other";
}

void NameStats::merge(const NameStats& o) {
  requests += o.requests;
  failures += o.failures;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  retries += o.retries;
  messages_out += o.messages_out;
  messages_in += o.messages_in;
  ok_latency.merge(o.ok_latency);
  fail_latency.merge(o.fail_latency);
  service.merge(o.service);
  for (std::size_t i = 0; i < kErrorKindCount; ++i) by_kind[i] += o.by_kind[i];
}

void OpenModelStats::merge(const OpenModelStats& o) {
  planned += o.planned;
  started += o.started;
  queued += o.queued;
  dropped += o.dropped;
  blocked.merge(o.blocked);
}

void IntervalStats::merge(const IntervalStats& o) {
  requests += o.requests;
  failures += o.failures;
  bytes_in += o.bytes_in;
  latency.merge(o.latency);
}

void IntervalStats::reset() noexcept {
  requests = failures = bytes_in = 0;
  latency.reset();
  for (auto& n : names) {
    if (n.requests) n.reset();
  }
}

const char* const kErrorTextDropped =
    "error text not kept (more than 4096 distinct error texts in this process)";

const char* intern_error_text(std::string_view text) {
  if (text.size() > kMaxErrorTextLength) text = text.substr(0, kMaxErrorTextLength);
  static std::mutex mu;
  static std::unordered_set<std::string> store;  // node-based: c_str() pointers stay valid
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = store.find(std::string(text)); it != store.end()) return it->c_str();
  if (store.size() >= kMaxErrorTexts) return kErrorTextDropped;
  return store.emplace(text).first->c_str();
}

const char* WorkerStats::intern_text(std::string_view text) {
  if (text.size() > kMaxErrorTextLength) text = text.substr(0, kMaxErrorTextLength);
  if (auto it = texts_.find(text); it != texts_.end()) return it->second;
  const char* stored = intern_error_text(text);
  if (stored != kErrorTextDropped && texts_.size() < kMaxErrorTexts) {
    texts_.emplace(std::string_view(stored, text.size()), stored);
  }
  return stored;
}

std::size_t ErrorKeyHash::operator()(const ErrorKey& k) const noexcept {
  std::size_t h = std::hash<const void*>()(k.what);
  h ^= (static_cast<std::size_t>(k.name_id) << 20) ^ (static_cast<std::size_t>(k.kind) << 8) ^
       static_cast<std::size_t>(static_cast<unsigned>(k.code)) * 0x9E3779B97F4A7C15ull;
  return h;
}

std::string error_message(const ErrorKey& k) {
  std::string msg = k.what ? k.what : error_kind_name(k.kind);
  if (k.code_is_errno && k.code != 0) {
    msg += ": ";
    msg += std::strerror(k.code);
  } else if (k.code != 0) {
    msg += ' ';
    msg += std::to_string(k.code);
  }
  return msg;
}

void WorkerStats::record(const Record& r) {
  if (log_) log_->append(r);
  NameStats& n = names_[r.name_id];
  IntervalStats& iv = intervals_[active_];
  IntervalName& live = iv.names[r.name_id];
  const Nanos latency = r.latency();
  ++n.requests;
  ++iv.requests;
  ++live.requests;
  n.bytes_in += r.bytes_in;
  n.bytes_out += r.bytes_out;
  n.messages_out += r.messages_out;
  n.messages_in += r.messages_in;
  iv.bytes_in += r.bytes_in;
  live.bytes_in += r.bytes_in;
  live.bytes_out += r.bytes_out;
  iv.latency.record(latency);
  live.latency.record(latency);
  n.service.record(r.service());
  if (r.ok()) {
    n.ok_latency.record(latency);
    return;
  }
  ++n.failures;
  ++iv.failures;
  ++live.failures;
  ++live.by_kind[static_cast<std::size_t>(r.error.kind)];
  n.fail_latency.record(latency);
  ++n.by_kind[static_cast<std::size_t>(r.error.kind)];
  const ErrorKey key{r.name_id, r.error.kind, r.error.what, r.error.code, r.error.code_is_errno};
  if (auto it = errors_.find(key); it != errors_.end()) {
    ++it->second;
  } else if (errors_.size() < kMaxDistinctErrors) {
    errors_.emplace(key, 1);
  } else {
    ++errors_dropped_;
  }
}

}  // namespace ld::stats
