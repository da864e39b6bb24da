#pragma once
// The embedded target's Kafka broker: librdkafka's mock cluster (one broker on 127.0.0.1, a
// real port, topics created on first use), on librdkafka's own threads.
#include <string>

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace ld::target {

class KafkaMock {
 public:
  KafkaMock();  // starts the cluster; throws std::runtime_error
  ~KafkaMock();
  KafkaMock(const KafkaMock&) = delete;
  KafkaMock& operator=(const KafkaMock&) = delete;
  const std::string& bootstrap() const noexcept { return bootstrap_; }  // "127.0.0.1:PORT"

 private:
  rd_kafka_t* rk_ = nullptr;  // the handle the cluster belongs to
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_;
};

}  // namespace ld::target
