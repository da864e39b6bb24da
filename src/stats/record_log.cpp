#include "stats/record_log.hpp"

#include <algorithm>

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

RecordLogWriter::RecordLogWriter(std::string path, const std::vector<std::uint32_t>* global_ids,
                                 RecordLogBudget* budget)
    : path_(std::move(path)),
      global_ids_(global_ids),
      buf_(new PackedRecord[kPerBuffer]),
      blob_path_(path_ + ".blob"),
      blob_buf_(new char[kBlobBytes]),
      budget_(budget) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    throw std::runtime_error("cannot create record log file '" + path_ +
                             "': " + std::strerror(errno));
  }
  blob_fd_ = ::open(blob_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (blob_fd_ < 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("cannot create record log file '" + blob_path_ +
                             "': " + std::strerror(e));
  }
}

void RecordLogWriter::put_blob(const Record& r, PackedRecord& p) noexcept {
  const std::size_t ul = r.url.size() < kMaxUrl ? r.url.size() : kMaxUrl;
  const std::size_t text_cap = r.ok() ? body_cap_ : kMaxText;
  const std::size_t tl = r.text.size() < text_cap ? r.text.size() : text_cap;
  std::size_t hl = 0;
  if (r.ok()) hl = r.headers.size() < body_cap_ ? r.headers.size() : body_cap_;
  if (ul + tl + hl == 0) return;
  if (blob_n_ + ul + tl + hl > kBlobBytes) flush_blob();
  p.blob = blob_written_ + blob_n_;
  char* at = blob_buf_.get() + blob_n_;
  if (ul) std::memcpy(at, r.url.data(), ul);
  if (tl) std::memcpy(at + ul, r.text.data(), tl);
  if (hl) std::memcpy(at + ul + tl, r.headers.data(), hl);
  blob_n_ += ul + tl + hl;
  p.url_len = static_cast<std::uint32_t>(ul);
  p.text_len = static_cast<std::uint16_t>(tl);
  p.headers_len = static_cast<std::uint16_t>(hl);
}

void RecordLogWriter::flush_blob() noexcept {
  // Written at its logical offset, so a failed write loses only its own bytes (the reader
  // then finds them short and reports empty text) and never shifts later records' offsets.
  std::size_t done = 0;
  while (done < blob_n_ && blob_fd_ >= 0) {
    const ssize_t w = ::pwrite(blob_fd_, blob_buf_.get() + done, blob_n_ - done,
                               static_cast<off_t>(blob_written_ + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      break;
    }
    done += static_cast<std::size_t>(w);
  }
  blob_written_ += blob_n_;
  if (budget_) budget_->add(blob_n_);
  blob_n_ = 0;
}

RecordLogWriter::~RecordLogWriter() { close(); }

void RecordLogWriter::flush() noexcept {
  flush_blob();
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
  if (budget_) budget_->add(n_ * sizeof(PackedRecord) - left);
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
  if (blob_fd_ >= 0) ::close(blob_fd_);
  blob_fd_ = -1;
}

RecordLogRun::RecordLogRun(std::string dir, std::size_t index,
                           std::vector<std::uint32_t> global_ids, Nanos t0,
                           std::vector<std::string> urls, std::uint64_t max_bytes,
                           std::size_t body_cap)
    : dir_(std::move(dir)),
      index_(index),
      global_ids_(std::make_shared<const std::vector<std::uint32_t>>(std::move(global_ids))),
      t0_(t0),
      body_cap_(body_cap < kRecordBodiesMax ? body_cap : kRecordBodiesMax) {
  budget_->max_bytes = max_bytes;
  for (std::size_t local = 0; local < urls.size() && local < global_ids_->size(); ++local) {
    const std::uint32_t g = (*global_ids_)[local];
    if (urls_.size() <= g) urls_.resize(g + 1);
    if (urls_[g].empty()) urls_[g] = std::move(urls[local]);
  }
}

const std::string& RecordLogRun::url(std::uint32_t global_id) const noexcept {
  static const std::string kNone;
  return global_id < urls_.size() ? urls_[global_id] : kNone;
}

RecordLogWriter& RecordLogRun::writer(unsigned thread) {
  while (writers_.size() <= thread) {
    const std::string path = dir_ + "/run" + std::to_string(index_) + "-thread" +
                             std::to_string(writers_.size()) + ".bin";
    writers_.push_back(std::make_unique<RecordLogWriter>(path, global_ids_.get(), budget_.get()));
    writers_.back()->set_body_cap(body_cap_);
  }
  return *writers_[thread];
}

std::shared_ptr<void> RecordLogRun::abandon(const RecordLogWriter& w) {
  auto it =
      std::find_if(writers_.begin(), writers_.end(), [&](const auto& p) { return p.get() == &w; });
  if (it == writers_.end()) return nullptr;
  struct Kept {  // the writer is destroyed first (members go in reverse order)
    std::shared_ptr<const std::vector<std::uint32_t>> ids;
    std::shared_ptr<RecordLogBudget> budget;
    std::unique_ptr<RecordLogWriter> writer;
  };
  auto kept = std::make_shared<Kept>(Kept{global_ids_, budget_, std::move(*it)});
  writers_.erase(it);
  return kept;
}

void RecordLogRun::finish() noexcept {
  for (auto& w : writers_) w->close();
}

std::uint64_t RecordLogRun::sampled_out() const noexcept {
  std::uint64_t n = 0;
  for (const auto& w : writers_) n += w->sampled_out();
  return n;
}

bool RecordLog::sampled() const noexcept {
  for (const auto& r : runs_) {
    if (r->sample_every() > 1) return true;
  }
  return false;
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
                                   Nanos t0, std::vector<std::string> urls,
                                   std::size_t body_cap) {
  std::vector<std::uint32_t> ids;
  ids.reserve(names.size());
  for (const auto& n : names) ids.push_back(intern(n));
  runs_.push_back(std::make_unique<RecordLogRun>(dir_, runs_.size(), std::move(ids), t0,
                                                 std::move(urls), max_bytes_, body_cap));
  return *runs_.back();
}

void RecordLog::clear() {
  for (auto& r : runs_) {
    r->finish();
    for (const auto& w : r->writers()) {
      std::error_code ec;
      fs::remove(w->path(), ec);
      fs::remove(w->blob_path(), ec);
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

// Random access to one writer's blob file (absent or short: reads come back short).
class BlobFile {
 public:
  explicit BlobFile(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~BlobFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  BlobFile(BlobFile&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  BlobFile(const BlobFile&) = delete;
  BlobFile& operator=(const BlobFile&) = delete;
  BlobFile& operator=(BlobFile&&) = delete;

  void read(std::uint64_t offset, std::size_t len, std::string& out) const {
    out.resize(len);
    std::size_t got = 0;
    while (got < len && fd_ >= 0) {
      const ssize_t r = ::pread(fd_, out.data() + got, len - got, static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
  }

 private:
  int fd_ = -1;
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
    std::vector<BlobFile> blobs;
    blobs.reserve(run->writers().size());
    for (const auto& w : run->writers()) {
      cursors.push_back(std::make_unique<FileCursor>(w->path()));
      blobs.emplace_back(w->blob_path());
    }
    std::string blob;
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
      r.url = run->url(p.name);
      const std::size_t blob_len = p.url_len + std::size_t{p.text_len} + p.headers_len;
      if (blob_len) {
        blobs[best].read(p.blob, blob_len, blob);
        if (blob.size() == blob_len) {
          const std::string_view b(blob);
          if (p.url_len) r.url = b.substr(0, p.url_len);
          r.text = b.substr(p.url_len, p.text_len);
          r.headers = b.substr(p.url_len + p.text_len);
        }
      }
      if (!fn(r)) return;
    }
  }
}

}  // namespace ld::stats
