#pragma once
// Server-Sent Events user template: sse_user.
#include <memory>

#include "engine/protocol.hpp"

namespace ld::proto::sse {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::sse
