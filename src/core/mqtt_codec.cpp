// The MQTT packet codec shared by mqtt_user and the embedded broker (see mqtt_codec.hpp).
#include "core/mqtt_codec.hpp"

namespace ld::mqtt {

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}

void put_str(std::string& out, std::string_view s) {
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

void put_varint(std::string& out, std::size_t v) {
  do {
    std::uint8_t b = v & 0x7F;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (v);
}

std::size_t varint_size(std::size_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void put_header(std::string& out, std::uint8_t first, std::size_t body_size) {
  out.push_back(static_cast<char>(first));
  put_varint(out, body_size);
}

int property_size(std::uint32_t id) noexcept {
  switch (id) {
    case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A:
      return 1;
    case 0x13: case 0x21: case 0x22: case 0x23:
      return 2;
    case 0x02: case 0x11: case 0x18: case 0x27:
      return 4;
    case 0x0B: case 0x03: case 0x08: case 0x12: case 0x15: case 0x1A: case 0x1C: case 0x1F:
    case 0x09: case 0x16: case 0x26:
      return 0;
    default:
      return -1;
  }
}

Frame scan_packet(std::string_view in, std::size_t max_body, Packet& p) noexcept {
  if (in.size() < 2) return Frame::kIncomplete;
  std::size_t length = 0;
  for (std::size_t i = 1; i <= 4; ++i) {
    if (i >= in.size()) return Frame::kIncomplete;
    const auto b = static_cast<std::uint8_t>(in[i]);
    length |= static_cast<std::size_t>(b & 0x7F) << (7 * (i - 1));
    if (!(b & 0x80)) {
      if (length > max_body) return Frame::kTooLarge;
      p.first = static_cast<std::uint8_t>(in[0]);
      p.header = i + 1;
      p.length = length;
      return in.size() - p.header < length ? Frame::kIncomplete : Frame::kComplete;
    }
  }
  return Frame::kMalformed;  // a fifth length byte
}

// ----- client packets --------------------------------------------------------------------

void append_connect(std::string& out, const Connect& c) {
  const bool v5 = c.version == 5;
  std::size_t body = 2 + c.protocol.size() + 1 + 1 + 2 + 2 + c.client_id.size();
  if (v5) body += varint_size(c.properties.size()) + c.properties.size();
  if (c.will) {
    if (v5) body += varint_size(c.will_properties.size()) + c.will_properties.size();
    body += 2 + c.will_topic.size() + 2 + c.will_payload.size();
  }
  if (c.has_username) body += 2 + c.username.size();
  if (c.has_password) body += 2 + c.password.size();
  std::uint8_t flags = c.clean ? 0x02 : 0;
  if (c.will) flags |= 0x04 | (c.will_qos << 3) | (c.will_retain ? 0x20 : 0);
  if (c.has_username) flags |= 0x80;
  if (c.has_password) flags |= 0x40;
  put_header(out, kConnect << 4, body);
  put_str(out, c.protocol);
  out.push_back(static_cast<char>(c.version));
  out.push_back(static_cast<char>(flags));
  put_u16(out, c.keepalive);
  if (v5) {
    put_varint(out, c.properties.size());
    out.append(c.properties);
  }
  put_str(out, c.client_id);
  if (c.will) {
    if (v5) {
      put_varint(out, c.will_properties.size());
      out.append(c.will_properties);
    }
    put_str(out, c.will_topic);
    put_str(out, c.will_payload);
  }
  if (c.has_username) put_str(out, c.username);
  if (c.has_password) put_str(out, c.password);
}

ConnectParse decode_connect(std::string_view body, Connect& c) {
  Reader r{body};
  c.protocol = r.str();
  c.version = r.u8();
  if (r.bad) return ConnectParse::kMalformed;
  if (!((c.protocol == "MQTT" && (c.version == 4 || c.version == 5)) ||
        (c.protocol == "MQIsdp" && c.version == 3))) {
    return ConnectParse::kBadProtocol;
  }
  const bool v5 = c.version == 5;
  const std::uint8_t flags = r.u8();
  c.keepalive = r.u16();
  c.properties = v5 ? r.bytes(r.varint()) : std::string_view{};
  c.client_id = r.str();
  c.clean = flags & 0x02;
  c.will = flags & 0x04;
  if (c.will) {
    c.will_properties = v5 ? r.bytes(r.varint()) : std::string_view{};
    c.will_topic = r.str();
    c.will_payload = r.str();
    c.will_qos = static_cast<std::uint8_t>((flags >> 3) & 3);
    c.will_retain = flags & 0x20;
  }
  c.has_username = flags & 0x80;
  c.has_password = flags & 0x40;
  if (c.has_username) c.username = r.str();
  if (c.has_password) c.password = r.str();
  return r.bad ? ConnectParse::kMalformed : ConnectParse::kOk;
}

void append_publish(std::string& out, const Publish& p, bool v5) {
  std::size_t body = 2 + p.topic.size() + (p.qos ? 2 : 0) + p.payload.size();
  if (v5) body += varint_size(p.properties.size()) + p.properties.size();
  put_header(out,
             static_cast<std::uint8_t>(kPublish << 4 | (p.dup ? 0x08 : 0) | p.qos << 1 |
                                       (p.retain ? 1 : 0)),
             body);
  put_str(out, p.topic);
  if (p.qos) put_u16(out, p.id);
  if (v5) {
    put_varint(out, p.properties.size());
    out.append(p.properties);
  }
  out.append(p.payload);
}

bool decode_publish(std::uint8_t flags, std::string_view body, bool v5, Publish& p) {
  p.qos = static_cast<std::uint8_t>((flags >> 1) & 3);
  p.retain = flags & 1;
  p.dup = flags & 0x08;
  if (p.qos > 2) return false;
  Reader r{body};
  p.topic = r.str();
  p.id = p.qos ? r.u16() : 0;
  p.properties = v5 ? r.bytes(r.varint()) : std::string_view{};
  p.payload = r.s;
  return !r.bad;
}

void append_subscribe(std::string& out, std::uint16_t id, std::string_view filter,
                      std::uint8_t options, bool v5) {
  put_header(out, kSubscribe << 4 | 0x02, 2 + (v5 ? 1 : 0) + 2 + filter.size() + 1);
  put_u16(out, id);
  if (v5) out.push_back('\0');
  put_str(out, filter);
  out.push_back(static_cast<char>(options));
}

void append_unsubscribe(std::string& out, std::uint16_t id, std::string_view filter, bool v5) {
  put_header(out, kUnsubscribe << 4 | 0x02, 2 + (v5 ? 1 : 0) + 2 + filter.size());
  put_u16(out, id);
  if (v5) out.push_back('\0');
  put_str(out, filter);
}

bool decode_subscribe(std::string_view body, bool v5, Subscribe& s) {
  Reader r{body};
  s.id = r.u16();
  if (v5) r.bytes(r.varint());
  s.entries = r.s;
  return !r.bad;
}

bool next_filter(Reader& entries, bool with_options, std::string_view& filter,
                 std::uint8_t& options) {
  if (entries.s.empty() || entries.bad) return false;
  filter = entries.str();
  options = with_options ? entries.u8() : 0;
  return !entries.bad;
}

void append_pingreq(std::string& out) { out.append({static_cast<char>(kPingreq << 4), '\0'}); }

void append_disconnect(std::string& out, bool v5, std::uint8_t reason) {
  if (v5 && reason != 0) {
    out.append({static_cast<char>(kDisconnect << 4), '\x02', static_cast<char>(reason), '\0'});
  } else {
    out.append({static_cast<char>(kDisconnect << 4), '\0'});
  }
}

// ----- broker packets --------------------------------------------------------------------

void append_connack(std::string& out, const Connack& c, bool v5) {
  const std::size_t props = c.properties.size();
  put_header(out, kConnack << 4, 2 + (v5 ? varint_size(props) + props : 0));
  out.push_back(c.session_present ? '\1' : '\0');
  out.push_back(static_cast<char>(c.code));
  if (v5) {
    put_varint(out, props);
    out.append(c.properties);
  }
}

bool decode_connack(std::string_view body, bool v5, Connack& c) {
  Reader r{body};
  c.session_present = r.u8() & 1;
  c.code = r.u8();
  // A refusal of the version may come in 3.1.1's form (no properties).
  c.properties = v5 && !r.bad && !r.s.empty() ? r.bytes(r.varint()) : std::string_view{};
  return !r.bad;
}

void append_ack(std::string& out, std::uint8_t type, std::uint16_t id) {
  put_header(out, static_cast<std::uint8_t>(type << 4 | (type == kPubrel ? 0x02 : 0)), 2);
  put_u16(out, id);
}

bool decode_ack(std::string_view body, bool v5, Ack& a) {
  Reader r{body};
  a.id = r.u16();
  a.reason = v5 && !r.bad && !r.s.empty() ? r.u8() : 0;
  return !r.bad;
}

void append_suback(std::string& out, std::uint8_t type, std::uint16_t id, std::string_view codes,
                   bool v5) {
  const bool with_codes = type == kSuback || v5;
  put_header(out, static_cast<std::uint8_t>(type << 4),
             2 + (v5 ? 1 : 0) + (with_codes ? codes.size() : 0));
  put_u16(out, id);
  if (v5) out.push_back('\0');
  if (with_codes) out.append(codes);
}

bool decode_suback(std::string_view body, std::uint8_t type, bool v5, SubAck& a) {
  Reader r{body};
  a.id = r.u16();
  if (v5 && !r.bad && !r.s.empty()) r.bytes(r.varint());
  a.codes = r.s;
  return !r.bad && (type != kSuback || !a.codes.empty());
}

void append_pingresp(std::string& out) { out.append({static_cast<char>(kPingresp << 4), '\0'}); }

// ----- reason codes ----------------------------------------------------------------------

const char* reason_name(std::uint8_t code) noexcept {
  switch (code) {
    case 0x00: return "Success";
    case 0x01: return "Granted QoS 1";
    case 0x02: return "Granted QoS 2";
    case 0x04: return "Disconnect with Will Message";
    case 0x10: return "No matching subscribers";
    case 0x11: return "No subscription found";
    case 0x18: return "Continue authentication";
    case 0x19: return "Re-authenticate";
    case 0x80: return "Unspecified error";
    case 0x81: return "Malformed Packet";
    case 0x82: return "Protocol error";
    case 0x83: return "Implementation specific error";
    case 0x84: return "Unsupported Protocol Version";
    case 0x85: return "Client Identifier not valid";
    case 0x86: return "Bad User Name or Password";
    case 0x87: return "Not authorized";
    case 0x88: return "Server unavailable";
    case 0x89: return "Server busy";
    case 0x8A: return "Banned";
    case 0x8B: return "Server shutting down";
    case 0x8C: return "Bad authentication method";
    case 0x8D: return "Keep Alive timeout";
    case 0x8E: return "Session taken over";
    case 0x8F: return "Topic filter invalid";
    case 0x90: return "Topic name invalid";
    case 0x91: return "Packet Identifier in use";
    case 0x92: return "Packet Identifier not found";
    case 0x93: return "Receive Maximum exceeded";
    case 0x94: return "Topic Alias invalid";
    case 0x95: return "Packet too large";
    case 0x96: return "Message rate too high";
    case 0x97: return "Quota exceeded";
    case 0x98: return "Administrative action";
    case 0x99: return "Payload format invalid";
    case 0x9A: return "Retain not supported";
    case 0x9B: return "QoS not supported";
    case 0x9C: return "Use another server";
    case 0x9D: return "Server moved";
    case 0x9E: return "Shared subscriptions not supported";
    case 0x9F: return "Connection rate exceeded";
    case 0xA0: return "Maximum connect time";
    case 0xA1: return "Subscription Identifiers not supported";
    case 0xA2: return "Wildcard Subscriptions not supported";
    default: return "Unknown reason code";
  }
}

const char* connack_name(std::uint8_t code) noexcept {
  switch (code) {
    case 1: return "unacceptable protocol version";
    case 2: return "identifier rejected";
    case 3: return "server unavailable";
    case 4: return "bad user name or password";
    case 5: return "not authorized";
    default: return nullptr;
  }
}

}  // namespace ld::mqtt
