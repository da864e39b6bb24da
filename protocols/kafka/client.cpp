// The librdkafka side of kafka_user: configuration, the run's producer with its poll thread
// (delivery reports complete the producing user's OneShot from that thread), and the blocking
// consumer calls that run on the run's OffloadPool.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "core/log.hpp"
#include "kafka_impl.hpp"

namespace ld::proto::kafka {

namespace {

void log_line(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  // librdkafka's syslog levels: 0-3 errors, 4 warnings; connection failures to a broker that is
  // down are reported as failed operations, so the log stays at debug.
  if (!log::enabled(log::Level::kDebug)) return;
  std::string line = "[";
  line += fac;
  line += "] ";
  line += buf;
  log::debug(level <= 4 ? "kafka" : "kafka.debug", line);
}

// The delivery report: the opaque is the producing user's Completer (see session.cpp).
void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  auto* c = static_cast<engine::OneShot<int>::Completer*>(msg->_private);
  if (!c) return;
  c->complete(static_cast<int>(msg->err));
  delete c;
}

int ms_until(Nanos deadline) {
  const Nanos left = deadline - steady_now();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<Nanos>(left / kNanosPerMilli + 1, 1 << 30));
}

void set_error(Shared& s, rd_kafka_resp_err_t err) {
  s.err = static_cast<int>(err);
  s.error = rd_kafka_err2name(err);
  s.error += ": ";
  s.error += rd_kafka_err2str(err);
}

// A consumer for s.topic / s.group; nullptr with the error in `s` on failure.
std::unique_ptr<Consumer> open_consumer(Shared& s, const Cluster& cl, const Step& step,
                                        Outcome& outcome) {
  std::string error;
  // A consumer per user: librdkafka's prefetch defaults (up to 100,000 messages or 64 MiB per
  // consumer) would make each consuming user cost megabytes; `config` can raise them again.
  rd_kafka_conf_t* conf = make_conf(
      cl, error, {{"queued.min.messages", "1000"}, {"queued.max.messages.kbytes", "1024"}});
  char errstr[512];
  auto set = [&](const char* k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      error = errstr;
      return false;
    }
    return true;
  };
  outcome = Outcome::kKafkaError;
  s.err = static_cast<int>(RD_KAFKA_RESP_ERR__INVALID_ARG);
  if (!conf) {
    s.error = error;
    return nullptr;
  }
  if (!set("enable.auto.commit", "false") ||
      !set("auto.offset.reset", step.from_earliest ? "earliest" : "latest") ||
      // Without a group the partitions are assigned directly and nothing is committed, but
      // librdkafka still wants a group id (else every poll reports _UNKNOWN_GROUP).
      !set("group.id", step.has_group ? s.group : std::string("loaddensity"))) {
    rd_kafka_conf_destroy(conf);
    s.error = error;
    return nullptr;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    s.error = errstr;
    return nullptr;
  }
  auto c = std::make_unique<Consumer>();
  c->rk = rk;
  c->topic = s.topic;
  c->group = s.group;
  c->earliest = step.from_earliest;
  rd_kafka_poll_set_consumer(rk);
  if (step.has_group) {
    // A group: the coordinator assigns partitions (shared with the group's other members).
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, s.topic.c_str(), RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
      set_error(s, err);
      return nullptr;
    }
    return c;
  }
  // No group (as the original's consumer): every partition of the topic, assigned directly at
  // the latest (or earliest) offset. Waits for the topic to exist until the deadline.
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, s.topic.c_str(), nullptr);
  for (;;) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, std::max(1, ms_until(s.deadline)));
    if (!err && md->topic_cnt == 1) err = md->topics[0].err;
    if (!err) {
      const rd_kafka_metadata_topic_t& t = md->topics[0];
      rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(t.partition_cnt);
      for (int i = 0; i < t.partition_cnt; ++i) {
        rd_kafka_topic_partition_list_add(list, s.topic.c_str(), t.partitions[i].id)->offset =
            step.from_earliest ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
      }
      rd_kafka_metadata_destroy(md);
      err = rd_kafka_assign(rk, list);
      rd_kafka_topic_partition_list_destroy(list);
      rd_kafka_topic_destroy(rkt);
      if (err) {
        set_error(s, err);
        return nullptr;
      }
      return c;
    }
    if (md) rd_kafka_metadata_destroy(md);
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT || ms_until(s.deadline) == 0) {
      rd_kafka_topic_destroy(rkt);
      if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        outcome = Outcome::kTimeout;
      } else {
        set_error(s, err);
      }
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50, ms_until(s.deadline))));
  }
}

}  // namespace

Consumer::~Consumer() {
  if (!rk) return;
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

Shared::~Shared() {
  for (auto& c : consumers) {
    tasks.retire(c->rk);
    c->rk = nullptr;
  }
}

rd_kafka_conf_t* make_conf(const Cluster& c, std::string& error,
                           std::initializer_list<std::pair<const char*, const char*>> defaults) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, &log_line);
  char errstr[512];
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      error = k + ": " + errstr;
      return false;
    }
    return true;
  };
  bool ok = set("bootstrap.servers", c.bootstrap);
  for (const auto& [k, v] : defaults) ok = ok && set(k, v);
  for (const auto& [k, v] : c.config) ok = ok && set(k, v);
  if (ok) return conf;
  rd_kafka_conf_destroy(conf);
  return nullptr;
}

void start_producer(Cluster& c) {
  std::string error;
  rd_kafka_conf_t* conf = make_conf(c, error);
  if (!conf) throw std::runtime_error("kafka producer: " + error);
  char errstr[512];
  const bool timeout_set = std::any_of(c.config.begin(), c.config.end(), [](const auto& kv) {
    return kv.first == "message.timeout.ms" || kv.first == "delivery.timeout.ms";
  });
  if (!timeout_set) {
    // A message the brokers did not take is failed at the task's timeout, not retried for the
    // default five minutes (a broker that is down fails each produce, it does not hang).
    const std::string ms =
        std::to_string(std::max<Nanos>(1, c.max_produce_timeout / kNanosPerMilli));
    rd_kafka_conf_set(conf, "message.timeout.ms", ms.c_str(), errstr, sizeof errstr);
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &on_delivery);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka producer: ") + errstr);
  }
  c.producer = rk;
  c.stopping = false;
  c.poller = std::thread([&c] {
    while (!c.stopping.load(std::memory_order_acquire)) rd_kafka_poll(c.producer, 100);
  });
}

void stop_producer(Cluster& c) noexcept {
  if (!c.producer) return;
  c.stopping = true;
  if (c.poller.joinable()) c.poller.join();
  // Every user has ended: what is still queued is failed, and serving its delivery reports
  // frees each message's completer (the OneShots are gone, so the completions are dropped).
  rd_kafka_purge(c.producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(c.producer, 2000);
  rd_kafka_destroy(c.producer);
  c.producer = nullptr;
}

Outcome consume(Shared& s, const Cluster& cl, const Step& step) {
  Consumer* c = nullptr;
  for (auto& have : s.consumers) {
    if (have->topic == s.topic && have->group == s.group && have->earliest == step.from_earliest) {
      c = have.get();
      break;
    }
  }
  if (!c) {
    Outcome o = Outcome::kOk;
    std::unique_ptr<Consumer> fresh = open_consumer(s, cl, step, o);
    if (!fresh) return o;
    c = fresh.get();
    s.consumers.push_back(std::move(fresh));
  }
  s.err = 0;
  s.error.clear();
  for (;;) {
    const int left = ms_until(s.deadline);
    if (left == 0) return s.err ? Outcome::kKafkaError : Outcome::kTimeout;
    rd_kafka_message_t* m = rd_kafka_consumer_poll(c->rk, std::min(left, 100));
    if (!m) continue;
    if (m->err) {
      // Transient errors (a broker going away, a topic being created) are retried until the
      // deadline; the last one is reported then, instead of a plain timeout.
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) set_error(s, m->err);
      rd_kafka_message_destroy(m);
      continue;
    }
    s.value.assign(static_cast<const char*>(m->payload ? m->payload : ""), m->len);
    s.key.assign(static_cast<const char*>(m->key ? m->key : ""), m->key_len);
    rd_kafka_message_destroy(m);
    s.err = 0;
    return Outcome::kOk;
  }
}

Outcome flush(const Cluster& c, Shared& s) {
  const rd_kafka_resp_err_t err = rd_kafka_flush(c.producer, ms_until(s.deadline));
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Outcome::kOk;
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) return Outcome::kTimeout;
  set_error(s, err);
  return Outcome::kKafkaError;
}

void close_consumers(Shared& s) { s.consumers.clear(); }

}  // namespace ld::proto::kafka
