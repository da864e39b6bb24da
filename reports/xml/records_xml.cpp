#include "xml/records_xml.hpp"

#include <ostream>
#include <stdexcept>

#include "common/format.hpp"
#include "common/records.hpp"

namespace ld::reports {

namespace {

void element(std::ostream& out, const char* tag, const std::string& text) {
  out << "\t\t";
  if (text.empty()) {
    out << '<' << tag << "/>\n";
  } else {
    out << '<' << tag << '>' << xml_escape(text) << "</" << tag << ">\n";
  }
}

}  // namespace

std::uint64_t write_records_xml(std::ostream& out, const stats::RecordLog* log, bool failures,
                                std::uint64_t limit) {
  out << "<?xml version=\"1.0\" ?>\n";
  std::uint64_t n = 0;
  if (log) {
    const auto filter =
        failures ? stats::RecordLog::Filter::kFailures : stats::RecordLog::Filter::kSuccesses;
    log->for_each(filter, [&](const stats::LoggedRecord& r) {
      if (n >= limit) return false;
      if (n == 0) out << "<xml_data>\n";
      const RequestFields f = request_fields(r);
      const std::string tag = (failures ? "Failure_Test" : "Success_Test") + std::to_string(++n);
      out << '\t' << '<' << tag << ">\n";
      element(out, "Method", f.method);
      element(out, "test_url", f.test_url);
      element(out, "name", f.name);
      element(out, "status_code", f.status_code.empty() ? "None" : f.status_code);
      if (failures) {
        element(out, "text", f.text);
        element(out, "error", f.error);
      } else {
        element(out, "text", f.text);
        element(out, "content", f.content);
        element(out, "headers", f.headers);
      }
      out << "\t</" << tag << ">\n";
      return true;
    });
  }
  out << (n ? "</xml_data>\n" : "<xml_data/>\n");
  return n;
}

std::pair<std::string, std::string> write_xml_report(const stats::RecordLog* log,
                                                     const std::string& xml_file_name) {
  if (!log) throw std::runtime_error(no_record_log_note());
  if (log->records() == 0) throw std::runtime_error("no records to report: no request was made");
  AtomicFile ok(xml_file_name + "_success.xml");
  AtomicFile fail(xml_file_name + "_failure.xml");
  write_records_xml(ok.out(), log, false);
  write_records_xml(fail.out(), log, true);
  ok.commit();
  fail.commit();
  return {ok.path(), fail.path()};
}

}  // namespace ld::reports
