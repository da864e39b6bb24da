#pragma once
// MQTT 3.1, 3.1.1 and 5 packets: the one codec of the mqtt_user client (protocols/mqtt) and the
// embedded target's broker (src/target/mqtt_broker.*).
//
// Decoding never allocates and never copies: scan_packet() frames one packet in the bytes
// received so far, and the decode_* functions fill structs of views into the packet's body.
// Encoding appends a whole packet (fixed header, variable header, payload) to the caller's
// buffer: the body's length is computed first, so nothing is built twice.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ld::mqtt {

enum PacketType : std::uint8_t {
  kConnect = 1, kConnack, kPublish, kPuback, kPubrec, kPubrel, kPubcomp, kSubscribe, kSuback,
  kUnsubscribe, kUnsuback, kPingreq, kPingresp, kDisconnect,
};

// A bounds-checked reader over one packet's body; any overrun sets `bad`.
struct Reader {
  std::string_view s;
  bool bad = false;

  bool need(std::size_t n) {
    if (s.size() < n) bad = true;
    return !bad;
  }
  std::uint8_t u8() {
    if (!need(1)) return 0;
    const auto v = static_cast<std::uint8_t>(s[0]);
    s.remove_prefix(1);
    return v;
  }
  std::uint16_t u16() {
    if (!need(2)) return 0;
    const auto v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(s[0]) << 8) |
                                              static_cast<std::uint8_t>(s[1]));
    s.remove_prefix(2);
    return v;
  }
  std::uint32_t u32() {
    const std::uint32_t hi = u16();
    return (hi << 16) | u16();
  }
  std::string_view bytes(std::size_t n) {
    if (!need(n)) return {};
    const std::string_view v = s.substr(0, n);
    s.remove_prefix(n);
    return v;
  }
  std::string_view str() { return bytes(u16()); }  // UTF-8 string or binary data
  std::uint32_t varint() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const std::uint8_t b = u8();
      if (bad) return 0;
      v |= static_cast<std::uint32_t>(b & 0x7F) << (7 * i);
      if (!(b & 0x80)) return v;
    }
    bad = true;
    return 0;
  }
};

void put_u16(std::string& out, std::uint16_t v);
void put_str(std::string& out, std::string_view s);
void put_varint(std::string& out, std::size_t v);
std::size_t varint_size(std::size_t v) noexcept;
// The fixed header: the first byte and the remaining length.
void put_header(std::string& out, std::uint8_t first, std::size_t body_size);

// MQTT 5 properties: the byte size of a property's value by identifier (0 = variable: a
// varint, a string, binary data or a string pair); -1 for an unknown identifier.
int property_size(std::uint32_t id) noexcept;

// Walks a property block; calls `each(id, whole_property_bytes, value_reader)`. False when
// malformed.
template <class Each>
bool walk_properties(std::string_view block, Each each) {
  Reader r{block};
  while (!r.s.empty() && !r.bad) {
    const char* begin = r.s.data();
    const std::uint32_t id = r.varint();
    const int size = property_size(id);
    if (r.bad || size < 0) return false;
    const std::string_view value_start = r.s;
    if (size > 0) {
      r.bytes(static_cast<std::size_t>(size));
    } else if (id == 0x0B) {
      r.varint();
    } else if (id == 0x26) {
      r.str();
      r.str();
    } else {
      r.str();
    }
    if (r.bad) return false;
    const std::string_view whole(begin, static_cast<std::size_t>(r.s.data() - begin));
    each(id, whole,
         Reader{value_start.substr(0, static_cast<std::size_t>(r.s.data() - value_start.data()))});
  }
  return !r.bad;
}

// ----- framing ---------------------------------------------------------------------------

enum class Frame : std::uint8_t { kComplete, kIncomplete, kMalformed, kTooLarge };

// One packet at the start of `in`: kComplete with its first byte, the fixed header's size and
// the body's; kIncomplete when more bytes are needed; kMalformed on a fifth length byte;
// kTooLarge when the body would exceed `max_body`.
struct Packet {
  std::uint8_t first = 0;
  std::size_t header = 0;  // fixed header bytes
  std::size_t length = 0;  // body bytes
  std::uint8_t type() const noexcept { return first >> 4; }
  std::uint8_t flags() const noexcept { return first & 0x0F; }
  std::size_t size() const noexcept { return header + length; }
};
Frame scan_packet(std::string_view in, std::size_t max_body, Packet& p) noexcept;

// ----- the client's packets (encoded by mqtt_user, decoded by the broker) -----------------

struct Connect {
  std::string_view protocol = "MQTT";  // "MQIsdp" for 3.1
  std::uint8_t version = 4;            // 3 = 3.1, 4 = 3.1.1, 5 = 5.0
  bool clean = true;
  std::uint16_t keepalive = 60;
  std::string_view properties;  // MQTT 5 CONNECT properties (the block, without its length)
  std::string_view client_id;
  bool will = false;
  std::uint8_t will_qos = 0;
  bool will_retain = false;
  std::string_view will_properties, will_topic, will_payload;
  bool has_username = false, has_password = false;
  std::string_view username, password;
};
void append_connect(std::string& out, const Connect& c);
enum class ConnectParse : std::uint8_t { kOk, kMalformed, kBadProtocol };
// kBadProtocol: the protocol name and level were read but are not MQTT 3.1, 3.1.1 or 5
// (`c.version` holds the level asked for, so the refusal can be sent in its version).
ConnectParse decode_connect(std::string_view body, Connect& c);

struct Publish {
  std::string_view topic;  // MQTT 5: empty when a topic alias stands for it
  std::uint16_t id = 0;    // QoS 1 and 2
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  std::string_view properties;  // MQTT 5 (the block, without its length)
  std::string_view payload;
};
// Both directions. v5: with the property block.
void append_publish(std::string& out, const Publish& p, bool v5);
// False when malformed (a QoS of 3, a short body, a bad property length).
bool decode_publish(std::uint8_t flags, std::string_view body, bool v5, Publish& p);

// SUBSCRIBE with one filter; `options` is the QoS (and MQTT 5's subscription option bits).
void append_subscribe(std::string& out, std::uint16_t id, std::string_view filter,
                      std::uint8_t options, bool v5);
void append_unsubscribe(std::string& out, std::uint16_t id, std::string_view filter, bool v5);
// SUBSCRIBE / UNSUBSCRIBE: the packet id and the entries (filter + options byte for SUBSCRIBE,
// filter only for UNSUBSCRIBE), read one at a time with next_filter.
struct Subscribe {
  std::uint16_t id = 0;
  std::string_view entries;
};
bool decode_subscribe(std::string_view body, bool v5, Subscribe& s);
// The next entry of `entries` (consumed); false at the end or when malformed (`r.bad`).
bool next_filter(Reader& entries, bool with_options, std::string_view& filter,
                 std::uint8_t& options);

void append_pingreq(std::string& out);
// DISCONNECT; MQTT 5 with a reason code (0 = normal, sent as an empty body).
void append_disconnect(std::string& out, bool v5, std::uint8_t reason = 0);

// ----- the broker's packets (encoded by the broker, decoded by mqtt_user) -----------------

struct Connack {
  bool session_present = false;
  std::uint8_t code = 0;  // 3.1.1 return code or MQTT 5 reason code
  std::string_view properties;  // MQTT 5
};
void append_connack(std::string& out, const Connack& c, bool v5);
bool decode_connack(std::string_view body, bool v5, Connack& c);

// PUBACK, PUBREC, PUBREL, PUBCOMP: the packet id (MQTT 5: and a reason code, omitted when 0).
struct Ack {
  std::uint16_t id = 0;
  std::uint8_t reason = 0;
};
void append_ack(std::string& out, std::uint8_t type, std::uint16_t id);
bool decode_ack(std::string_view body, bool v5, Ack& a);

// SUBACK (a code per filter) and UNSUBACK (MQTT 5: a code per filter; 3.1.1: none).
struct SubAck {
  std::uint16_t id = 0;
  std::string_view codes;
};
void append_suback(std::string& out, std::uint8_t type, std::uint16_t id, std::string_view codes,
                   bool v5);
bool decode_suback(std::string_view body, std::uint8_t type, bool v5, SubAck& a);

void append_pingresp(std::string& out);

// ----- reason codes ----------------------------------------------------------------------

// The name of an MQTT 5 reason code ("Not authorized"); "Unknown reason code" otherwise.
const char* reason_name(std::uint8_t code) noexcept;
// The text of a refused MQTT 3.1.1 CONNACK return code 1-5 ("bad user name or password");
// nullptr otherwise.
const char* connack_name(std::uint8_t code) noexcept;

}  // namespace ld::mqtt
