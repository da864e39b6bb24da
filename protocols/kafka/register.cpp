// Registration of this folder's user types (called from the generated protocol list).
#include "kafka/kafka.hpp"

void ld_register_kafka(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::kafka::make_protocol());
}
