#pragma once
// HTTP/1.1 user templates: fast_http_user and http_user (one lean client behind both).
#include <memory>

#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::http1 {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::http1
