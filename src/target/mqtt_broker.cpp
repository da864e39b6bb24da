// The embedded target's MQTT broker (see mqtt_broker.hpp for what it does and does not keep).
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include "target/mqtt_broker.hpp"

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "loaddensity/core/clock.hpp"
#include "target/listener.hpp"

namespace ld::target {

namespace net = boost::asio;
using boost::system::error_code;
using tcp = net::ip::tcp;

bool mqtt_topic_matches(std::string_view filter, std::string_view topic) noexcept {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  std::size_t f = 0, t = 0;
  for (;;) {
    const std::size_t fe = std::min(filter.find('/', f), filter.size());
    const std::string_view flevel = filter.substr(f, fe - f);
    if (flevel == "#") return true;  // the rest, including the parent level
    const bool topic_done = t > topic.size();
    if (topic_done) return false;
    const std::size_t te = std::min(topic.find('/', t), topic.size());
    if (flevel != "+" && flevel != topic.substr(t, te - t)) return false;
    const bool filter_last = fe == filter.size();
    const bool topic_last = te == topic.size();
    if (filter_last || topic_last) {
      if (filter_last && topic_last) return true;
      // "a/#" matches "a": the filter's next (last) level is "#".
      return topic_last && filter.substr(fe + 1) == "#";
    }
    f = fe + 1;
    t = te + 1;
  }
}

bool mqtt_valid_filter(std::string_view filter) noexcept {
  if (filter.empty()) return false;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = std::min(filter.find('/', start), filter.size());
    const std::string_view level = filter.substr(start, end - start);
    if (level.find_first_of("+#") != std::string_view::npos && level.size() != 1) return false;
    if (level == "#" && end != filter.size()) return false;
    if (end == filter.size()) return true;
    start = end + 1;
  }
}

namespace {

enum : std::uint8_t {
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

// MQTT 5 properties: the byte size of a property's value by identifier (0 = variable: a
// varint, a string, binary data or a string pair); -1 for an unknown identifier.
int property_size(std::uint32_t id) {
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
    std::string_view value_start = r.s;
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
    each(id, whole, Reader{value_start.substr(0, static_cast<std::size_t>(r.s.data() - value_start.data()))});
  }
  return !r.bad;
}

// A message as routed and as kept when retained.
struct Message {
  std::string payload;
  std::string properties;  // MQTT 5 properties to forward
  std::uint8_t qos = 0;
};

}  // namespace

struct MqttBroker::Impl {
  struct Subscription {
    std::string filter;
    std::uint8_t qos = 0;
    bool no_local = false;
  };

  struct Session : std::enable_shared_from_this<Session> {
    explicit Session(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    std::string client_id;
    std::uint8_t version = 4;  // 3 = 3.1, 4 = 3.1.1, 5 = 5.0
    bool connected = false;
    bool closed = false;
    bool clean_disconnect = false;
    std::vector<Subscription> subscriptions;
    std::unordered_set<std::uint16_t> qos2_pending;  // inbound QoS 2 ids awaiting PUBREL
    std::unordered_map<std::uint16_t, std::string> topic_aliases;  // MQTT 5, inbound
    std::uint16_t next_id = 0;
    std::uint16_t keepalive_s = 0;
    Nanos last_rx = steady_now();
    std::optional<std::pair<std::string, Message>> will;  // topic, message
    bool will_retain = false;
    std::string out, writing_buf;
    bool writing = false;

    std::uint16_t packet_id() {
      if (++next_id == 0) next_id = 1;
      return next_id;
    }
  };

  TcpListener listener;
  net::steady_timer sweep;
  std::unordered_set<Session*> sessions;  // connected (CONNACK sent) or awaiting CONNECT
  std::unordered_map<std::string, Session*> by_client_id;
  std::map<std::string, Message, std::less<>> retained;
  std::size_t retained_bytes = 0;
  std::uint64_t assigned_ids = 0;

  Impl(net::io_context& io, const net::ip::address& address, std::uint16_t port)
      : listener(io, address, port, "MQTT"), sweep(io) {}

  // ----- writing ---------------------------------------------------------------------------

  void send(Session& s, std::uint8_t first, std::string_view body) {
    if (s.closed) return;
    if (s.out.size() + body.size() > kMaxQueued) {  // a subscriber that does not read
      drop(s);
      return;
    }
    s.out.push_back(static_cast<char>(first));
    put_varint(s.out, body.size());
    s.out.append(body);
    if (!s.writing) flush(s);
  }

  void flush(Session& s) {
    s.writing = true;
    s.writing_buf.swap(s.out);
    s.out.clear();
    net::async_write(s.socket, net::buffer(s.writing_buf),
                     [self = s.shared_from_this(), this](error_code ec, std::size_t) {
                       self->writing = false;
                       self->writing_buf.clear();
                       if (ec) {
                         drop(*self);
                       } else if (!self->out.empty()) {
                         flush(*self);
                       } else if (self->closed) {
                         drop(*self);  // finished: what was queued has been written
                       }
                     });
  }

  // Closes the connection now (what is queued is lost).
  void drop(Session& s) {
    s.closed = true;
    error_code ec;
    s.socket.close(ec);
  }

  // Closes the connection once what is queued (a CONNACK refusal, a DISCONNECT, the last acks)
  // has been written; nothing more is queued. The read loop ends at once.
  void finish(Session& s) {
    if (s.closed) return;
    s.closed = true;
    error_code ec;
    s.socket.shutdown(tcp::socket::shutdown_receive, ec);
    if (!s.writing) drop(s);
  }

  void send_ack(Session& s, std::uint8_t type, std::uint16_t id) {
    std::string body;
    put_u16(body, id);
    send(s, static_cast<std::uint8_t>(type << 4 | (type == kPubrel ? 0x02 : 0)), body);
  }

  void deliver(Session& s, std::string_view topic, const Message& m, std::uint8_t qos,
               bool retain) {
    std::string body;
    body.reserve(topic.size() + m.payload.size() + m.properties.size() + 8);
    put_str(body, topic);
    if (qos > 0) put_u16(body, s.packet_id());
    if (s.version == 5) {
      put_varint(body, m.properties.size());
      body.append(m.properties);
    }
    body.append(m.payload);
    send(s, static_cast<std::uint8_t>(kPublish << 4 | qos << 1 | (retain ? 1 : 0)), body);
  }

  // ----- routing ---------------------------------------------------------------------------

  void route(std::string_view topic, const Message& m, const Session* from) {
    for (Session* s : sessions) {
      if (!s->connected || s->closed) continue;
      int best = -1;
      for (const Subscription& sub : s->subscriptions) {
        if (sub.no_local && s == from) continue;
        if (sub.qos > best && mqtt_topic_matches(sub.filter, topic)) best = sub.qos;
      }
      if (best >= 0) deliver(*s, topic, m, std::min<std::uint8_t>(m.qos, static_cast<std::uint8_t>(best)), false);
    }
  }

  void retain(std::string_view topic, const Message& m) {
    auto it = retained.find(topic);
    if (it != retained.end()) {
      retained_bytes -= it->first.size() + it->second.payload.size() + it->second.properties.size();
      retained.erase(it);
    }
    if (m.payload.empty()) return;  // an empty retained message clears the topic
    const std::size_t size = topic.size() + m.payload.size() + m.properties.size();
    if (retained_bytes + size > kMaxRetainedBytes) return;  // bounded: not kept
    retained.emplace(std::string(topic), m);
    retained_bytes += size;
  }

  void publish(std::string_view topic, const Message& m, bool retain_flag, const Session* from) {
    if (retain_flag) retain(topic, m);
    route(topic, m, from);
  }

  // ----- packets ---------------------------------------------------------------------------

  // False: close the connection (a protocol error).
  bool on_connect(Session& s, Reader r) {
    if (s.connected) return false;  // a second CONNECT
    const std::string_view name = r.str();
    s.version = r.u8();
    if (r.bad || !((name == "MQTT" && (s.version == 4 || s.version == 5)) ||
                   (name == "MQIsdp" && s.version == 3))) {
      if (!r.bad) {  // unacceptable protocol version (0x01; MQTT 5: 0x84)
        std::string body{'\0', static_cast<char>(s.version == 5 ? 0x84 : 0x01)};
        s.version = 4;
        send(s, kConnack << 4, body);
      }
      return false;
    }
    const std::uint8_t flags = r.u8();
    s.keepalive_s = r.u16();
    if (s.version == 5) r.bytes(r.varint());  // CONNECT properties: none acted on
    std::string client_id(r.str());
    const bool clean = flags & 0x02;
    if (flags & 0x04) {  // will
      Message w;
      if (s.version == 5) {
        const std::string_view props = r.bytes(r.varint());
        // Will properties other than the will delay (0x18) travel with the message.
        if (!walk_properties(props, [&](std::uint32_t id, std::string_view whole, Reader) {
              if (id != 0x18) w.properties.append(whole);
            })) {
          return false;
        }
      }
      std::string topic(r.str());
      w.payload = std::string(r.str());
      w.qos = static_cast<std::uint8_t>((flags >> 3) & 3);
      if (w.qos > 2 || topic.empty() || topic.find_first_of("+#") != std::string::npos) return false;
      s.will.emplace(std::move(topic), std::move(w));
      s.will_retain = flags & 0x20;
    }
    if (flags & 0x80) r.str();  // username: accepted
    if (flags & 0x40) r.str();  // password: accepted
    if (r.bad) return false;
    std::string assigned;
    if (client_id.empty()) {
      if (s.version != 5 && !clean) {  // 3.1.1: identifier rejected
        send(s, kConnack << 4, std::string{'\0', '\x02'});
        return false;
      }
      client_id = "ld-target-" + std::to_string(++assigned_ids);
      if (s.version == 5) assigned = client_id;
    }
    // A second connection with the same id takes over: the first is closed (MQTT 5: with
    // reason 0x8E, session taken over).
    if (auto it = by_client_id.find(client_id); it != by_client_id.end()) {
      Session& old = *it->second;
      if (old.version == 5) send(old, kDisconnect << 4, std::string{'\x8E', '\0'});
      old.will.reset();
      by_client_id.erase(it);
      old.client_id.clear();
      finish(old);
    }
    s.client_id = client_id;
    by_client_id[client_id] = &s;
    s.connected = true;
    std::string body{'\0', '\0'};  // no session present, accepted
    if (s.version == 5) {
      std::string props;
      if (!assigned.empty()) {
        props.push_back('\x12');
        put_str(props, assigned);
      }
      put_varint(body, props.size());
      body.append(props);
    }
    send(s, kConnack << 4, body);
    return true;
  }

  bool on_publish(Session& s, std::uint8_t flags, Reader r) {
    const auto qos = static_cast<std::uint8_t>((flags >> 1) & 3);
    if (qos > 2) return false;
    std::string_view topic = r.str();
    const std::uint16_t id = qos ? r.u16() : 0;
    Message m;
    m.qos = qos;
    if (s.version == 5) {
      const std::string_view props = r.bytes(r.varint());
      std::optional<std::uint16_t> alias;
      if (r.bad || !walk_properties(props, [&](std::uint32_t pid, std::string_view whole, Reader v) {
            if (pid == 0x23) {
              alias = v.u16();
            } else if (pid != 0x0B) {  // a subscription identifier is the subscriber's
              m.properties.append(whole);
            }
          })) {
        return false;
      }
      if (alias) {
        if (*alias == 0) return false;
        if (topic.empty()) {
          auto it = s.topic_aliases.find(*alias);
          if (it == s.topic_aliases.end()) return false;
          topic = it->second;
        } else {
          s.topic_aliases[*alias] = std::string(topic);
        }
      }
    }
    if (r.bad || topic.empty() || topic.find_first_of("+#") != std::string_view::npos ||
        (qos && id == 0)) {
      return false;
    }
    m.payload = std::string(r.s);
    const std::string topic_copy(topic);  // `topic` may point into the alias map
    if (qos == 2) {
      // Exactly once: a resent PUBLISH (same id before PUBREL) is acknowledged, not routed again.
      const bool fresh = s.qos2_pending.insert(id).second;
      if (fresh) publish(topic_copy, m, flags & 1, &s);
      send_ack(s, kPubrec, id);
      return true;
    }
    publish(topic_copy, m, flags & 1, &s);
    if (qos == 1) send_ack(s, kPuback, id);
    return true;
  }

  bool on_subscribe(Session& s, Reader r) {
    const std::uint16_t id = r.u16();
    if (s.version == 5) r.bytes(r.varint());
    std::string codes;
    std::vector<std::pair<std::string, std::uint8_t>> replay;  // retained to send after SUBACK
    while (!r.s.empty() && !r.bad) {
      const std::string filter(r.str());
      const std::uint8_t options = r.u8();
      if (r.bad) break;
      const auto qos = static_cast<std::uint8_t>(options & 3);
      if (qos > 2 || !mqtt_valid_filter(filter)) {
        codes.push_back(s.version == 5 ? '\x8F' : '\x80');  // topic filter invalid / failure
        continue;
      }
      const bool no_local = s.version == 5 && (options & 0x04);
      const int retain_handling = s.version == 5 ? (options >> 4) & 3 : 0;
      bool existed = false;
      for (Subscription& sub : s.subscriptions) {
        if (sub.filter == filter) {
          sub.qos = qos;
          sub.no_local = no_local;
          existed = true;
        }
      }
      if (!existed) s.subscriptions.push_back({filter, qos, no_local});
      codes.push_back(static_cast<char>(qos));
      if (retain_handling == 0 || (retain_handling == 1 && !existed)) replay.emplace_back(filter, qos);
    }
    if (r.bad || codes.empty() || id == 0) return false;
    std::string body;
    put_u16(body, id);
    if (s.version == 5) body.push_back('\0');
    body.append(codes);
    send(s, kSuback << 4, body);
    for (const auto& [filter, qos] : replay) {
      for (const auto& [topic, m] : retained) {
        if (mqtt_topic_matches(filter, topic)) deliver(s, topic, m, std::min(m.qos, qos), true);
      }
    }
    return true;
  }

  bool on_unsubscribe(Session& s, Reader r) {
    const std::uint16_t id = r.u16();
    if (s.version == 5) r.bytes(r.varint());
    std::string codes;
    while (!r.s.empty() && !r.bad) {
      const std::string_view filter = r.str();
      if (r.bad) break;
      const auto before = s.subscriptions.size();
      std::erase_if(s.subscriptions, [&](const Subscription& sub) { return sub.filter == filter; });
      codes.push_back(s.subscriptions.size() < before ? '\0' : '\x11');  // no subscription existed
    }
    if (r.bad || codes.empty() || id == 0) return false;
    std::string body;
    put_u16(body, id);
    if (s.version == 5) {
      body.push_back('\0');
      body.append(codes);
    }
    send(s, kUnsuback << 4, body);
    return true;
  }

  bool handle(Session& s, std::uint8_t first, std::string_view body) {
    const std::uint8_t type = first >> 4;
    const std::uint8_t flags = first & 0x0F;
    if (!s.connected && type != kConnect) return false;
    Reader r{body};
    switch (type) {
      case kConnect:
        return on_connect(s, r);
      case kPublish:
        return on_publish(s, flags, r);
      case kPuback:
      case kPubcomp:
        return true;  // no retransmission over TCP: nothing to forget
      case kPubrec:  // a subscriber's QoS 2 receipt: release it
        send_ack(s, kPubrel, r.u16());
        return !r.bad;
      case kPubrel: {
        const std::uint16_t id = r.u16();
        s.qos2_pending.erase(id);
        send_ack(s, kPubcomp, id);
        return !r.bad;
      }
      case kSubscribe:
        return flags == 0x02 && on_subscribe(s, r);
      case kUnsubscribe:
        return flags == 0x02 && on_unsubscribe(s, r);
      case kPingreq:
        send(s, kPingresp << 4, {});
        return true;
      case kDisconnect: {
        // MQTT 5 reason 0x04: disconnect with the will message.
        const bool with_will = s.version == 5 && !body.empty() && body[0] == '\x04';
        if (!with_will) s.will.reset();
        s.clean_disconnect = true;
        return false;
      }
      default:
        return false;
    }
  }

  // ----- connections -----------------------------------------------------------------------

  net::awaitable<void> serve(tcp::socket socket) {
    auto session = std::make_shared<Session>(std::move(socket));
    Session& s = *session;
    TcpListener::Registration registration(listener, s.socket);
    sessions.insert(&s);
    error_code ec;
    s.socket.set_option(tcp::no_delay(true), ec);
    std::array<char, 16 * 1024> buffer;
    std::string in;
    bool open = true;
    while (open && !s.closed && !listener.stopping()) {
      const std::size_t n = co_await s.socket.async_read_some(
          net::buffer(buffer), net::redirect_error(net::use_awaitable, ec));
      if (ec || listener.stopping()) break;
      // Paho MQTT C 1.3.12 (Debian 12) never sets TCP_NODELAY on its sockets, so a packet that
      // follows one of its small acks waits for this side's delayed ACK (40 ms). Acknowledging
      // at once (quick-ack mode lapses, hence after every read) keeps that out of examples.
      const int one = 1;
      ::setsockopt(s.socket.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      s.last_rx = steady_now();
      in.append(buffer.data(), n);
      std::size_t pos = 0;
      while (open && in.size() - pos >= 2) {
        std::size_t length = 0, i = 1;
        bool complete = false;
        for (; i <= 4 && pos + i < in.size(); ++i) {
          const auto b = static_cast<std::uint8_t>(in[pos + i]);
          length |= static_cast<std::size_t>(b & 0x7F) << (7 * (i - 1));
          if (!(b & 0x80)) {
            complete = true;
            break;
          }
        }
        if (!complete) {
          if (i > 4) open = false;  // a fifth length byte: malformed
          break;
        }
        if (length > kMaxPacket) {
          open = false;
          break;
        }
        const std::size_t header = i + 1;
        if (in.size() - pos < header + length) break;
        open = handle(s, static_cast<std::uint8_t>(in[pos]),
                      std::string_view(in).substr(pos + header, length));
        pos += header + length;
      }
      in.erase(0, pos);
    }
    // Gone without DISCONNECT (or after DISCONNECT with the will): its will is published.
    sessions.erase(&s);
    if (!s.client_id.empty()) {
      auto it = by_client_id.find(s.client_id);
      if (it != by_client_id.end() && it->second == &s) by_client_id.erase(it);
    }
    if (s.will && !listener.stopping()) publish(s.will->first, s.will->second, s.will_retain, &s);
    finish(s);
  }

  void schedule_sweep() {
    sweep.expires_after(std::chrono::seconds(1));
    sweep.async_wait([this](error_code ec) {
      if (ec || listener.stopping()) return;
      const Nanos now = steady_now();
      for (Session* s : sessions) {
        // 1.5 × keepalive without a packet (MQTT 3.1.1 §3.1.2.10); CONNECT within 10 s.
        const Nanos limit = s->connected ? static_cast<Nanos>(s->keepalive_s) * 1'500'000'000
                                         : Nanos{10'000'000'000};
        if (limit > 0 && now - s->last_rx > limit) drop(*s);
      }
      schedule_sweep();
    });
  }
};

MqttBroker::MqttBroker(net::io_context& io, const net::ip::address& address, std::uint16_t port)
    : impl_(std::make_unique<Impl>(io, address, port)) {}

MqttBroker::~MqttBroker() = default;

void MqttBroker::start() {
  impl_->listener.start([this](tcp::socket s) { return impl_->serve(std::move(s)); });
  impl_->schedule_sweep();
}

void MqttBroker::close() noexcept {
  impl_->listener.close();
  impl_->sweep.cancel();
}

std::uint16_t MqttBroker::port() const noexcept { return impl_->listener.port(); }

}  // namespace ld::target
