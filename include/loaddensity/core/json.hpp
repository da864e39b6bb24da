#pragma once
// The JSON value type of the public headers, declared without nlohmann's full header.
#include <nlohmann/json_fwd.hpp>

namespace ld {
using Json = nlohmann::json;
}  // namespace ld
