// Registration of this folder's user types (called from the generated protocol list).
#include "grpc/grpc.hpp"

void ld_register_grpc(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::grpc::make_protocol());
}
