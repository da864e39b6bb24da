#pragma once
// Private to protocols/kafka: the compiled form of kafka_user tasks and the per-run clients.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "checks/checks.hpp"
#include "loaddensity/protocol/completion.hpp"
#include "common/step_tasks.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::kafka {

constexpr double kDefaultTimeoutS = 5.0;
constexpr std::string_view kDefaultBootstrap = "localhost:9092";
// Threads of the run's OffloadPool, which runs the blocking calls (consume, flush, close). A
// consume holds a pool thread until a message arrives or its timeout passes, so this bounds how
// many users consume at the same moment; the wait for a free thread counts in the timeout.
constexpr unsigned kPoolThreads = 8;

enum class Method : std::uint8_t { kProduce, kConsume, kFlush, kClose };

// One set of brokers: bootstrap servers and librdkafka settings, fixed for the run. Tasks that
// name the same ones share it, and with it the run's producer.
struct Cluster {
  std::string bootstrap;
  std::vector<std::pair<std::string, std::string>> config;  // as given, in order
  bool produces = false;          // a produce or flush task uses it: start_run makes a producer
  Nanos max_produce_timeout = 0;  // message.timeout.ms (unless `config` sets it)

  // Per run (start_run .. end_run).
  rd_kafka_t* producer = nullptr;
  std::thread poller;  // serves the producer's delivery reports
  std::atomic<bool> stopping{false};
};

struct Header {
  std::string name;
  params::Template value;
};

struct Step {
  Method method = Method::kProduce;
  std::uint32_t name_id = 0;
  std::size_t cluster = 0;
  Nanos timeout = 0;
  params::Template topic, value, key, group, expect;
  bool has_value = false, has_key = false, has_group = false, has_expect = false;
  bool from_earliest = false;
  std::vector<Header> headers;
  std::string expect_message;              // "expect failed: value contains 'x'"
  std::unique_ptr<checks::Checks> checks;  // on a consumed message's value; null when none
};

// A consumer of one user, for one (topic, group, start offset); used by one pool job at a time.
struct Consumer {
  ~Consumer();
  rd_kafka_t* rk = nullptr;
  std::string topic, group;
  bool earliest = false;
};

class Tasks final : public proto::StepTasks<Step> {
 public:
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;
  void start_run(unsigned worker_threads) override;
  void end_run() noexcept override;

  // A consumer handle a user no longer needs: destroyed in end_run (rd_kafka_destroy blocks,
  // and a user's session ends on its worker thread).
  void retire(rd_kafka_t* rk);

  std::vector<std::unique_ptr<Cluster>> clusters;
  std::unique_ptr<engine::OffloadPool> pool;  // per run

 private:
  std::mutex retired_mu_;
  std::vector<rd_kafka_t*> retired_;  // guarded by retired_mu_
};

// A librdkafka configuration for `c` (bootstrap.servers, `defaults`, then `config`); nullptr
// with `error` set when librdkafka refuses a setting. The log goes to loaddensity's log at debug
// level.
rd_kafka_conf_t* make_conf(
    const Cluster& c, std::string& error,
    std::initializer_list<std::pair<const char*, const char*>> defaults = {});

// Creates the producer of `c` and its poll thread; throws std::runtime_error.
void start_producer(Cluster& c);
// Stops the poll thread, fails what is still queued (its delivery reports are served) and
// destroys the producer.
void stop_producer(Cluster& c) noexcept;

// What a pool job returns.
enum class Outcome : std::uint8_t { kOk, kTimeout, kKafkaError };

// What the pool thread and the worker share for one user: its consumers and the last message.
struct Shared {
  explicit Shared(Tasks& t) : tasks(t) {}
  ~Shared();  // hands the consumers to Tasks::retire
  Tasks& tasks;
  std::vector<std::unique_ptr<Consumer>> consumers;
  // In: the rendered topic and group of the consume, its deadline.
  std::string topic, group;
  Nanos deadline = 0;
  // Out: the message, or the error.
  std::string value, key;
  int err = 0;
  std::string error;  // librdkafka's text for `err`
};

// Pool jobs (they block).
Outcome consume(Shared& s, const Cluster& c, const Step& step);
Outcome flush(const Cluster& c, Shared& s);
void close_consumers(Shared& s);

}  // namespace ld::proto::kafka
