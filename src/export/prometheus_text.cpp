#include "export/prometheus.hpp"

namespace ld::exporters {

std::string prometheus_label_value(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

std::string prometheus_text(const SeriesBook& book) {
  std::string out;
  std::vector<std::string> labels;  // request_type="..",name=".." per series
  for (const Series& s : book.cumulative()) {
    labels.push_back("request_type=\"" + prometheus_label_value(s.request_type) + "\",name=\"" +
                     prometheus_label_value(s.name) + "\"");
  }
  const auto& all = book.cumulative();
  header(out, "loaddensity_requests_total", "counter", "Requests by outcome.");
  for (std::size_t i = 0; i < all.size(); ++i) {
    out += "loaddensity_requests_total{" + labels[i] + ",outcome=\"success\"} " +
           std::to_string(all[i].requests - all[i].failures) + '\n';
    out += "loaddensity_requests_total{" + labels[i] + ",outcome=\"failure\"} " +
           std::to_string(all[i].failures) + '\n';
  }
  header(out, "loaddensity_request_latency_ms", "histogram",
         "Request latency in milliseconds, from the planned start.");
  const auto& bounds = latency_bounds_us();
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto counts = bucket_counts(all[i]);
    std::uint64_t cum = 0;
    for (std::size_t b = 0; b < bounds.size(); ++b) {
      cum += counts[b];
      out += "loaddensity_request_latency_ms_bucket{" + labels[i] + ",le=\"" +
             bound_ms_text(bounds[b]) + "\"} " + std::to_string(cum) + '\n';
    }
    out += "loaddensity_request_latency_ms_bucket{" + labels[i] + ",le=\"+Inf\"} " +
           std::to_string(all[i].requests) + '\n';
    out += "loaddensity_request_latency_ms_sum{" + labels[i] + "} " +
           format_double(all[i].latency_sum_ns / 1e6) + '\n';
    out += "loaddensity_request_latency_ms_count{" + labels[i] + "} " +
           std::to_string(all[i].requests) + '\n';
  }
  header(out, "loaddensity_response_bytes", "histogram", "Response body bytes.");
  for (std::size_t i = 0; i < all.size(); ++i) {
    out += "loaddensity_response_bytes_bucket{" + labels[i] + ",le=\"+Inf\"} " +
           std::to_string(all[i].requests) + '\n';
    out += "loaddensity_response_bytes_sum{" + labels[i] + "} " + std::to_string(all[i].bytes_in) +
           '\n';
    out += "loaddensity_response_bytes_count{" + labels[i] + "} " +
           std::to_string(all[i].requests) + '\n';
  }
  header(out, "loaddensity_errors_total", "counter", "Failed requests by error kind.");
  for (std::size_t i = 0; i < all.size(); ++i) {
    for (std::size_t k = 1; k < all[i].by_kind.size(); ++k) {
      if (!all[i].by_kind[k]) continue;
      out += "loaddensity_errors_total{" + labels[i] + ",kind=\"" +
             stats::error_kind_name(static_cast<stats::ErrorKind>(k)) + "\"} " +
             std::to_string(all[i].by_kind[k]) + '\n';
    }
  }
  header(out, "loaddensity_users", "gauge", "Virtual users running.");
  out += "loaddensity_users " + std::to_string(book.users()) + '\n';
  header(out, "loaddensity_target_users", "gauge", "Virtual users the test is aiming for.");
  out += "loaddensity_target_users " + std::to_string(book.target_users()) + '\n';
  return out;
}

}  // namespace ld::exporters
