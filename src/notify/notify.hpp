#pragma once
// Notifiers: the run's summary as a Slack Block Kit message or a Microsoft Teams Adaptive Card,
// and the HTTP(S) POST that delivers it to a webhook (src/notify/notify.cpp).
#include <stdexcept>
#include <string>

#include "core/json_util.hpp"

namespace ld::notify {

// What a message tells: reports::build_summary()'s shape, the last SLA evaluation
// ([{passed, rule, actual, reason}], or null when none ran) and a title.
struct Report {
  const Json& summary;
  const Json& sla_results;
  std::string title;
};

inline constexpr std::size_t kTopErrors = 5;  // errors listed, the most frequent first

// {"text": fallback, "blocks": [header, section with fields, context, SLA, top errors]}.
Json slack_payload(const Report& r);
// {"type": "message", "attachments": [{"contentType":
//   "application/vnd.microsoft.card.adaptive", "content": AdaptiveCard 1.4}]}.
Json teams_payload(const Report& r);

// A webhook that could not be reached or did not accept the message. `status` is the HTTP
// status when one arrived (0 otherwise).
class PostError : public std::runtime_error {
 public:
  PostError(const std::string& what, int status) : std::runtime_error(what), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

// POSTs `body` (JSON) to an http:// or https:// `url` and returns the 2xx status. Everything,
// from name resolution to the last byte of the answer, must happen within `timeout_s`.
// `verify` as the HTTP client's task field: true = the system CA store, false = no
// verification, a string = a CA bundle (PEM) file. Throws PostError (an unsupported URL,
// connect/TLS/timeout failures, or a status outside 2xx with the start of the answer's body),
// ConfigError for an unreadable CA bundle.
int post_json(const std::string& url, const std::string& body, double timeout_s,
              const Json& verify);

}  // namespace ld::notify
