#include "csv/records_csv.hpp"

#include <ostream>

#include "common/format.hpp"
#include "common/records.hpp"

namespace ld::reports {

std::uint64_t write_records_csv(std::ostream& out, const stats::RecordLog* log) {
  out << "outcome,Method,test_url,name,status_code,response_time_ms,response_length,error\r\n";
  if (!log) return 0;
  std::uint64_t rows = 0;
  for (auto filter : {stats::RecordLog::Filter::kSuccesses, stats::RecordLog::Filter::kFailures}) {
    log->for_each(filter, [&](const stats::LoggedRecord& r) {
      const RequestFields f = request_fields(r);
      out << f.outcome << ',' << csv_field(f.method) << ',' << csv_field(f.test_url) << ','
          << csv_field(f.name) << ',' << f.status_code << ',' << py_float(f.response_time_ms) << ','
          << f.response_length << ',' << csv_field(f.error) << "\r\n";
      ++rows;
      return true;
    });
  }
  return rows;
}

std::string write_csv_report(const stats::RecordLog* log, const std::string& csv_name) {
  AtomicFile file(csv_name + ".csv");
  write_records_csv(file.out(), log);
  file.commit();
  return file.path();
}

}  // namespace ld::reports
