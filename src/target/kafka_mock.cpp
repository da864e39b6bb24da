#include "target/kafka_mock.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>

namespace ld::target {

KafkaMock::KafkaMock() {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The owning handle never connects anywhere; keep its log quiet.
  rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk_) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka mock cluster: ") + errstr);
  }
  cluster_ = rd_kafka_mock_cluster_new(rk_, 1);
  if (!cluster_) {
    rd_kafka_destroy(rk_);
    throw std::runtime_error("kafka mock cluster: cannot start");
  }
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

KafkaMock::~KafkaMock() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(rk_);
}

}  // namespace ld::target
