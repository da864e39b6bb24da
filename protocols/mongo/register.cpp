// Registration of this folder's user types (called from the generated protocol list).
#include "mongo/mongo.hpp"

void ld_register_mongo(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::mongo::make_protocol());
}
