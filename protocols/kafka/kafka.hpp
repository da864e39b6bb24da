#pragma once
// Kafka user template: kafka_user (librdkafka's C API; one producer per run, consumers per user).
#include <memory>

#include "loaddensity/protocol/protocol.hpp"

namespace ld::proto::kafka {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::kafka
