#pragma once
// A built-in fake-data generator for ${faker.METHOD}: no C++ faker package exists, so the common
// methods of Python's Faker are implemented over small embedded word lists. Deterministic for
// a given random stream (LD_set_faker_seed makes runs repeatable).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ld::params {
class UserScope;
}

namespace ld::params::faker {

// Method id for a name such as "email" (case-insensitive), or -1.
int method_id(std::string_view name);
const std::vector<std::string>& method_names();
// Appends a random (version 4) UUID.
void uuid4(std::string& out, UserScope& scope);
// Appends the fake value to `out`, drawing randomness from the user's stream.
void generate(int method, std::string& out, UserScope& scope);

}  // namespace ld::params::faker
