#pragma once
// gRPC user template: grpc_user (unary and streaming calls over the HTTP/2 client, messages
// built at run time from a .proto or the server's reflection).
#include <memory>

#include "loaddensity/protocol/protocol.hpp"

namespace ld::proto::grpc {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::grpc
