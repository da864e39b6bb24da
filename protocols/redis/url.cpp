#include "redis/url.hpp"

#include <charconv>

#include "common/task_fields.hpp"

namespace ld::proto::redis {

bool parse_redis_url(std::string_view text, RedisUrl& out, std::string& error) {
  out = RedisUrl{};
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    error = "is not a redis:// URL (redis://[user:password@]host:port/db)";
    return false;
  }
  std::string_view rest = text.substr(sep + 3);
  const std::size_t path_at = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_at);
  std::string_view path = path_at == std::string_view::npos ? std::string_view{} : rest.substr(path_at);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view info = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const std::size_t colon = info.find(':');
    const std::string_view user = colon == std::string_view::npos ? std::string_view{} : info.substr(0, colon);
    const std::string_view pass = colon == std::string_view::npos ? info : info.substr(colon + 1);
    if (!percent_decode(user, out.user) || !percent_decode(pass, out.password)) {
      error = "has a bad %-escape in its user or password";
      return false;
    }
    out.auth = !out.user.empty() || !out.password.empty();
  }
  Url u;
  const std::string hostpart = std::string(text.substr(0, sep + 3)) + std::string(authority);
  static constexpr Scheme kRedisSchemes[] = {{"redis", 6379, false}, {"rediss", 6379, true}};
  if (!parse_url(hostpart, kRedisSchemes, u, error)) return false;
  out.tls = u.tls;
  out.host = u.host;
  out.port = u.port;
  if (const std::size_t q = path.find_first_of("?#"); q != std::string_view::npos) {
    error = "has a query or fragment; only redis://[user:password@]host:port/db is understood";
    return false;
  }
  if (path.size() > 1) {
    const std::string_view db = path.substr(1);
    auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), out.db);
    if (ec != std::errc{} || p != db.data() + db.size() || out.db < 0) {
      error = "has a database '" + std::string(db) + "' that is not a number from 0";
      return false;
    }
  }
  const bool v6 = out.host.find(':') != std::string::npos;
  out.display = std::string(u.scheme) + "://" + (v6 ? "[" + out.host + "]" : out.host) + ":" +
                std::to_string(out.port) + "/" + std::to_string(out.db);
  return true;
}

}  // namespace ld::proto::redis
