#pragma once
// The TLS fields every TLS-capable HTTP user reads the same way, whatever its TLS library:
// `verify` (true, false or a CA bundle path) and `cert` (one PEM path, or [cert, key]).
// Their types were checked when the task was compiled.
#include <string>

#include "loaddensity/core/json.hpp"

namespace ld::proto {

struct TlsFields {
  bool verify = true;
  std::string ca, cert, key;
};

inline TlsFields tls_fields(const Json& task) {
  TlsFields f;
  if (task.contains("verify")) {
    if (task["verify"].is_boolean()) {
      f.verify = task["verify"].get<bool>();
    } else {
      f.ca = task["verify"].get<std::string>();
    }
  }
  if (task.contains("cert")) {
    if (task["cert"].is_string()) {
      f.cert = f.key = task["cert"].get<std::string>();
    } else {
      f.cert = task["cert"][0].get<std::string>();
      f.key = task["cert"][1].get<std::string>();
    }
  }
  return f;
}

}  // namespace ld::proto
