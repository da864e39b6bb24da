// The embedded target's RESP listener and its bounded in-memory store.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include "target/resp_server.hpp"

#include <charconv>
#include <deque>
#include <unordered_map>
#include <variant>

#include "core/resp.hpp"
#include "core/text.hpp"
#include "loaddensity/core/clock.hpp"
#include "target/listener.hpp"

namespace ld::target {

namespace net = boost::asio;
using boost::system::error_code;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view kWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
constexpr std::string_view kSyntax = "ERR syntax error";
constexpr std::string_view kOom = "OOM command not allowed when used memory > 'maxmemory'.";
constexpr std::size_t kEntryOverhead = 48;  // counted per key, list item and hash field

bool to_int(std::string_view s, std::int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size() && !s.empty();
}

using List = std::deque<std::string>;
using Hash = std::unordered_map<std::string, std::string>;

struct Entry {
  std::variant<std::string, List, Hash> value;
  Nanos expires = 0;  // steady ns; 0 = never
};

}  // namespace

struct RespStore::Impl {
  std::unordered_map<std::string, Entry> keys;
  std::size_t bytes = 0;
  std::size_t entries = 0;

  // The live entry of `key` (an expired one is removed first), or nullptr.
  Entry* find(std::string_view key) {
    auto it = keys.find(std::string(key));
    if (it == keys.end()) return nullptr;
    if (it->second.expires != 0 && it->second.expires <= steady_now()) {
      erase(it);
      return nullptr;
    }
    return &it->second;
  }

  void erase(std::unordered_map<std::string, Entry>::iterator it) {
    release(it->first.size() + kEntryOverhead, 1);
    std::visit(
        [&](auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            release(v.size(), 0);
          } else if constexpr (std::is_same_v<T, List>) {
            for (const auto& s : v) release(s.size() + kEntryOverhead, 1);
          } else {
            for (const auto& [f, s] : v) release(f.size() + s.size() + kEntryOverhead, 1);
          }
        },
        it->second.value);
    keys.erase(it);
  }

  void release(std::size_t b, std::size_t n) {
    bytes -= std::min(bytes, b);
    entries -= std::min(entries, n);
  }
  // Room for `b` more bytes and `n` more entries?
  bool fits(std::size_t b, std::size_t n) const {
    return bytes + b <= kMaxBytes && entries + n <= kMaxEntries;
  }

  // The entry of `key` holding a T, created when missing. nullptr + `wrong` when the key holds
  // another type; nullptr when there is no room for a new key.
  template <class T>
  Entry* obtain(std::string_view key, bool& wrong) {
    wrong = false;
    if (Entry* e = find(key)) {
      if (!std::holds_alternative<T>(e->value)) {
        wrong = true;
        return nullptr;
      }
      return e;
    }
    if (!fits(key.size() + kEntryOverhead, 1)) return nullptr;
    bytes += key.size() + kEntryOverhead;
    ++entries;
    Entry& e = keys[std::string(key)];
    e.value = T{};
    return &e;
  }

  bool execute(const std::vector<std::string_view>& a, std::string& out) {
    if (a.empty()) return true;
    const std::string cmd = text::lower(a[0]);
    const std::size_t argc = a.size();
    auto arity = [&](std::size_t n, bool at_least = false) {
      if (at_least ? argc >= n : argc == n) return true;
      resp::append_error(out, "ERR wrong number of arguments for '" + cmd + "' command");
      return false;
    };
    bool wrong = false;
    if (cmd == "ping") {
      if (argc > 2) return arity(2), true;
      if (argc == 2) {
        resp::append_bulk(out, a[1]);
      } else {
        resp::append_simple(out, "PONG");
      }
    } else if (cmd == "get") {
      if (!arity(2)) return true;
      Entry* e = find(a[1]);
      if (!e) {
        resp::append_nil(out);
      } else if (auto* s = std::get_if<std::string>(&e->value)) {
        resp::append_bulk(out, *s);
      } else {
        resp::append_error(out, kWrongType);
      }
    } else if (cmd == "set") {
      if (!arity(3, true)) return true;
      Nanos ttl = 0;
      for (std::size_t i = 3; i < argc; i += 2) {
        const std::string opt = text::lower(a[i]);
        std::int64_t v = 0;
        if ((opt != "ex" && opt != "px") || i + 1 >= argc) return resp::append_error(out, kSyntax), true;
        if (!to_int(a[i + 1], v) || v <= 0) {
          return resp::append_error(out, "ERR invalid expire time in 'set' command"), true;
        }
        ttl = opt == "ex" ? v * kNanosPerSecond : v * kNanosPerMilli;
      }
      if (Entry* old = find(a[1])) {  // SET replaces any type
        erase(keys.find(std::string(a[1])));
        (void)old;
      }
      if (!fits(a[1].size() + a[2].size() + kEntryOverhead, 1)) return resp::append_error(out, kOom), true;
      Entry* e = obtain<std::string>(a[1], wrong);
      std::get<std::string>(e->value).assign(a[2]);
      bytes += a[2].size();
      e->expires = ttl ? steady_now() + ttl : 0;
      resp::append_simple(out, "OK");
    } else if (cmd == "incr") {
      if (!arity(2)) return true;
      Entry* e = find(a[1]);
      std::int64_t v = 0;
      if (e) {
        auto* s = std::get_if<std::string>(&e->value);
        if (!s) return resp::append_error(out, kWrongType), true;
        if (!to_int(*s, v)) return resp::append_error(out, kNotInteger), true;
      } else {
        if (!fits(a[1].size() + 20 + kEntryOverhead, 1)) return resp::append_error(out, kOom), true;
        e = obtain<std::string>(a[1], wrong);
      }
      if (v == INT64_MAX) return resp::append_error(out, "ERR increment or decrement would overflow"), true;
      auto& s = std::get<std::string>(e->value);
      release(s.size(), 0);
      s = std::to_string(v + 1);
      bytes += s.size();
      resp::append_integer(out, v + 1);
    } else if (cmd == "del" || cmd == "exists") {
      if (!arity(2, true)) return true;
      std::int64_t n = 0;
      for (std::size_t i = 1; i < argc; ++i) {
        if (!find(a[i])) continue;
        ++n;
        if (cmd == "del") erase(keys.find(std::string(a[i])));
      }
      resp::append_integer(out, n);
    } else if (cmd == "lpush") {
      if (!arity(3, true)) return true;
      std::size_t add = 0;
      for (std::size_t i = 2; i < argc; ++i) add += a[i].size() + kEntryOverhead;
      if (!fits(add, argc - 2)) return resp::append_error(out, kOom), true;
      Entry* e = obtain<List>(a[1], wrong);
      if (wrong) return resp::append_error(out, kWrongType), true;
      if (!e) return resp::append_error(out, kOom), true;
      auto& list = std::get<List>(e->value);
      for (std::size_t i = 2; i < argc; ++i) list.emplace_front(a[i]);
      bytes += add;
      entries += argc - 2;
      resp::append_integer(out, static_cast<std::int64_t>(list.size()));
    } else if (cmd == "rpop") {
      if (!arity(2)) return true;
      Entry* e = find(a[1]);
      if (!e) return resp::append_nil(out), true;
      auto* list = std::get_if<List>(&e->value);
      if (!list) return resp::append_error(out, kWrongType), true;
      resp::append_bulk(out, list->back());
      release(list->back().size() + kEntryOverhead, 1);
      list->pop_back();
      if (list->empty()) erase(keys.find(std::string(a[1])));
    } else if (cmd == "hset") {
      if (argc < 4 || argc % 2 != 0) return arity(0), true;
      std::size_t add = 0;
      for (std::size_t i = 2; i < argc; i += 2) add += a[i].size() + a[i + 1].size() + kEntryOverhead;
      if (!fits(add, (argc - 2) / 2)) return resp::append_error(out, kOom), true;
      Entry* e = obtain<Hash>(a[1], wrong);
      if (wrong) return resp::append_error(out, kWrongType), true;
      if (!e) return resp::append_error(out, kOom), true;
      auto& hash = std::get<Hash>(e->value);
      std::int64_t added = 0;
      for (std::size_t i = 2; i < argc; i += 2) {
        auto [it, fresh] = hash.try_emplace(std::string(a[i]));
        if (fresh) {
          ++added;
          ++entries;
          bytes += a[i].size() + kEntryOverhead;
        } else {
          release(it->second.size(), 0);
        }
        it->second.assign(a[i + 1]);
        bytes += a[i + 1].size();
      }
      resp::append_integer(out, added);
    } else if (cmd == "hget") {
      if (!arity(3)) return true;
      Entry* e = find(a[1]);
      if (!e) return resp::append_nil(out), true;
      auto* hash = std::get_if<Hash>(&e->value);
      if (!hash) return resp::append_error(out, kWrongType), true;
      auto it = hash->find(std::string(a[2]));
      if (it == hash->end()) {
        resp::append_nil(out);
      } else {
        resp::append_bulk(out, it->second);
      }
    } else if (cmd == "expire") {
      if (!arity(3)) return true;
      std::int64_t s = 0;
      if (!to_int(a[2], s)) return resp::append_error(out, kNotInteger), true;
      Entry* e = find(a[1]);
      if (!e) return resp::append_integer(out, 0), true;
      if (s <= 0) {
        erase(keys.find(std::string(a[1])));
      } else {
        e->expires = steady_now() + s * kNanosPerSecond;
      }
      resp::append_integer(out, 1);
    } else if (cmd == "auth") {
      resp::append_error(out, "ERR AUTH <password> called without any password configured for "
                              "the default user. Are you sure your configuration is correct?");
    } else if (cmd == "select") {
      if (!arity(2)) return true;
      if (a[1] == "0") {
        resp::append_simple(out, "OK");
      } else {
        resp::append_error(out, "ERR DB index is out of range (the embedded target has db 0)");
      }
    } else if (cmd == "command") {
      resp::append_array_header(out, 0);  // what redis-cli asks for on connect
    } else if (cmd == "quit") {
      resp::append_simple(out, "OK");
      return false;
    } else {
      std::string msg = "ERR unknown command '" + std::string(a[0].substr(0, 64)) +
                        "', with args beginning with: ";
      for (std::size_t i = 1; i < argc && i < 4; ++i) msg += "'" + std::string(a[i].substr(0, 64)) + "' ";
      resp::append_error(out, msg);
    }
    return true;
  }
};

RespStore::RespStore() : impl_(std::make_unique<Impl>()) {}
RespStore::~RespStore() = default;
bool RespStore::execute(const std::vector<std::string_view>& args, std::string& out) {
  return impl_->execute(args, out);
}
std::size_t RespStore::bytes() const noexcept { return impl_->bytes; }
std::size_t RespStore::entries() const noexcept { return impl_->entries; }

struct RespServer::Impl {
  // Destroyed after the io_context that runs the coroutines (the target resets it first).
  TcpListener listener;
  RespStore store;

  Impl(net::io_context& io, const net::ip::address& address, std::uint16_t port)
      : listener(io, address, port, "RESP") {}

  // The complete commands at the front of `in`, answered into `out`; the bytes used.
  std::size_t consume(std::string_view in, std::string& out, bool& open) {
    std::size_t pos = 0;
    while (open && pos < in.size()) {
      std::size_t used = 0;
      const resp::Scan scan = resp::scan_command(in.substr(pos), args, used);
      if (scan == resp::Scan::kIncomplete) break;
      if (scan == resp::Scan::kMalformed) {
        resp::append_error(out, "ERR Protocol error");
        open = false;
        break;
      }
      open = store.execute(args, out);
      pos += used;
    }
    return pos;
  }

  std::vector<std::string_view> args;  // io thread only (one command at a time)
};

RespServer::RespServer(net::io_context& io, const net::ip::address& address, std::uint16_t port)
    : impl_(std::make_unique<Impl>(io, address, port)) {}

RespServer::~RespServer() = default;

void RespServer::start() {
  impl_->listener.start([this](tcp::socket s) {
    // A command larger than Redis accepts closes the connection.
    return impl_->listener.serve_requests(
        std::move(s), resp::kMaxBulk,
        [this](std::string_view in, std::string& out, bool& open) {
          return impl_->consume(in, out, open);
        });
  });
}

void RespServer::close() noexcept { impl_->listener.close(); }

std::uint16_t RespServer::port() const noexcept { return impl_->listener.port(); }

}  // namespace ld::target
