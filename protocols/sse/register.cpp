// Registration of this folder's user types (called from the generated protocol list).
#include "sse/sse.hpp"

void ld_register_sse(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::sse::make_protocol());
}
