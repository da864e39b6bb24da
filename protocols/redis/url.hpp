#pragma once
// redis:// URLs: redis://[[user]:password@]host[:port][/db]. The password (and user) are
// percent-decoded; the port defaults to 6379 and the database to 0.
#include <cstdint>
#include <string>
#include <string_view>

namespace ld::proto::redis {

struct RedisUrl {
  bool tls = false;  // rediss://
  std::string host;
  std::uint16_t port = 6379;
  std::string user;      // empty: AUTH with the password only
  std::string password;  // empty and no user: no AUTH
  bool auth = false;
  std::int64_t db = 0;
  std::string display;  // the URL without credentials, for reports ("redis://h:6379/0")
};

inline constexpr std::string_view kDefaultUrl = "redis://127.0.0.1:6379/0";

// Returns false with `error` set when `text` is not a redis:// or rediss:// URL.
bool parse_redis_url(std::string_view text, RedisUrl& out, std::string& error);

}  // namespace ld::proto::redis
