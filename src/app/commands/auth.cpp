// The original's auth helpers as commands, JSON in and out: JWT signing and decoding, AWS
// SigV4 request signing and OAuth2 token requests (protocols/common/auth; docs/auth.md).
#include <ctime>
#include <stdexcept>

#include "app/app.hpp"
#include "app/commands/commands.hpp"
#include "common/auth/auth.hpp"
#include "common/auth/jwt.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::app {

using action::Args;
using action::Command;
namespace A = action;
namespace auth = proto::auth;

namespace {

// std::invalid_argument from the helpers is a failed action with its message.
template <class F>
Json run(F&& f) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
}

void check_alg(const Args& a) {
  auth::JwtAlg alg;
  const std::string name = a.str("algorithm", "HS256");
  if (!auth::parse_jwt_alg(name, alg)) {
    throw ConfigError("unsupported JWT algorithm: " + name + " (use " + auth::kJwtAlgs + ")",
                      "/algorithm");
  }
}

void check_url(const Args& a, const char* field) {
  const std::string u = a.str(field);
  if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) {
    throw ConfigError(std::string(field) + " must be an http:// or https:// URL", std::string("/") + field);
  }
}

void check_credentials(const Args& a) {
  check_url(a, "token_url");
  const std::string c = a.str("credentials", "basic");
  if (c != "basic" && c != "body") {
    throw ConfigError("credentials must be \"basic\" or \"body\"", "/credentials");
  }
}

Json token_command(const Args& a, std::vector<std::pair<std::string, std::string>> form) {
  if (a.has("scope")) form.emplace_back("scope", a.str("scope"));
  if (a.has("audience")) form.emplace_back("audience", a.str("audience"));
  return auth::fetch_token(a.str("token_url"), form, a.str("client_id"), a.str("client_secret"),
                           a.str("credentials", "basic") == "body", a.number("timeout", 5.0));
}

}  // namespace

void register_auth_commands(action::CommandRegistry& r, App&) {
  r.add(Command{"LD_sign_jwt",
                "Sign a JWT (HS256/384/512, RS256/384/512, ES256); returns {token}.",
                {{"payload", A::kObject, true, nullptr, "the claims"},
                 {"secret", A::kString, true, nullptr, "HS*: the shared secret; RS*/ES256: a PEM private key"},
                 {"algorithm", A::kString, false, "HS256", ""},
                 {"headers", A::kObject | A::kNull, false, nullptr, "merged into the JOSE header"},
                 {"expires_in_seconds", A::kNumber | A::kNull, false, nullptr,
                  "adds exp = now + this, unless the payload has exp"}},
                [](const Args& a) -> Json {
                  return run([&] {
                    return Json{{"token", auth::sign_jwt(a["payload"], a.str("secret"),
                                                         a.str("algorithm", "HS256"), a["headers"],
                                                         a.number("expires_in_seconds", 0))}};
                  });
                },
                check_alg});
  r.add(Command{"LD_decode_jwt",
                "Decode a JWT into {header, payload, signature}; with a key, also verify it.",
                {{"token", A::kString, true, nullptr, ""},
                 {"key", A::kString | A::kNull, false, nullptr,
                  "secret or PEM (public) key: adds \"verified\""}},
                [](const Args& a) -> Json {
                  return run([&] {
                    const std::string key = a.str("key");
                    return auth::decode_jwt(a.str("token"), a.has("key") ? &key : nullptr);
                  });
                }});
  r.add(Command{"LD_sign_aws_request",
                "AWS Signature V4: the headers to send (host, x-amz-*, Authorization).",
                {{"method", A::kString, true, nullptr, ""},
                 {"url", A::kString, true, nullptr, ""},
                 {"region", A::kString, true, nullptr, ""},
                 {"service", A::kString, true, nullptr, ""},
                 {"access_key", A::kString, true, nullptr, ""},
                 {"secret_key", A::kString, true, nullptr, ""},
                 {"body", A::kString, false, "", ""},
                 {"headers", A::kObject | A::kNull, false, nullptr, "signed too"},
                 {"session_token", A::kString | A::kNull, false, nullptr, ""},
                 {"now", A::kNumber | A::kNull, false, nullptr, "Unix time to sign at (default: now)"}},
                [](const Args& a) -> Json {
                  return run([&] {
                    const std::int64_t when = a.has("now")
                                                  ? static_cast<std::int64_t>(a.number("now", 0))
                                                  : static_cast<std::int64_t>(std::time(nullptr));
                    return auth::sign_aws_request(a.str("method"), a.str("url"), a.str("body"),
                                                  a["headers"], a.str("region"), a.str("service"),
                                                  a.str("access_key"), a.str("secret_key"),
                                                  a.str("session_token"), when);
                  });
                },
                [](const Args& a) { check_url(a, "url"); }});
  const auto common = [](std::vector<action::Param> extra) {
    std::vector<action::Param> p = {
        {"token_url", A::kString, true, nullptr, ""},
        {"client_id", A::kString, true, nullptr, ""},
        {"client_secret", A::kString, false, "", ""},
        {"scope", A::kString | A::kNull, false, nullptr, ""},
        {"audience", A::kString | A::kNull, false, nullptr, ""},
        {"credentials", A::kString, false, "basic",
         "basic: client id and secret in an Authorization header; body: in the form"},
        {"timeout", A::kNumber, false, 5.0, "seconds"}};
    p.insert(p.end(), extra.begin(), extra.end());
    return p;
  };
  r.add(Command{"LD_fetch_client_credentials_token",
                "OAuth2 client_credentials grant; returns the token endpoint's JSON.",
                common({}),
                [](const Args& a) -> Json {
                  return token_command(a, {{"grant_type", "client_credentials"}});
                },
                check_credentials});
  r.add(Command{"LD_fetch_password_token",
                "OAuth2 password grant; returns the token endpoint's JSON.",
                common({{"username", A::kString, true, nullptr, ""},
                        {"password", A::kString, true, nullptr, ""}}),
                [](const Args& a) -> Json {
                  return token_command(a, {{"grant_type", "password"},
                                           {"username", a.str("username")},
                                           {"password", a.str("password")}});
                },
                check_credentials});
  r.add(Command{"LD_refresh_token",
                "OAuth2 refresh_token grant; returns the token endpoint's JSON.",
                common({{"refresh_token", A::kString, true, nullptr, ""}}),
                [](const Args& a) -> Json {
                  return token_command(a, {{"grant_type", "refresh_token"},
                                           {"refresh_token", a.str("refresh_token")}});
                },
                check_credentials});
}

}  // namespace ld::app
