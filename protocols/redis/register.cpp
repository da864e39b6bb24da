// Registration of this folder's user types (called from the generated protocol list).
#include "redis/redis.hpp"

void ld_register_redis(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::redis::make_protocol());
}
