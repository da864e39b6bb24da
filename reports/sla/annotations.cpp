#include "sla/annotations.hpp"

namespace ld::reports {

namespace {

std::string escape_property(const std::string& v) {
  std::string out;
  for (const char c : v) {
    switch (c) {
      case '%':
        out += "%25";
        break;
      case '\r':
        out += "%0D";
        break;
      case '\n':
        out += "%0A";
        break;
      case ':':
        out += "%3A";
        break;
      case ',':
        out += "%2C";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escape_message(const std::string& v) {
  std::string out;
  for (const char c : v) {
    switch (c) {
      case '%':
        out += "%25";
        break;
      case '\r':
        out += "%0D";
        break;
      case '\n':
        out += "%0A";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::string format_github_annotation(const std::string& severity, const std::string& message,
                                     const std::string& title) {
  std::string line = "::" + severity;
  if (!title.empty()) line += " title=" + escape_property(title);
  return line + "::" + escape_message(message);
}

std::vector<std::string> github_annotations(const stats::Metrics& m, const Json* sla_results,
                                            const std::string& title, std::size_t max_lines) {
  std::vector<std::string> all;
  if (sla_results && sla_results->is_array()) {
    for (const Json& r : *sla_results) {
      if (r.value("passed", true)) continue;
      all.push_back(format_github_annotation(
          "error", "SLA rule failed: " + r.value("reason", std::string("failed")),
          title.empty() ? "SLA" : title + " SLA"));
    }
  }
  for (const auto& e : m.errors) {
    std::string msg = e.request_type + " " + e.name + ": " + e.message + " (" +
                      std::to_string(e.count) + (e.count == 1 ? " failure" : " failures") + ", " +
                      stats::error_kind_name(e.kind) + ")";
    all.push_back(format_github_annotation("error", msg, title));
  }
  if (m.errors_dropped) {
    all.push_back(format_github_annotation(
        "error", std::to_string(m.errors_dropped) + " more failures with other messages", title));
  }
  if (all.size() > max_lines && max_lines > 0) {
    const std::size_t rest = all.size() - (max_lines - 1);
    all.resize(max_lines - 1);
    all.push_back(format_github_annotation(
        "warning", std::to_string(rest) + " more annotations left out (see the reports)", title));
  }
  return all;
}

}  // namespace ld::reports
