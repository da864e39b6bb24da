#include "junit/junit_report.hpp"

#include <cmath>
#include <ostream>

#include "common/format.hpp"

namespace ld::reports {

namespace {

std::string ms_text(std::int64_t ns) { return py_float(ns_to_ms3(ns)); }

}  // namespace

void write_junit(std::ostream& out, const stats::Metrics& m, const Json* sla_results) {
  std::size_t failing = 0;
  for (const auto& n : m.names) failing += n.failures ? 1 : 0;
  std::size_t rules = 0, rules_failed = 0;
  if (sla_results && sla_results->is_array()) {
    for (const Json& r : *sla_results) {
      ++rules;
      rules_failed += r.value("passed", false) ? 0 : 1;
    }
  }
  const double duration = m.duration_s();
  const std::string timestamp = m.runs.empty() ? "" : m.runs.front().started_at;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"loaddensity\" tests=\"" << m.names.size() + rules << "\" failures=\""
      << failing + rules_failed << "\" errors=\"0\" time=\"" << fixed(duration, 3) << "\">\n";
  out << "  <testsuite name=\"loaddensity\" tests=\"" << m.names.size() << "\" failures=\""
      << failing << "\" errors=\"0\" skipped=\"0\" time=\"" << fixed(duration, 3) << "\"";
  if (!timestamp.empty()) out << " timestamp=\"" << xml_escape(timestamp) << "\"";
  out << ">\n";
  out << "    <properties>\n";
  out << "      <property name=\"requests\" value=\"" << m.requests() << "\"/>\n";
  out << "      <property name=\"failures\" value=\"" << m.failures() << "\"/>\n";
  out << "      <property name=\"duration_s\" value=\"" << fixed(duration, 3) << "\"/>\n";
  if (!m.runs.empty()) {
    const auto& r = m.runs.front();
    out << "      <property name=\"user\" value=\"" << xml_escape(r.user) << "\"/>\n";
    out << "      <property name=\"users\" value=\"" << r.users << "\"/>\n";
  }
  out << "    </properties>\n";
  for (const auto& n : m.names) {
    stats::Histogram h = n.ok_latency;
    h.merge(n.fail_latency);
    out << "    <testcase classname=\"" << xml_escape(n.request_type) << "\" name=\""
        << xml_escape(n.name) << "\" time=\"" << fixed(h.mean() / 1e9, 3) << "\">\n";
    if (n.failures) {
      const double rate = n.requests ? static_cast<double>(n.failures) / n.requests : 0;
      out << "      <failure message=\""
          << xml_escape(std::to_string(n.failures) + " of " + std::to_string(n.requests) +
                        " requests failed (" + fixed(rate * 100, 2) + "%)")
          << "\" type=\"requests_failed\">";
      std::string body;
      for (const auto& e : m.errors) {
        if (e.name != n.name || e.request_type != n.request_type) continue;
        body += std::to_string(e.count) + " x " + stats::error_kind_name(e.kind) + ": " +
                e.message + "\n";
      }
      out << xml_escape(body) << "</failure>\n";
    }
    out << "      <system-out>requests=" << n.requests << " failures=" << n.failures
        << " rps=" << fixed(duration > 0 ? n.requests / duration : 0, 3)
        << " mean_ms=" << py_float(std::round(h.mean() / 1e3) / 1e3)
        << " p50_ms=" << ms_text(h.percentile(50)) << " p90_ms=" << ms_text(h.percentile(90))
        << " p95_ms=" << ms_text(h.percentile(95)) << " p99_ms=" << ms_text(h.percentile(99))
        << " max_ms=" << ms_text(h.max()) << "</system-out>\n";
    out << "    </testcase>\n";
  }
  out << "  </testsuite>\n";
  if (rules) {
    out << "  <testsuite name=\"loaddensity.sla\" tests=\"" << rules << "\" failures=\""
        << rules_failed << "\" errors=\"0\" skipped=\"0\" time=\"0.000\">\n";
    std::size_t i = 0;
    for (const Json& r : *sla_results) {
      const Json& rule = r.contains("rule") ? r["rule"] : Json();
      std::string label = rule.is_object() ? rule.value("type", std::string("rule")) : "rule";
      if (rule.is_object() && rule.contains("name") && rule["name"].is_string()) {
        label += "(" + rule["name"].get<std::string>() + ")";
      } else {
        label += "(overall)";
      }
      out << "    <testcase classname=\"sla\" name=\""
          << xml_escape(std::to_string(++i) + " " + label) << "\" time=\"0.000\">\n";
      if (!r.value("passed", false)) {
        const std::string reason = r.value("reason", std::string("failed"));
        out << "      <failure message=\"" << xml_escape(reason) << "\" type=\"sla\">"
            << xml_escape(rule.dump()) << "</failure>\n";
      }
      out << "      <system-out>" << xml_escape(rule.dump()) << "</system-out>\n";
      out << "    </testcase>\n";
    }
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
}

std::string write_junit_report(const stats::Metrics& m, const Json* sla_results,
                               const std::string& report_name) {
  std::string path = report_name;
  if (path.size() < 4 || path.compare(path.size() - 4, 4, ".xml") != 0) path += ".xml";
  AtomicFile file(path);
  write_junit(file.out(), m, sla_results);
  file.commit();
  return path;
}

}  // namespace ld::reports
