#include "distributed/msgpack.hpp"

#include <cstdint>
#include <cstring>

namespace ld::distributed {

namespace {

constexpr std::string_view kIntKeyMaps[] = {"response_times", "num_reqs_per_sec",
                                            "num_fail_per_sec"};

bool int_key_map(std::string_view key) {
  for (auto k : kIntKeyMaps) {
    if (k == key) return true;
  }
  return false;
}

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_uint(std::string& out, std::uint64_t v) {
  if (v < 128) {
    out.push_back(static_cast<char>(v));
  } else if (v <= 0xff) {
    out.push_back(static_cast<char>(0xcc));
    put_be(out, v, 1);
  } else if (v <= 0xffff) {
    out.push_back(static_cast<char>(0xcd));
    put_be(out, v, 2);
  } else if (v <= 0xffffffffu) {
    out.push_back(static_cast<char>(0xce));
    put_be(out, v, 4);
  } else {
    out.push_back(static_cast<char>(0xcf));
    put_be(out, v, 8);
  }
}

void put_int(std::string& out, std::int64_t v) {
  if (v >= 0) return put_uint(out, static_cast<std::uint64_t>(v));
  if (v >= -32) {
    out.push_back(static_cast<char>(v));
  } else if (v >= INT8_MIN) {
    out.push_back(static_cast<char>(0xd0));
    put_be(out, static_cast<std::uint8_t>(v), 1);
  } else if (v >= INT16_MIN) {
    out.push_back(static_cast<char>(0xd1));
    put_be(out, static_cast<std::uint16_t>(v), 2);
  } else if (v >= INT32_MIN) {
    out.push_back(static_cast<char>(0xd2));
    put_be(out, static_cast<std::uint32_t>(v), 4);
  } else {
    out.push_back(static_cast<char>(0xd3));
    put_be(out, static_cast<std::uint64_t>(v), 8);
  }
}

void put_len(std::string& out, std::size_t n, unsigned fix, std::size_t fix_max, unsigned c8,
             unsigned c16, unsigned c32) {
  if (n <= fix_max && fix != 0) {
    out.push_back(static_cast<char>(fix | n));
  } else if (n <= 0xff && c8 != 0) {
    out.push_back(static_cast<char>(c8));
    put_be(out, n, 1);
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(c16));
    put_be(out, n, 2);
  } else {
    out.push_back(static_cast<char>(c32));
    put_be(out, n, 4);
  }
}

void put_str(std::string& out, std::string_view s) {
  put_len(out, s.size(), 0xa0, 31, 0xd9, 0xda, 0xdb);
  out.append(s);
}

// "123" / "-4" exactly (no sign on zero, no leading zeros): written as an integer key.
bool decimal_key(const std::string& k, std::int64_t& v) {
  if (k.empty() || k.size() > 18) return false;
  std::size_t i = k[0] == '-' ? 1 : 0;
  if (i == k.size() || (k[i] == '0' && k.size() > i + 1) || (i == 1 && k == "-0")) return false;
  std::int64_t r = 0;
  for (; i < k.size(); ++i) {
    if (k[i] < '0' || k[i] > '9') return false;
    r = r * 10 + (k[i] - '0');
  }
  v = k[0] == '-' ? -r : r;
  return true;
}

void encode(const Json& v, std::string& out, bool int_keys, int depth) {
  if (depth > static_cast<int>(limits::kMaxJsonDepth)) throw MsgpackError("msgpack: too deep");
  switch (v.type()) {
    case Json::value_t::null:
      out.push_back(static_cast<char>(0xc0));
      break;
    case Json::value_t::boolean:
      out.push_back(static_cast<char>(v.get<bool>() ? 0xc3 : 0xc2));
      break;
    case Json::value_t::number_unsigned:
      put_uint(out, v.get<std::uint64_t>());
      break;
    case Json::value_t::number_integer:
      put_int(out, v.get<std::int64_t>());
      break;
    case Json::value_t::number_float: {
      const double d = v.get<double>();
      std::uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      out.push_back(static_cast<char>(0xcb));
      put_be(out, bits, 8);
      break;
    }
    case Json::value_t::string:
      put_str(out, v.get_ref<const std::string&>());
      break;
    case Json::value_t::binary: {
      const auto& b = v.get_binary();
      put_len(out, b.size(), 0, 0, 0xc4, 0xc5, 0xc6);
      out.append(reinterpret_cast<const char*>(b.data()), b.size());
      break;
    }
    case Json::value_t::array:
      put_len(out, v.size(), 0x90, 15, 0, 0xdc, 0xdd);
      for (const auto& e : v) encode(e, out, false, depth + 1);
      break;
    case Json::value_t::object:
      put_len(out, v.size(), 0x80, 15, 0, 0xde, 0xdf);
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::int64_t k = 0;
        if (int_keys && decimal_key(it.key(), k)) {
          put_int(out, k);
        } else {
          put_str(out, it.key());
        }
        encode(it.value(), out, int_key_map(it.key()), depth + 1);
      }
      break;
    case Json::value_t::discarded:
      throw MsgpackError("msgpack: discarded value");
  }
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool done() const noexcept { return pos_ == b_.size(); }

  Json value(int depth) {
    if (depth > static_cast<int>(limits::kMaxJsonDepth)) fail("too deep");
    const std::uint8_t c = byte();
    if (c <= 0x7f) return Json(static_cast<std::uint64_t>(c));
    if (c >= 0xe0) return Json(static_cast<std::int64_t>(static_cast<std::int8_t>(c)));
    if ((c & 0xe0) == 0xa0) return Json(str(c & 0x1f));
    if ((c & 0xf0) == 0x90) return array(c & 0x0f, depth);
    if ((c & 0xf0) == 0x80) return map(c & 0x0f, depth);
    switch (c) {
      case 0xc0:
        return Json(nullptr);
      case 0xc2:
        return Json(false);
      case 0xc3:
        return Json(true);
      case 0xc4:
        return bin(be(1));
      case 0xc5:
        return bin(be(2));
      case 0xc6:
        return bin(be(4));
      case 0xca: {
        const auto bits = static_cast<std::uint32_t>(be(4));
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return Json(static_cast<double>(f));
      }
      case 0xcb: {
        const std::uint64_t bits = be(8);
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return Json(d);
      }
      case 0xcc:
        return Json(be(1));
      case 0xcd:
        return Json(be(2));
      case 0xce:
        return Json(be(4));
      case 0xcf:
        return Json(be(8));
      case 0xd0:
        return Json(static_cast<std::int64_t>(static_cast<std::int8_t>(be(1))));
      case 0xd1:
        return Json(static_cast<std::int64_t>(static_cast<std::int16_t>(be(2))));
      case 0xd2:
        return Json(static_cast<std::int64_t>(static_cast<std::int32_t>(be(4))));
      case 0xd3:
        return Json(static_cast<std::int64_t>(be(8)));
      case 0xd9:
        return Json(str(be(1)));
      case 0xda:
        return Json(str(be(2)));
      case 0xdb:
        return Json(str(be(4)));
      case 0xdc:
        return array(be(2), depth);
      case 0xdd:
        return array(be(4), depth);
      case 0xde:
        return map(be(2), depth);
      case 0xdf:
        return map(be(4), depth);
      default:
        fail("unsupported type byte 0x" + hex(c));
    }
    return {};
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw MsgpackError("msgpack: " + why + " at byte " + std::to_string(pos_));
  }
  static std::string hex(std::uint8_t c) {
    const char* d = "0123456789abcdef";
    return {d[c >> 4], d[c & 15]};
  }
  void need(std::size_t n) const {
    if (b_.size() - pos_ < n) fail("truncated");
  }
  std::uint8_t byte() {
    need(1);
    return static_cast<std::uint8_t>(b_[pos_++]);
  }
  std::uint64_t be(int n) {
    need(static_cast<std::size_t>(n));
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(b_[pos_++]);
    return v;
  }
  std::string str(std::uint64_t n) {
    need(n);
    std::string s(b_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  Json bin(std::uint64_t n) {
    need(n);
    Json::binary_t::container_type bytes(b_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                         b_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return Json::binary(std::move(bytes));
  }
  Json array(std::uint64_t n, int depth) {
    need(n);  // every element takes at least one byte
    Json a = Json::array();
    for (std::uint64_t i = 0; i < n; ++i) a.push_back(value(depth + 1));
    return a;
  }
  Json map(std::uint64_t n, int depth) {
    need(n * 2);
    Json o = Json::object();
    for (std::uint64_t i = 0; i < n; ++i) {
      Json k = value(depth + 1);
      std::string key;
      if (k.is_string()) {
        key = k.get<std::string>();
      } else if (k.is_number_integer()) {
        key = k.dump();
      } else if (k.is_null()) {
        key = "None";
      } else if (k.is_boolean()) {
        key = k.get<bool>() ? "True" : "False";
      } else if (k.is_number_float()) {
        key = k.dump();
      } else {
        fail("unsupported map key");
      }
      o[key] = value(depth + 1);
    }
    return o;
  }

  std::string_view b_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string msgpack_encode(const Json& v) {
  std::string out;
  encode(v, out, false, 0);
  return out;
}

Json msgpack_decode(std::string_view bytes) {
  Reader r(bytes);
  Json v = r.value(0);
  if (!r.done()) throw MsgpackError("msgpack: extra bytes after the value");
  return v;
}

std::string encode_message(const Message& m) {
  return msgpack_encode(Json::array({m.type, m.data, m.node_id}));
}

Message decode_message(std::string_view bytes) {
  Json v = msgpack_decode(bytes);
  if (!v.is_array() || v.size() != 3 || !v[0].is_string() || !v[2].is_string()) {
    throw MsgpackError("not a Locust message ([type, data, node_id])");
  }
  return Message{v[0].get<std::string>(), std::move(v[1]), v[2].get<std::string>()};
}

}  // namespace ld::distributed
