// The MQTT codec shared by mqtt_user and the embedded broker: every packet the client encodes
// decodes on the broker's side and every packet the broker encodes decodes on the client's,
// for MQTT 3.1.1 and 5; framing splits, length limits and malformed bodies.
#include <gtest/gtest.h>

#include <string>

#include "core/mqtt_codec.hpp"

namespace ld::mqtt {
namespace {

// Frames exactly one packet of `type` filling `wire`; returns its body.
std::string_view one_packet(const std::string& wire, std::uint8_t type, Packet& p) {
  EXPECT_EQ(scan_packet(wire, 1u << 20, p), Frame::kComplete);
  EXPECT_EQ(p.type(), type);
  EXPECT_EQ(p.size(), wire.size());
  return std::string_view(wire).substr(p.header, p.length);
}

TEST(MqttCodec, ConnectRoundTrip) {
  for (const std::uint8_t version : {4, 5}) {
    Connect c;
    c.version = version;
    c.clean = false;
    c.keepalive = 30;
    c.client_id = "dev-1";
    c.has_username = c.has_password = true;
    c.username = "alice";
    c.password = std::string_view("s3\0cret", 7);
    c.will = true;
    c.will_qos = 1;
    c.will_retain = true;
    c.will_topic = "last/will";
    c.will_payload = "gone";
    if (version == 5) c.will_properties = std::string_view("\x01\x01", 2);  // payload format
    std::string wire;
    append_connect(wire, c);
    Packet p;
    const std::string_view body = one_packet(wire, kConnect, p);
    Connect d;
    ASSERT_EQ(decode_connect(body, d), ConnectParse::kOk);
    EXPECT_EQ(d.protocol, "MQTT");
    EXPECT_EQ(d.version, version);
    EXPECT_FALSE(d.clean);
    EXPECT_EQ(d.keepalive, 30);
    EXPECT_EQ(d.client_id, "dev-1");
    EXPECT_TRUE(d.has_username && d.has_password);
    EXPECT_EQ(d.username, "alice");
    EXPECT_EQ(d.password, c.password);
    EXPECT_TRUE(d.will && d.will_retain);
    EXPECT_EQ(d.will_qos, 1);
    EXPECT_EQ(d.will_topic, "last/will");
    EXPECT_EQ(d.will_payload, "gone");
    EXPECT_EQ(d.will_properties, c.will_properties);
  }
  Connect bare;  // no credentials, no will, clean
  bare.client_id = "";
  std::string wire;
  append_connect(wire, bare);
  Packet p;
  Connect d;
  ASSERT_EQ(decode_connect(one_packet(wire, kConnect, p), d), ConnectParse::kOk);
  EXPECT_TRUE(d.clean);
  EXPECT_FALSE(d.will || d.has_username || d.has_password);
  EXPECT_TRUE(d.client_id.empty());
}

TEST(MqttCodec, ConnectRefusals) {
  Connect c;
  c.version = 6;
  std::string wire;
  append_connect(wire, c);
  Packet p;
  Connect d;
  EXPECT_EQ(decode_connect(one_packet(wire, kConnect, p), d), ConnectParse::kBadProtocol);
  EXPECT_EQ(d.version, 6);
  EXPECT_EQ(decode_connect(std::string_view("\0\4MQ", 4), d), ConnectParse::kMalformed);
  // A body cut short after the protocol level.
  wire.clear();
  c.version = 4;
  c.client_id = "x";
  append_connect(wire, c);
  EXPECT_EQ(decode_connect(std::string_view(wire).substr(2, 9), d), ConnectParse::kMalformed);
}

TEST(MqttCodec, PublishRoundTripBothWays) {
  for (const bool v5 : {false, true}) {
    for (const std::uint8_t qos : {0, 1, 2}) {
      Publish m;
      m.topic = "sensors/7/temp";
      m.qos = qos;
      m.id = qos ? 513 : 0;
      m.retain = qos == 1;
      m.dup = qos == 2;
      m.payload = std::string_view("{\"c\":21}\0", 9);
      if (v5) m.properties = std::string_view("\x01\x01", 2);
      std::string wire;
      append_publish(wire, m, v5);
      Packet p;
      const std::string_view body = one_packet(wire, kPublish, p);
      Publish d;
      ASSERT_TRUE(decode_publish(p.flags(), body, v5, d));
      EXPECT_EQ(d.topic, m.topic);
      EXPECT_EQ(d.qos, qos);
      EXPECT_EQ(d.id, m.id);
      EXPECT_EQ(d.retain, m.retain);
      EXPECT_EQ(d.dup, m.dup);
      EXPECT_EQ(d.properties, m.properties);
      EXPECT_EQ(d.payload, m.payload);
    }
  }
  Publish d;
  EXPECT_FALSE(decode_publish(0x06, std::string_view("\0\1t", 3), false, d));  // QoS 3
  EXPECT_FALSE(decode_publish(0x02, std::string_view("\0\1t\0", 4), false, d));  // short id
}

TEST(MqttCodec, SubscribeAndUnsubscribeRoundTrip) {
  for (const bool v5 : {false, true}) {
    std::string wire;
    append_subscribe(wire, 7, "a/+/#", 2, v5);
    Packet p;
    std::string_view body = one_packet(wire, kSubscribe, p);
    EXPECT_EQ(p.flags(), 0x02);
    Subscribe s;
    ASSERT_TRUE(decode_subscribe(body, v5, s));
    EXPECT_EQ(s.id, 7);
    Reader r{s.entries};
    std::string_view filter;
    std::uint8_t options = 0;
    ASSERT_TRUE(next_filter(r, true, filter, options));
    EXPECT_EQ(filter, "a/+/#");
    EXPECT_EQ(options, 2);
    EXPECT_FALSE(next_filter(r, true, filter, options));
    EXPECT_FALSE(r.bad);

    wire.clear();
    append_unsubscribe(wire, 8, "a/+/#", v5);
    body = one_packet(wire, kUnsubscribe, p);
    EXPECT_EQ(p.flags(), 0x02);
    ASSERT_TRUE(decode_subscribe(body, v5, s));
    EXPECT_EQ(s.id, 8);
    r = Reader{s.entries};
    ASSERT_TRUE(next_filter(r, false, filter, options));
    EXPECT_EQ(filter, "a/+/#");
    EXPECT_FALSE(next_filter(r, false, filter, options));
  }
}

TEST(MqttCodec, BrokerAcknowledgementsRoundTrip) {
  for (const bool v5 : {false, true}) {
    std::string wire;
    Connack c;
    c.code = v5 ? 0x87 : 0x05;
    if (v5) c.properties = std::string_view("\x13\x00\x1e", 3);  // server keep alive 30
    append_connack(wire, c, v5);
    Packet p;
    Connack d;
    ASSERT_TRUE(decode_connack(one_packet(wire, kConnack, p), v5, d));
    EXPECT_FALSE(d.session_present);
    EXPECT_EQ(d.code, c.code);
    EXPECT_EQ(d.properties, c.properties);
    int keepalive = -1;
    EXPECT_TRUE(walk_properties(d.properties, [&](std::uint32_t id, std::string_view, Reader v) {
      if (id == 0x13) keepalive = v.u16();
    }));
    EXPECT_EQ(keepalive, v5 ? 30 : -1);

    wire.clear();
    append_suback(wire, kSuback, 9, std::string("\x01\x80", 2), v5);
    SubAck a;
    ASSERT_TRUE(decode_suback(one_packet(wire, kSuback, p), kSuback, v5, a));
    EXPECT_EQ(a.id, 9);
    EXPECT_EQ(a.codes, std::string_view("\x01\x80", 2));

    wire.clear();
    append_suback(wire, kUnsuback, 10, std::string("\x11", 1), v5);
    ASSERT_TRUE(decode_suback(one_packet(wire, kUnsuback, p), kUnsuback, v5, a));
    EXPECT_EQ(a.id, 10);
    EXPECT_EQ(a.codes, v5 ? std::string_view("\x11", 1) : std::string_view());

    for (const std::uint8_t type : {kPuback, kPubrec, kPubrel, kPubcomp}) {
      wire.clear();
      append_ack(wire, type, 65535);
      Ack k;
      ASSERT_TRUE(decode_ack(one_packet(wire, type, p), v5, k));
      EXPECT_EQ(p.flags(), type == kPubrel ? 0x02 : 0);
      EXPECT_EQ(k.id, 65535);
      EXPECT_EQ(k.reason, 0);
    }
  }
  // An MQTT 5 PUBACK with a reason code (and no properties).
  Ack k;
  ASSERT_TRUE(decode_ack(std::string_view("\0\5\x87", 3), true, k));
  EXPECT_EQ(k.id, 5);
  EXPECT_EQ(k.reason, 0x87);
  // A refused version may come back in 3.1.1's form to a 5 client.
  Connack d;
  ASSERT_TRUE(decode_connack(std::string_view("\0\x84", 2), true, d));
  EXPECT_EQ(d.code, 0x84);
}

TEST(MqttCodec, SmallPackets) {
  std::string wire;
  append_pingreq(wire);
  append_pingresp(wire);
  append_disconnect(wire, false);
  append_disconnect(wire, true, 0x8E);
  EXPECT_EQ(wire, std::string("\xC0\0\xD0\0\xE0\0\xE0\x02\x8E\0", 10));
}

TEST(MqttCodec, Framing) {
  Publish m;
  m.topic = "t";
  m.payload = std::string(200, 'x');  // a two-byte remaining length
  std::string wire;
  append_publish(wire, m, false);
  append_pingreq(wire);
  Packet p;
  for (std::size_t n = 0; n < 204; ++n) {
    EXPECT_EQ(scan_packet(std::string_view(wire).substr(0, n), 1u << 20, p), Frame::kIncomplete)
        << n;
  }
  ASSERT_EQ(scan_packet(wire, 1u << 20, p), Frame::kComplete);
  EXPECT_EQ(p.header, 3u);
  EXPECT_EQ(p.length, 203u);
  ASSERT_EQ(scan_packet(std::string_view(wire).substr(p.size()), 1u << 20, p), Frame::kComplete);
  EXPECT_EQ(p.type(), kPingreq);
  EXPECT_EQ(scan_packet(wire, 100, p), Frame::kTooLarge);
  EXPECT_EQ(scan_packet(std::string_view("\x30\xFF\xFF\xFF\xFF\x01", 6), ~std::size_t{0}, p),
            Frame::kMalformed);
  EXPECT_EQ(varint_size(127), 1u);
  EXPECT_EQ(varint_size(128), 2u);
  EXPECT_EQ(varint_size(268435455), 4u);
}

TEST(MqttCodec, ReasonNames) {
  EXPECT_STREQ(reason_name(0x87), "Not authorized");
  EXPECT_STREQ(reason_name(0x86), "Bad User Name or Password");
  EXPECT_STREQ(reason_name(0x80), "Unspecified error");
  EXPECT_STREQ(connack_name(4), "bad user name or password");
  EXPECT_EQ(connack_name(0), nullptr);
}

}  // namespace
}  // namespace ld::mqtt
