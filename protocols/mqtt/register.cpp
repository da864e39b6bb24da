// Registration of this folder's user types (called from the generated protocol list).
#include "mqtt/mqtt.hpp"

void ld_register_mqtt(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::mqtt::make_protocol());
}
