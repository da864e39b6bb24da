// The per-request record log and the histogram serialisation.
#include "stats/record_log.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "loaddensity/stats/histogram.hpp"

namespace ld::stats {
namespace {

TEST(RecordLogTest, RecordsSurviveBufferFlushesAndMergeByStartTime) {
  RecordLog log;
  const std::vector<std::pair<std::string, std::string>> names = {{"GET", "a"}, {"POST", "b"}};
  RecordLogRun& run = log.begin_run(names, 1000);
  static const char* kWhat = "boom";
  const int per_thread = 3 * static_cast<int>(RecordLogWriter::kPerBuffer) + 17;
  for (int t = 0; t < 3; ++t) {
    for (int i = 0; i < per_thread; ++i) {
      Record r;
      r.name_id = (i + t) % 2;
      r.planned = 1000 + i * 3 + t;  // interleaved across threads
      r.start = r.planned;
      r.end = r.start + 500;
      r.status = 200;
      r.bytes_in = 7;
      if (i % 5 == 0) r.error = {ErrorKind::kAssertion, kWhat, 0, false};
      run.writer(t).append(r);
    }
  }
  run.finish();
  EXPECT_EQ(log.records(), 3u * per_thread);
  EXPECT_EQ(log.dropped(), 0u);
  Nanos last = -1;
  std::uint64_t n = 0, failures = 0;
  log.for_each(RecordLog::Filter::kAll, [&](const LoggedRecord& r) {
    EXPECT_GE(r.offset, last);  // merged in start order across the thread files
    last = r.offset;
    EXPECT_EQ(r.latency, 500);
    EXPECT_EQ(*r.name, r.name_id == 0 ? "a" : "b");
    if (!r.ok()) {
      ++failures;
      EXPECT_EQ(r.message(), "boom");
    }
    ++n;
    return true;
  });
  EXPECT_EQ(n, 3u * per_thread);
  EXPECT_EQ(failures, log.count(RecordLog::Filter::kFailures));
  EXPECT_EQ(log.count(RecordLog::Filter::kSuccesses) + failures, n);
}

TEST(RecordLogTest, RunsMapNamesToOneTableAndClearRemovesFiles) {
  RecordLog log;
  RecordLogRun& r1 = log.begin_run({{"GET", "x"}}, 0);
  Record rec;
  rec.end = 10;
  r1.writer(0).append(rec);
  r1.finish();
  RecordLogRun& r2 = log.begin_run({{"GET", "y"}, {"GET", "x"}}, 0);
  rec.name_id = 1;  // "x" again, under another local id
  r2.writer(0).append(rec);
  r2.finish();
  std::vector<std::string> seen;
  log.for_each(RecordLog::Filter::kAll, [&](const LoggedRecord& r) {
    seen.push_back(std::to_string(r.run) + ":" + *r.name);
    return true;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"0:x", "1:x"}));
  const std::string path = r1.writers()[0]->path();
  EXPECT_TRUE(std::filesystem::exists(path));
  log.clear();
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(log.records(), 0u);
}

TEST(RecordLogTest, UrlsAndFailureTextSurviveBlobFlushes) {
  RecordLog log;
  // Name 0 has a static URL for the run; name 1 has none.
  RecordLogRun& run = log.begin_run({{"GET", "a"}, {"GET", "b"}}, 0, {"http://h/static"});
  const int n = 3 * static_cast<int>(RecordLogWriter::kPerBuffer);  // several blob flushes
  const std::string big(3000, 'x');                                 // cut to 1 KiB
  std::string url, text;
  for (int i = 0; i < n; ++i) {
    Record r;
    r.name_id = i % 2;
    r.start = r.planned = i;
    r.end = i + 1;
    if (i % 3 == 0) {
      url = "http://h/item/" + std::to_string(i);
      r.url = url;
    }
    if (i % 5 == 0) {
      r.error = {ErrorKind::kHttpStatus, "HTTP", 500, false};
      text = std::to_string(i) + big;
      r.text = text;
    } else {
      r.text = "success text is not kept";
    }
    run.writer(0).append(r);
    url.assign(url.size(), '#');  // the writer copied it: the caller may reuse its buffer
    text.assign(text.size(), '#');
  }
  run.finish();
  int i = 0;
  log.for_each(RecordLog::Filter::kAll, [&](const LoggedRecord& r) {
    if (i % 3 == 0) {
      EXPECT_EQ(r.url, "http://h/item/" + std::to_string(i)) << i;
    } else {
      EXPECT_EQ(r.url, i % 2 == 0 ? "http://h/static" : "") << i;
    }
    if (i % 5 == 0) {
      EXPECT_EQ(r.text.size(), RecordLogWriter::kMaxText) << i;
      EXPECT_EQ(r.text, (std::to_string(i) + big).substr(0, RecordLogWriter::kMaxText)) << i;
    } else {
      EXPECT_EQ(r.text, "") << i;
    }
    ++i;
    return true;
  });
  EXPECT_EQ(i, n);
  const std::string blob = run.writers()[0]->blob_path();
  EXPECT_TRUE(std::filesystem::exists(blob));
  log.clear();
  EXPECT_FALSE(std::filesystem::exists(blob));
}

TEST(RecordLogTest, RecordBodiesKeepsSuccessBodiesAndHeadersUpToTheCap) {
  RecordLog log;
  // body_cap 8: a success keeps 8 bytes of body and of headers; a failure still keeps 1 KiB.
  RecordLogRun& run = log.begin_run({{"GET", "a"}}, 0, {"http://h/"}, 8);
  const std::string long_text(2000, 'f');
  for (int i = 0; i < 3; ++i) {
    Record r;
    r.start = r.planned = i;
    r.end = i + 1;
    if (i == 0) {
      r.text = "0123456789abcdef";
      r.headers = "HTTP/1.1 200 OK\r\n";
    } else if (i == 1) {
      r.headers = "X: y\r\n";  // headers only (an empty body)
    } else {
      r.error = {ErrorKind::kHttpStatus, "HTTP", 500, false};
      r.text = long_text;
      r.headers = "never kept for a failure";
    }
    run.writer(0).append(r);
  }
  run.finish();
  std::vector<std::pair<std::string, std::string>> got;
  log.for_each(RecordLog::Filter::kAll, [&](const LoggedRecord& r) {
    got.emplace_back(std::string(r.text), std::string(r.headers));
    EXPECT_EQ(r.url, "http://h/");
    return true;
  });
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], std::make_pair(std::string("01234567"), std::string("HTTP/1.1")));
  EXPECT_EQ(got[1], std::make_pair(std::string(""), std::string("X: y\r\n")));
  EXPECT_EQ(got[2].first, long_text.substr(0, RecordLogWriter::kMaxText));
  EXPECT_EQ(got[2].second, "");
}

TEST(RecordLogTest, DiskCapSamplesRecordsAndKeepsFilesNearTheCap) {
  RecordLog log;
  const std::uint64_t cap = 2 * 1024 * 1024;
  log.set_max_bytes(cap);
  RecordLogRun& run = log.begin_run({{"GET", "a"}}, 0);
  const int n = 400000;  // 25.6 MB unsampled
  for (int i = 0; i < n; ++i) {
    Record r;
    r.start = r.planned = i;
    r.end = i + 1;
    run.writer(i % 2).append(r);
  }
  run.finish();
  EXPECT_TRUE(log.sampled());
  EXPECT_GE(run.sample_every(), 8u);
  EXPECT_EQ(log.records() + run.sampled_out(), static_cast<std::uint64_t>(n));
  std::uint64_t bytes = 0;
  for (const auto& w : run.writers()) bytes += std::filesystem::file_size(w->path());
  // Near the cap: past it, one minimum stage per doubling of the requests.
  EXPECT_LE(bytes, cap + 4 * RecordLogBudget::kMinStage);
  EXPECT_GE(bytes, cap / 2);
  // The kept records are spread over the run, not just its beginning.
  Nanos last = 0;
  log.for_each(RecordLog::Filter::kAll, [&](const LoggedRecord& r) {
    last = r.offset;
    return true;
  });
  EXPECT_GT(last, n - 1000);

  // Without a cap (0) every record is kept.
  log.clear();
  log.set_max_bytes(0);
  RecordLogRun& all = log.begin_run({{"GET", "a"}}, 0);
  for (int i = 0; i < 50000; ++i) {
    Record r;
    all.writer(0).append(r);
  }
  all.finish();
  EXPECT_FALSE(log.sampled());
  EXPECT_EQ(log.records(), 50000u);
}

TEST(RecordLogTest, DirectoryIsRemovedWithTheLog) {
  std::string dir;
  {
    RecordLog log;
    dir = log.directory();
    log.begin_run({{"GET", "x"}}, 0).writer(0).append(Record{});
    EXPECT_TRUE(std::filesystem::is_directory(dir));
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(HistogramEncodingTest, DecodeRestoresAnIdenticalHistogram) {
  Histogram h;
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(13, 1.5);
  for (int i = 0; i < 20000; ++i) h.record(static_cast<std::int64_t>(d(rng)));
  const Histogram back = Histogram::decode(h.encode());
  EXPECT_EQ(back.count(), h.count());
  EXPECT_EQ(back.min(), h.min());
  EXPECT_EQ(back.max(), h.max());
  EXPECT_DOUBLE_EQ(back.mean(), h.mean());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(back.percentile(p), h.percentile(p));
  EXPECT_LT(h.encode().size(), 4000u);  // sparse: far below the 40 KiB bucket array
  EXPECT_EQ(Histogram::decode(Histogram().encode()).count(), 0u);
}

TEST(HistogramEncodingTest, MalformedInputIsRejected) {
  Histogram h;
  h.record(12345);
  std::string bytes = h.encode();
  EXPECT_THROW(Histogram::decode(""), std::invalid_argument);
  EXPECT_THROW(Histogram::decode(bytes.substr(0, 5)), std::invalid_argument);
  bytes[1] = 9;  // count no longer matches the buckets
  EXPECT_THROW(Histogram::decode(bytes), std::invalid_argument);
}

}  // namespace
}  // namespace ld::stats
