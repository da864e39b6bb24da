#include "stats/record_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "stats/recorder.hpp"

namespace ld::stats {

namespace fs = std::filesystem;

RecordLogWriter::RecordLogWriter(std::string path, const std::vector<std::uint32_t>* global_ids)
    : path_(std::move(path)), global_ids_(global_ids), buf_(new PackedRecord[kPerBuffer]) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    throw std::runtime_error("cannot create record log file '" + path_ +
                             "': " + std::strerror(errno));
  }
}

RecordLogWriter::~RecordLogWriter() { close(); }

void RecordLogWriter::flush() noexcept {
  if (n_ == 0) return;
  const auto* p = reinterpret_cast<const char*>(buf_.get());
  std::size_t left = n_ * sizeof(PackedRecord);
  while (left > 0 && fd_ >= 0) {
    const ssize_t w = ::write(fd_, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      break;
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  if (left == 0) {
    written_ += n_;
  } else {
    // A short write leaves a partial record at the end: cut the file back to whole records
    // and count the rest as dropped, so the reader never sees a torn record.
    const std::size_t whole = (n_ * sizeof(PackedRecord) - left) / sizeof(PackedRecord);
    written_ += whole;
    dropped_ += n_ - whole;
    if (fd_ >= 0) {
      const off_t good = static_cast<off_t>(written_ * sizeof(PackedRecord));
      if (::ftruncate(fd_, good) != 0 || ::lseek(fd_, good, SEEK_SET) < 0) {
        ::close(fd_);
        fd_ = -1;
      }
    }
  }
  n_ = 0;
}

void RecordLogWriter::close() noexcept {
  flush();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

RecordLogRun::RecordLogRun(std::string dir, std::size_t index,
                           std::vector<std::uint32_t> global_ids, Nanos t0)
    : dir_(std::move(dir)), index_(index), global_ids_(std::move(global_ids)), t0_(t0) {}

RecordLogWriter& RecordLogRun::writer(unsigned thread) {
  while (writers_.size() <= thread) {
    const std::string path = dir_ + "/run" + std::to_string(index_) + "-thread" +
                             std::to_string(writers_.size()) + ".bin";
    writers_.push_back(std::make_unique<RecordLogWriter>(path, &global_ids_));
  }
  return *writers_[thread];
}

void RecordLogRun::finish() noexcept {
  for (auto& w : writers_) w->close();
}

std::string LoggedRecord::message() const {
  if (ok()) return {};
  return error_message(ErrorKey{name_id, kind, what, code, code_is_errno});
}

RecordLog::RecordLog(const std::string& parent) {
  std::string base = parent;
  if (base.empty()) {
    const char* t = std::getenv("TMPDIR");
    base = t && *t ? t : "/tmp";
  }
  std::string templ = base + "/loaddensity-records.XXXXXX";
  if (!::mkdtemp(templ.data())) {
    throw std::runtime_error("cannot create a record log directory under '" + base +
                             "': " + std::strerror(errno));
  }
  dir_ = templ;
  guard_ = cleanup::Guard(dir_, true);
}

RecordLog::~RecordLog() {
  runs_.clear();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::uint32_t RecordLog::intern(const std::pair<std::string, std::string>& n) {
  for (std::uint32_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == n) return i;
  }
  names_.push_back(n);
  return static_cast<std::uint32_t>(names_.size() - 1);
}

RecordLogRun& RecordLog::begin_run(const std::vector<std::pair<std::string, std::string>>& names,
                                   Nanos t0) {
  std::vector<std::uint32_t> ids;
  ids.reserve(names.size());
  for (const auto& n : names) ids.push_back(intern(n));
  runs_.push_back(std::make_unique<RecordLogRun>(dir_, runs_.size(), std::move(ids), t0));
  return *runs_.back();
}

void RecordLog::clear() {
  for (auto& r : runs_) {
    r->finish();
    for (const auto& w : r->writers()) {
      std::error_code ec;
      fs::remove(w->path(), ec);
    }
  }
  runs_.clear();
  names_.clear();
}

std::uint64_t RecordLog::records() const noexcept {
  std::uint64_t n = 0;
  for (const auto& r : runs_) {
    for (const auto& w : r->writers()) n += w->written();
  }
  return n;
}

std::uint64_t RecordLog::dropped() const noexcept {
  std::uint64_t n = 0;
  for (const auto& r : runs_) {
    for (const auto& w : r->writers()) n += w->dropped();
  }
  return n;
}

std::uint64_t RecordLog::count(Filter f) const {
  if (f == Filter::kAll) return records();
  std::uint64_t n = 0;
  for_each(f, [&n](const LoggedRecord&) {
    ++n;
    return true;
  });
  return n;
}

namespace {

// Buffered sequential reader of one thread file.
class FileCursor {
 public:
  explicit FileCursor(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      throw std::runtime_error("cannot read record log file '" + path +
                               "': " + std::strerror(errno));
    }
    buf_.resize(RecordLogWriter::kPerBuffer);
    refill();
  }
  ~FileCursor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileCursor(const FileCursor&) = delete;
  FileCursor& operator=(const FileCursor&) = delete;

  bool done() const noexcept { return pos_ >= len_; }
  const PackedRecord& current() const noexcept { return buf_[pos_]; }
  void advance() {
    if (++pos_ >= len_) refill();
  }

 private:
  void refill() {
    len_ = 0;
    pos_ = 0;
    std::size_t got = 0;
    auto* p = reinterpret_cast<char*>(buf_.data());
    const std::size_t want = buf_.size() * sizeof(PackedRecord);
    while (got < want) {
      const ssize_t r = ::read(fd_, p + got, want - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("cannot read record log file '" + path_ +
                                 "': " + std::strerror(errno));
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    len_ = got / sizeof(PackedRecord);
  }

  std::string path_;
  int fd_ = -1;
  std::vector<PackedRecord> buf_;
  std::size_t len_ = 0;
  std::size_t pos_ = 0;
};

bool matches(RecordLog::Filter f, const PackedRecord& p) {
  const bool ok = p.kind == static_cast<std::uint8_t>(ErrorKind::kNone);
  switch (f) {
    case RecordLog::Filter::kAll:
      return true;
    case RecordLog::Filter::kSuccesses:
      return ok;
    case RecordLog::Filter::kFailures:
      return !ok;
  }
  return true;
}

}  // namespace

void RecordLog::for_each(Filter filter, const std::function<bool(const LoggedRecord&)>& fn) const {
  for (const auto& run : runs_) {
    std::vector<std::unique_ptr<FileCursor>> cursors;
    for (const auto& w : run->writers()) cursors.push_back(std::make_unique<FileCursor>(w->path()));
    for (;;) {
      // k-way merge by start time; a handful of threads, so a linear scan is the cheapest.
      std::size_t best = cursors.size();
      for (std::size_t i = 0; i < cursors.size(); ++i) {
        if (cursors[i]->done()) continue;
        if (best == cursors.size() ||
            cursors[i]->current().start < cursors[best]->current().start) {
          best = i;
        }
      }
      if (best == cursors.size()) break;
      const PackedRecord p = cursors[best]->current();
      const RecordLogWriter& w = *run->writers()[best];
      cursors[best]->advance();
      if (!matches(filter, p)) continue;
      LoggedRecord r;
      r.run = run->index();
      static const std::string kUnknown = "unknown";
      r.name_id = p.name;
      r.request_type = p.name < names_.size() ? &names_[p.name].first : &kUnknown;
      r.name = p.name < names_.size() ? &names_[p.name].second : &kUnknown;
      r.offset = p.planned - run->t0();
      r.latency = p.end - p.planned;
      r.service = p.end - p.start;
      r.status = p.status;
      r.bytes_in = p.bytes_in;
      r.bytes_out = p.bytes_out;
      r.kind = p.kind < kErrorKindCount ? static_cast<ErrorKind>(p.kind) : ErrorKind::kOther;
      r.what = w.message(p.what);
      r.code = p.code;
      r.code_is_errno = p.flags & 1;
      if (!fn(r)) return;
    }
  }
}

}  // namespace ld::stats
