#pragma once
// MQTT user template: mqtt_user (MQTT 3.1.1 and 5, a client of its own on the worker).
#include <memory>

#include "loaddensity/protocol/protocol.hpp"

namespace ld::proto::mqtt {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::mqtt
