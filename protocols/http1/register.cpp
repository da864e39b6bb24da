// Registration of this folder's user types (called from the generated protocol list).
#include "http1/http1.hpp"

void ld_register_http1(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::http1::make_protocol());
}
