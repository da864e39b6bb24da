#include "json/records_json.hpp"

#include <ostream>
#include <stdexcept>

#include "common/format.hpp"
#include "common/records.hpp"

namespace ld::reports {

namespace {

// status_code as the original's str(): "None" when there was no status.
std::string status_text(const RequestFields& f) {
  return f.status_code.empty() ? "None" : f.status_code;
}

void check_has_records(const stats::RecordLog* log) {
  if (!log) throw std::runtime_error(no_record_log_note());
  if (log->records() == 0) throw std::runtime_error("no records to report: no request was made");
}

}  // namespace

std::uint64_t write_records_json(std::ostream& out, const stats::RecordLog* log, bool failures,
                                 std::uint64_t limit) {
  std::uint64_t n = 0;
  out << '{';
  if (log) {
    const auto filter =
        failures ? stats::RecordLog::Filter::kFailures : stats::RecordLog::Filter::kSuccesses;
    log->for_each(filter, [&](const stats::LoggedRecord& r) {
      if (n >= limit) return false;
      const RequestFields f = request_fields(r);
      out << (n ? ",\n" : "\n");
      ++n;
      out << "    \"" << (failures ? "Failure_Test" : "Success_Test") << n << "\": {\n";
      out << "        \"Method\": " << json_quote(f.method) << ",\n";
      out << "        \"test_url\": " << json_quote(f.test_url) << ",\n";
      out << "        \"name\": " << json_quote(f.name) << ",\n";
      out << "        \"status_code\": " << json_quote(status_text(f)) << ",\n";
      if (failures) {
        out << "        \"text\": " << json_quote(f.text) << ",\n";
        out << "        \"error\": " << json_quote(f.error) << "\n";
      } else {
        out << "        \"text\": " << json_quote(f.text) << ",\n";
        out << "        \"content\": " << json_quote(f.content) << ",\n";
        out << "        \"headers\": " << json_quote(f.headers) << "\n";
      }
      out << "    }";
      return true;
    });
  }
  out << (n ? "\n}" : "}");
  return n;
}

std::pair<std::string, std::string> write_json_report(const stats::RecordLog* log,
                                                      const std::string& json_file_name) {
  check_has_records(log);
  AtomicFile ok(json_file_name + "_success.json");
  AtomicFile fail(json_file_name + "_failure.json");
  write_records_json(ok.out(), log, false);
  write_records_json(fail.out(), log, true);
  ok.commit();
  fail.commit();
  return {ok.path(), fail.path()};
}

Json records_json_value(const stats::RecordLog* log, std::size_t limit) {
  check_has_records(log);
  Json out = Json::array();
  for (bool failures : {false, true}) {
    Json obj = Json::object();
    std::size_t n = 0;
    const auto filter =
        failures ? stats::RecordLog::Filter::kFailures : stats::RecordLog::Filter::kSuccesses;
    log->for_each(filter, [&](const stats::LoggedRecord& r) {
      if (n >= limit) return false;
      const RequestFields f = request_fields(r);
      Json e = {{"Method", f.method},
                {"test_url", f.test_url},
                {"name", f.name},
                {"status_code", status_text(f)}};
      if (failures) {
        e["text"] = f.text;
        e["error"] = f.error;
      } else {
        e["text"] = f.text;
        e["content"] = f.content;
        e["headers"] = f.headers;
      }
      obj[std::string(failures ? "Failure_Test" : "Success_Test") + std::to_string(++n)] = e;
      return true;
    });
    out.push_back(std::move(obj));
  }
  return out;
}

}  // namespace ld::reports
