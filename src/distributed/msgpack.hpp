#pragma once
// MessagePack for Locust's RPC messages: a message is the array [type, data, node_id].
//
// nlohmann's to_msgpack/from_msgpack cannot be used as they are: they write every map key as
// a string and refuse a map whose keys are not strings, while Locust's stats entries key
// `response_times`, `num_reqs_per_sec` and `num_fail_per_sec` by integers (Python's msgpack
// writes them as ints and the master sorts and sums them as ints). This codec maps between
// msgpack and nlohmann::json with that one difference: integer keys decode to their decimal
// text, and the keys of maps named in kIntKeyMaps encode back as integers.
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/json_util.hpp"

namespace ld::distributed {

class MsgpackError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Encodes `v`; objects stored under a key in kIntKeyMaps get integer keys (keys that are not
// decimal integers stay strings).
std::string msgpack_encode(const Json& v);
// Decodes one msgpack value that must fill `bytes`. Non-string keys become their text
// (integers in decimal, nil as "None", booleans as "True"/"False", as Python would print them).
Json msgpack_decode(std::string_view bytes);

// A Locust RPC message.
struct Message {
  std::string type;
  Json data;  // null, a string, a number or an object
  std::string node_id;
};
std::string encode_message(const Message& m);
// Throws MsgpackError when `bytes` is not a 3-element array with string type and node id.
Message decode_message(std::string_view bytes);

}  // namespace ld::distributed
