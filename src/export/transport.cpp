#include "export/transport.hpp"

// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace ld::exporters {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::vector<std::string> pack_lines(std::string_view lines, std::size_t max_bytes) {
  std::vector<std::string> out;
  std::string cur;
  while (!lines.empty()) {
    const auto nl = lines.find('\n');
    const std::string_view line = lines.substr(0, nl);
    lines = nl == std::string_view::npos ? std::string_view{} : lines.substr(nl + 1);
    if (line.empty()) continue;
    if (!cur.empty() && cur.size() + 1 + line.size() > max_bytes)
      out.push_back(std::exchange(cur, {}));
    if (!cur.empty()) cur += '\n';
    cur += line;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

UdpSender::~UdpSender() {
  if (fd_ >= 0) ::close(fd_);
}

bool UdpSender::open(std::string& why) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(port_);
  if (int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res); rc != 0) {
    why = std::string("cannot resolve ") + host_ + ": " + ::gai_strerror(rc);
    return false;
  }
  int err = 0;
  for (addrinfo* a = res; a; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      err = errno;
      continue;
    }
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
      break;
    }
    err = errno;
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (fd_ < 0) why = std::string("cannot open a UDP socket: ") + std::strerror(err);
  return fd_ >= 0;
}

bool UdpSender::send(std::string_view datagram, std::string& why) {
  if (fd_ < 0 && !open(why)) return false;
  if (::send(fd_, datagram.data(), datagram.size(), MSG_NOSIGNAL) >= 0) return true;
  why = std::string("UDP send: ") + std::strerror(errno);
  return false;
}

HttpUrl parse_http_url(const std::string& url) {
  HttpUrl u;
  u.text = url;
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    throw std::invalid_argument("'" + url + "' is not an http:// URL (https is not supported)");
  }
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  const auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (u.target[0] == '?') u.target.insert(0, "/");
  if (authority.empty() || authority.find('@') != std::string_view::npos) {
    throw std::invalid_argument("'" + url + "': expected http://host[:port]/path");
  }
  if (authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos)
      throw std::invalid_argument("'" + url + "': bad IPv6 host");
    u.host = std::string(authority.substr(1, close - 1));
    authority = authority.substr(close + 1);
    u.port = authority.size() > 1 && authority[0] == ':' ? std::string(authority.substr(1)) : "80";
  } else {
    const auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    u.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  }
  if (u.host.empty() || u.port.empty() ||
      u.port.find_first_not_of("0123456789") != std::string::npos || u.port.size() > 5 ||
      std::stoi(u.port) == 0 || std::stoi(u.port) > 65535) {
    throw std::invalid_argument("'" + url + "': expected http://host[:port]/path");
  }
  return u;
}

HttpResult http_post(const HttpUrl& url, std::string_view content_type, std::string_view body,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::chrono::milliseconds timeout) {
  // Asynchronous operations on a private io_context so that one deadline bounds the
  // resolve, connect, write and read together.
  net::io_context ioc;
  HttpResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.host + ":" + url.port);
  req.set(http::field::user_agent, "loaddensity");
  req.set(http::field::content_type, content_type);
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = std::string(body);
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(1u << 20);
  auto fail = [&](const char* what, const boost::system::error_code& ec) {
    result.error = std::string(what) + ": " +
                   (ec == beast::error::timeout ? std::string("timed out") : ec.message());
  };
  resolver.async_resolve(
      url.host, url.port,
      [&](const boost::system::error_code& ec, tcp::resolver::results_type eps) {
        if (ec) return fail("resolve", ec);
        stream.expires_at(deadline);
        stream.async_connect(eps, [&](const boost::system::error_code& ec, const tcp::endpoint&) {
          if (ec) return fail("connect", ec);
          stream.expires_at(deadline);
          http::async_write(stream, req, [&](const boost::system::error_code& ec, std::size_t) {
            if (ec) return fail("write", ec);
            stream.expires_at(deadline);
            http::async_read(stream, buffer, parser,
                             [&](const boost::system::error_code& ec, std::size_t) {
                               if (ec) return fail("read", ec);
                               result.status = static_cast<int>(parser.get().result_int());
                             });
          });
        });
      });
  ioc.run_until(deadline + std::chrono::milliseconds(100));
  if (result.status == 0 && result.error.empty()) result.error = "timed out";
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return result;
}

}  // namespace ld::exporters
