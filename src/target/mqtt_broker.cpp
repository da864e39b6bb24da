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

#include "core/mqtt_codec.hpp"
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

using namespace ld::mqtt;

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

  // Queues one packet of about `size` bytes that `encode` appends to the session's output.
  template <class Encode>
  void send(Session& s, std::size_t size, Encode encode) {
    if (s.closed) return;
    if (s.out.size() + size > kMaxQueued) {  // a subscriber that does not read
      drop(s);
      return;
    }
    encode(s.out);
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
    send(s, 2, [&](std::string& out) { append_ack(out, type, id); });
  }

  void deliver(Session& s, std::string_view topic, const Message& m, std::uint8_t qos,
               bool retain) {
    Publish p;
    p.topic = topic;
    p.qos = qos;
    p.retain = retain;
    if (qos > 0) p.id = s.packet_id();
    p.properties = m.properties;
    p.payload = m.payload;
    const bool v5 = s.version == 5;
    send(s, topic.size() + m.payload.size() + m.properties.size() + 8,
         [&](std::string& out) { append_publish(out, p, v5); });
  }

  void send_connack(Session& s, std::uint8_t code, bool v5, std::string_view properties = {}) {
    Connack c;
    c.code = code;
    c.properties = properties;
    send(s, 2 + properties.size(), [&](std::string& out) { append_connack(out, c, v5); });
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
  bool on_connect(Session& s, std::string_view body) {
    if (s.connected) return false;  // a second CONNECT
    Connect c;
    const ConnectParse parsed = decode_connect(body, c);
    s.version = c.version;
    if (parsed == ConnectParse::kBadProtocol) {
      // Unacceptable protocol version (0x01; MQTT 5: 0x84), in 3.1.1's form.
      s.version = 4;
      send_connack(s, c.version == 5 ? 0x84 : 0x01, false);
      return false;
    }
    if (parsed != ConnectParse::kOk) return false;
    s.keepalive_s = c.keepalive;  // CONNECT properties: none acted on
    std::string client_id(c.client_id);
    if (c.will) {
      Message w;
      // Will properties other than the will delay (0x18) travel with the message.
      if (s.version == 5 &&
          !walk_properties(c.will_properties, [&](std::uint32_t id, std::string_view whole, Reader) {
            if (id != 0x18) w.properties.append(whole);
          })) {
        return false;
      }
      w.payload = std::string(c.will_payload);
      w.qos = c.will_qos;
      if (w.qos > 2 || c.will_topic.empty() ||
          c.will_topic.find_first_of("+#") != std::string_view::npos) {
        return false;
      }
      s.will.emplace(std::string(c.will_topic), std::move(w));
      s.will_retain = c.will_retain;
    }
    // username and password: accepted
    std::string assigned;
    if (client_id.empty()) {
      if (s.version != 5 && !c.clean) {  // 3.1.1: identifier rejected
        send_connack(s, 0x02, false);
        return false;
      }
      client_id = "ld-target-" + std::to_string(++assigned_ids);
      if (s.version == 5) assigned = client_id;
    }
    // A second connection with the same id takes over: the first is closed (MQTT 5: with
    // reason 0x8E, session taken over).
    if (auto it = by_client_id.find(client_id); it != by_client_id.end()) {
      Session& old = *it->second;
      if (old.version == 5) send(old, 4, [](std::string& out) { append_disconnect(out, true, 0x8E); });
      old.will.reset();
      by_client_id.erase(it);
      old.client_id.clear();
      finish(old);
    }
    s.client_id = client_id;
    by_client_id[client_id] = &s;
    s.connected = true;
    std::string props;  // no session present, accepted
    if (!assigned.empty()) {
      props.push_back('\x12');
      put_str(props, assigned);
    }
    send_connack(s, 0, s.version == 5, props);
    return true;
  }

  bool on_publish(Session& s, std::uint8_t flags, std::string_view body) {
    Publish p;
    if (!decode_publish(flags, body, s.version == 5, p)) return false;
    const std::uint8_t qos = p.qos;
    std::string_view topic = p.topic;
    const std::uint16_t id = p.id;
    Message m;
    m.qos = qos;
    if (s.version == 5) {
      std::optional<std::uint16_t> alias;
      if (!walk_properties(p.properties, [&](std::uint32_t pid, std::string_view whole, Reader v) {
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
    if (topic.empty() || topic.find_first_of("+#") != std::string_view::npos ||
        (qos && id == 0)) {
      return false;
    }
    m.payload = std::string(p.payload);
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

  bool on_subscribe(Session& s, std::string_view body) {
    Subscribe sub_packet;
    if (!decode_subscribe(body, s.version == 5, sub_packet)) return false;
    const std::uint16_t id = sub_packet.id;
    Reader r{sub_packet.entries};
    std::string codes;
    std::vector<std::pair<std::string, std::uint8_t>> replay;  // retained to send after SUBACK
    std::string_view filter_view;
    std::uint8_t options = 0;
    while (next_filter(r, true, filter_view, options)) {
      const std::string filter(filter_view);
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
    send(s, 3 + codes.size(),
         [&](std::string& out) { append_suback(out, kSuback, id, codes, s.version == 5); });
    for (const auto& [filter, qos] : replay) {
      for (const auto& [topic, m] : retained) {
        if (mqtt_topic_matches(filter, topic)) deliver(s, topic, m, std::min(m.qos, qos), true);
      }
    }
    return true;
  }

  bool on_unsubscribe(Session& s, std::string_view body) {
    Subscribe unsub;
    if (!decode_subscribe(body, s.version == 5, unsub)) return false;
    const std::uint16_t id = unsub.id;
    Reader r{unsub.entries};
    std::string codes;
    std::string_view filter;
    std::uint8_t unused = 0;
    while (next_filter(r, false, filter, unused)) {
      const auto before = s.subscriptions.size();
      std::erase_if(s.subscriptions, [&](const Subscription& sub) { return sub.filter == filter; });
      codes.push_back(s.subscriptions.size() < before ? '\0' : '\x11');  // no subscription existed
    }
    if (r.bad || codes.empty() || id == 0) return false;
    send(s, 3 + codes.size(),
         [&](std::string& out) { append_suback(out, kUnsuback, id, codes, s.version == 5); });
    return true;
  }

  bool handle(Session& s, std::uint8_t first, std::string_view body) {
    const std::uint8_t type = first >> 4;
    const std::uint8_t flags = first & 0x0F;
    if (!s.connected && type != kConnect) return false;
    Ack ack;
    switch (type) {
      case kConnect:
        return on_connect(s, body);
      case kPublish:
        return on_publish(s, flags, body);
      case kPuback:
      case kPubcomp:
        return true;  // no retransmission over TCP: nothing to forget
      case kPubrec:  // a subscriber's QoS 2 receipt: release it
        if (!decode_ack(body, s.version == 5, ack)) return false;
        send_ack(s, kPubrel, ack.id);
        return true;
      case kPubrel:
        if (!decode_ack(body, s.version == 5, ack)) return false;
        s.qos2_pending.erase(ack.id);
        send_ack(s, kPubcomp, ack.id);
        return true;
      case kSubscribe:
        return flags == 0x02 && on_subscribe(s, body);
      case kUnsubscribe:
        return flags == 0x02 && on_unsubscribe(s, body);
      case kPingreq:
        send(s, 2, [](std::string& out) { append_pingresp(out); });
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
      // A client that does not set TCP_NODELAY (Paho MQTT C 1.3.12, Debian 12's) makes a packet
      // that follows one of its small acks wait for this side's delayed ACK (40 ms).
      // Acknowledging at once (quick-ack mode lapses, hence after every read) keeps that out.
      const int one = 1;
      ::setsockopt(s.socket.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      s.last_rx = steady_now();
      in.append(buffer.data(), n);
      std::size_t pos = 0;
      while (open) {
        Packet p;
        const Frame f = scan_packet(std::string_view(in).substr(pos), kMaxPacket, p);
        if (f == Frame::kIncomplete) break;
        if (f != Frame::kComplete) {  // a fifth length byte, or too large
          open = false;
          break;
        }
        open = handle(s, p.first, std::string_view(in).substr(pos + p.header, p.length));
        pos += p.size();
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
