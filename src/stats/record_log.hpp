#pragma once
// The per-request record log: every operation of a run as a fixed-size binary record, written
// to disk while the run goes on, so that per-request reports (CSV, _success/_failure JSON and
// XML, HTML record tables, SQLite records) never need the records in memory.
//
// Writing: each worker thread owns one RecordLogWriter with a 64 KiB buffer of PackedRecords;
// append() fills one slot (no lock, no allocation) and a full buffer goes to the thread's own
// file with write(). The log is enabled only when a document asks for per-request output, so
// plain runs pay nothing.
//
// Reading happens on the control thread after a run finished (writers flushed and closed):
// for_each() merges the thread files of each run by start time and hands out decoded records.
//
// Variable-length parts (a URL rendered per request, the first 1 KiB of a failure's response
// body or message) go to a per-writer side file ("blob") through a reused buffer flushed with
// the records; a record holds their offset and lengths. A task's static URL is kept once per
// run (RecordLogRun::url), not per record.
//
// The files live in a private temporary directory that is removed with the log. Successful
// responses' text, headers and bodies are not kept; reports write them as empty strings.
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/cleanup.hpp"
#include "loaddensity/stats/record.hpp"

namespace ld::stats {

// On-disk record: 64 bytes, host byte order (the file never leaves the process that wrote it).
struct PackedRecord {
  std::int64_t planned;     // steady ns
  std::int64_t start;       // steady ns
  std::int64_t end;         // steady ns
  std::uint32_t name;       // global name id (RecordLog::name)
  std::uint32_t bytes_in;   // saturated at 2^32-1
  std::uint32_t bytes_out;  // saturated at 2^32-1
  std::int32_t code;        // ErrorInfo::code
  std::uint16_t status;     // protocol status (HTTP code)
  std::uint8_t kind;        // ErrorKind
  std::uint8_t flags;       // bit 0: code is an errno value
  std::uint16_t what;       // 1-based index into the writer's message table, 0 = none
  std::uint16_t text_len;   // bytes of failure text in the blob, after the URL
  std::uint64_t blob;       // offset of this record's URL then text in the writer's blob file
  std::uint32_t url_len;    // 0 = the static URL of the record's name (RecordLogRun::url)
  std::uint16_t headers_len;  // bytes of a success's headers in the blob, after the text
  std::uint16_t reserved;
};
static_assert(sizeof(PackedRecord) == 64, "PackedRecord must stay 64 bytes");

// A run's disk budget, shared by its writers. Below half the cap every record is kept; past
// half, 1 in 2; past 3/4, 1 in 4; and so on: N doubles each time half the remaining budget is
// used. A stage is never smaller than kMinStage (a few buffers, which is how often writers
// see the total), so past the cap the files still grow, by kMinStage each time the number of
// requests doubles. Aggregates are never sampled.
struct RecordLogBudget {
  static constexpr unsigned kMaxShift = 40;
  static constexpr std::uint64_t kMinStage = 256 * 1024;
  std::uint64_t max_bytes = 0;  // 0 = unlimited
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<unsigned> shift{0};  // keep 1 in 2^shift

  // Bytes after which 1 in 2^(k+1) records are kept.
  std::uint64_t threshold(unsigned k) const noexcept {
    std::uint64_t t = 0;
    for (unsigned i = 0; i <= k; ++i) {
      const std::uint64_t stage = max_bytes >> (i + 1);
      t += stage > kMinStage ? stage : kMinStage;
    }
    return t;
  }
  // Called by a writer after it wrote `n` bytes (once per buffer, not per record).
  void add(std::uint64_t n) noexcept {
    if (max_bytes == 0) return;
    const std::uint64_t total = bytes.fetch_add(n, std::memory_order_relaxed) + n;
    unsigned s = shift.load(std::memory_order_relaxed);
    unsigned want = s;
    while (want < kMaxShift && total >= threshold(want)) ++want;
    while (want > s && !shift.compare_exchange_weak(s, want, std::memory_order_relaxed)) {
    }
  }
};

class RecordLogWriter {
 public:
  static constexpr std::size_t kBufferBytes = 64 * 1024;
  static constexpr std::size_t kPerBuffer = kBufferBytes / sizeof(PackedRecord);
  static constexpr std::uint16_t kMaxMessages = 1024;  // distinct static messages per writer
  static constexpr std::uint16_t kUnknownMessage = 0xffff;
  static constexpr std::size_t kMaxUrl = 8 * 1024;         // longer rendered URLs are cut
  static constexpr std::size_t kMaxText = kRecordTextMax;  // failure text kept per record
  static constexpr std::size_t kBlobBytes = 64 * 1024;
  static_assert(kMaxUrl + 2 * kRecordBodiesMax <= kBlobBytes && kMaxText <= kRecordBodiesMax);

  // `path`: the record file; the blob file is `path` + ".blob".
  RecordLogWriter(std::string path, const std::vector<std::uint32_t>* global_ids,
                  RecordLogBudget* budget = nullptr);
  ~RecordLogWriter();
  RecordLogWriter(const RecordLogWriter&) = delete;
  RecordLogWriter& operator=(const RecordLogWriter&) = delete;

  // Hot path (the writer's worker thread only): one record into the buffer.
  void append(const Record& r) noexcept {
    if (budget_) {
      const unsigned s = budget_->shift.load(std::memory_order_relaxed);
      if (s && (++seq_ & ((std::uint64_t{1} << s) - 1)) != 0) {
        ++sampled_out_;
        return;
      }
    }
    PackedRecord& p = buf_[n_];
    p.planned = r.planned;
    p.start = r.start;
    p.end = r.end;
    p.name = r.name_id < global_ids_->size() ? (*global_ids_)[r.name_id] : 0;
    p.bytes_in = saturate(r.bytes_in);
    p.bytes_out = saturate(r.bytes_out);
    p.code = r.error.code;
    p.status = static_cast<std::uint16_t>(r.status > 0xffff ? 0xffff : r.status);
    p.kind = static_cast<std::uint8_t>(r.error.kind);
    p.flags = r.error.code_is_errno ? 1 : 0;
    p.what = r.error.what ? message_id(r.error.what) : 0;
    p.headers_len = 0;
    p.reserved = 0;
    p.url_len = 0;
    p.text_len = 0;
    p.blob = 0;
    if (!r.url.empty() || (!r.ok() && !r.text.empty()) ||
        (body_cap_ && (!r.text.empty() || !r.headers.empty()))) {
      put_blob(r, p);
    }
    if (++n_ == kPerBuffer) flush();
  }

  // Bytes of a success's body and headers kept (each; at most kRecordBodiesMax), 0 = none.
  // Set before the worker starts.
  void set_body_cap(std::size_t cap) noexcept {
    body_cap_ = cap < kRecordBodiesMax ? cap : kRecordBodiesMax;
  }

  // Writes the buffered records (worker thread while running; control thread at the end).
  void flush() noexcept;
  void close() noexcept;

  const std::string& path() const noexcept { return path_; }
  const std::string& blob_path() const noexcept { return blob_path_; }
  std::uint64_t written() const noexcept { return written_; }  // records on disk
  std::uint64_t dropped() const noexcept { return dropped_; }  // records lost to write errors
  std::uint64_t sampled_out() const noexcept { return sampled_out_; }  // left out by the cap
  const char* message(std::uint16_t id) const noexcept {
    return id == 0 || id > messages_used_ ? nullptr : texts_[id - 1].c_str();
  }

 private:
  static std::uint32_t saturate(std::uint64_t v) noexcept {
    return v > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(v);
  }
  // Copies the record's URL, failure text (or kept success body and headers) into the blob
  // buffer; no allocation.
  void put_blob(const Record& r, PackedRecord& p) noexcept;
  void flush_blob() noexcept;

  // Failure path only: a linear scan of the static messages seen so far.
  std::uint16_t message_id(const char* what) noexcept {
    for (std::uint16_t i = 0; i < messages_used_; ++i) {
      if (messages_[i] == what) return static_cast<std::uint16_t>(i + 1);
    }
    if (messages_used_ == kMaxMessages) return kUnknownMessage;
    // Messages may live in the compiled tasks (assertion rules), which are gone by the time
    // reports read the log: keep a copy, once per distinct message.
    texts_.emplace_back(what);
    messages_[messages_used_++] = what;
    return messages_used_;
  }

  std::string path_;
  int fd_ = -1;
  const std::vector<std::uint32_t>* global_ids_;
  std::unique_ptr<PackedRecord[]> buf_;
  std::size_t n_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t dropped_ = 0;
  std::array<const char*, kMaxMessages> messages_{};  // identity, for the lookup
  std::deque<std::string> texts_;                     // stable copies of the text
  std::uint16_t messages_used_ = 0;
  std::string blob_path_;
  int blob_fd_ = -1;
  std::unique_ptr<char[]> blob_buf_;
  std::size_t blob_n_ = 0;          // bytes buffered
  std::uint64_t blob_written_ = 0;  // logical bytes before the buffer (written or lost)
  RecordLogBudget* budget_ = nullptr;
  std::uint64_t seq_ = 0;
  std::uint64_t sampled_out_ = 0;
  std::size_t body_cap_ = 0;
};

// One test run's files: one writer per worker thread.
class RecordLogRun {
 public:
  RecordLogRun(std::string dir, std::size_t index, std::vector<std::uint32_t> global_ids, Nanos t0,
               std::vector<std::string> urls, std::uint64_t max_bytes = 0,
               std::size_t body_cap = 0);
  // The writer of worker thread `thread`, created on first use. Call on the control thread
  // before the worker threads start.
  RecordLogWriter& writer(unsigned thread);
  // Flushes and closes every writer (control thread, after the worker threads joined).
  void finish() noexcept;
  // Takes writer `w` out of the run, for a worker thread that was abandoned while
  // blocked (it may still append when it wakes): finish, clear and the readers no longer see
  // it, so its records are left out. The returned handle keeps the writer and what it uses
  // alive; the worker holds it until it ends.
  std::shared_ptr<void> abandon(const RecordLogWriter& w);

  Nanos t0() const noexcept { return t0_; }
  // Bytes of a success's body and headers kept per record (`record_bodies`), 0 = none.
  std::size_t body_cap() const noexcept { return body_cap_; }
  std::size_t index() const noexcept { return index_; }
  const std::vector<std::unique_ptr<RecordLogWriter>>& writers() const noexcept { return writers_; }
  // The static URL of RecordLog name `global_id` in this run ("" when unknown).
  const std::string& url(std::uint32_t global_id) const noexcept;
  // 1 when every record was kept, else N of the last "1 in N" the disk cap imposed.
  std::uint64_t sample_every() const noexcept {
    return std::uint64_t{1} << budget_->shift.load(std::memory_order_relaxed);
  }
  std::uint64_t sampled_out() const noexcept;  // records left out (after finish())

 private:
  std::string dir_;
  std::size_t index_;
  // run-local name id -> RecordLog name id; shared with writers that were abandoned
  std::shared_ptr<const std::vector<std::uint32_t>> global_ids_;
  Nanos t0_;
  std::shared_ptr<RecordLogBudget> budget_ = std::make_shared<RecordLogBudget>();
  // Declared after what the writers use, so they are destroyed (and flushed) first.
  std::vector<std::unique_ptr<RecordLogWriter>> writers_;
  std::vector<std::string> urls_;  // by RecordLog name id
  std::size_t body_cap_ = 0;
};

// A decoded record, valid during the for_each callback.
struct LoggedRecord {
  std::size_t run = 0;        // index of the run since the last clear
  std::uint32_t name_id = 0;  // RecordLog name id
  const std::string* request_type = nullptr;
  const std::string* name = nullptr;
  Nanos offset = 0;   // planned start, ns since the run began
  Nanos latency = 0;  // end - planned
  Nanos service = 0;  // end - start
  std::uint32_t status = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  ErrorKind kind = ErrorKind::kNone;
  const char* what = nullptr;
  int code = 0;
  bool code_is_errno = false;
  std::string_view url;   // the URL requested: rendered per record, else the name's static URL
  std::string_view text;  // failures: start of the response body or a message ("" when none);
                          // successes: the body start when the run kept bodies
  std::string_view headers;  // successes: the header block when the run kept bodies

  bool ok() const noexcept { return kind == ErrorKind::kNone; }
  std::string message() const;  // the error text ("" for a success)
};

class RecordLog {
 public:
  enum class Filter { kAll, kSuccesses, kFailures };

  // Creates a private directory under `parent` (default: $TMPDIR or /tmp).
  explicit RecordLog(const std::string& parent = "");
  ~RecordLog();
  RecordLog(const RecordLog&) = delete;
  RecordLog& operator=(const RecordLog&) = delete;

  // Starts a run whose NameTable holds `names` ((request_type, name) by run-local id) and
  // `urls` (the static URL of each name, by run-local id; may be shorter or empty).
  // `body_cap`: bytes of a success's body and headers kept (`record_bodies`), 0 = none.
  RecordLogRun& begin_run(const std::vector<std::pair<std::string, std::string>>& names, Nanos t0,
                          std::vector<std::string> urls = {}, std::size_t body_cap = 0);
  // Forgets every run and deletes the files.
  void clear();

  // Disk cap of each later run's files (records and side files); 0 = unlimited.
  static constexpr std::uint64_t kDefaultMaxBytes = std::uint64_t{1} << 30;  // 1 GiB
  void set_max_bytes(std::uint64_t n) noexcept { max_bytes_ = n; }
  std::uint64_t max_bytes() const noexcept { return max_bytes_; }
  // True when some run kept only a sample of its records (the disk cap was reached).
  bool sampled() const noexcept;

  std::size_t runs() const noexcept { return runs_.size(); }
  std::uint64_t records() const noexcept;
  std::uint64_t dropped() const noexcept;
  std::uint64_t count(Filter f) const;  // reads the files
  const std::pair<std::string, std::string>& name(std::uint32_t id) const { return names_.at(id); }
  const std::string& directory() const noexcept { return dir_; }

  // Calls `fn` for every record of every finished run, run by run, each run in start-time
  // order; stops early when `fn` returns false. Throws std::runtime_error on a read error.
  void for_each(Filter filter, const std::function<bool(const LoggedRecord&)>& fn) const;

 private:
  std::uint32_t intern(const std::pair<std::string, std::string>& n);

  std::string dir_;
  cleanup::Guard guard_;  // a fatal second Ctrl-C removes the directory
  std::vector<std::pair<std::string, std::string>> names_;
  std::vector<std::unique_ptr<RecordLogRun>> runs_;
  std::uint64_t max_bytes_ = kDefaultMaxBytes;
};

}  // namespace ld::stats
