#pragma once
// MongoDB user template: mongo_user (libmongoc's blocking calls on the run's offload pool, one
// mongoc_client_pool_t per server URL and run).
#include <memory>

#include "loaddensity/protocol/protocol.hpp"

namespace ld::proto::mongo {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::mongo
