// Registration of this folder's user types (called from the generated protocol list).
#include "sql/sql.hpp"

void ld_register_sql(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::sql::make_protocol());
}
