#pragma once
// Private to ld_target: a MongoDB wire-protocol responder answering from in-memory collections,
// so mongo_user examples and tests run offline (no MongoDB server is packaged for Debian 12).
// It speaks OP_MSG and the legacy OP_QUERY command form drivers use for their first handshake,
// and answers: hello / isMaster, ping, buildInfo, insert, find (filter, sort, skip, limit,
// batchSize, singleBatch) with getMore and killCursors, update (operators $set $inc $unset, a
// replacement document, upsert, multi), delete (limit 1 or 0), count, aggregate with the
// pipelines drivers send for count_documents ($match, $skip, $limit, $group {_id, n: {$sum: 1}},
// $count), drop, dropDatabase, endSessions. Filters: equality and $eq $ne $gt $gte $lt $lte $in
// $nin $exists on top-level and dotted fields (an array matches when an element does), $and
// $or $nor. It is not MongoDB: no indexes but _id, no transactions, no authentication.
//
// The store lives on the io_context it is given (one thread: no locks) and is bounded:
// kMaxBytes of documents and kMaxDocuments documents (an insert past that fails with a write
// error, code 14031 as a full disk would), kMaxCursors open cursors (the oldest is dropped).
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <bson/bson.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ld::target {

// True when `doc` matches the query `filter`; false with `error` set when the filter uses an
// operator the responder does not know.
bool mongo_matches(const bson_t* doc, const bson_t* filter, std::string* error = nullptr);

class MongoStore {
 public:
  static constexpr std::size_t kMaxBytes = 64u << 20;
  static constexpr std::size_t kMaxDocuments = 1'000'000;
  static constexpr std::size_t kMaxCursors = 1'000;

  MongoStore();
  ~MongoStore();
  MongoStore(const MongoStore&) = delete;
  MongoStore& operator=(const MongoStore&) = delete;

  // Runs one command (its body with any document sequences appended as arrays) against the
  // database `$db` names and writes the reply document into `reply` (initialised by the caller).
  void run(const bson_t* command, bson_t* reply);
  // Handles one wire message (header included) and appends the reply message, if any, to
  // `out`. Returns false when the message is malformed (the connection should be closed).
  bool handle(std::string_view message, std::string& out);

  std::size_t bytes() const noexcept;
  std::size_t documents() const noexcept;
  std::size_t cursors() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class MongoServer {
 public:
  // Binds the listener (port 0 = a free port); throws std::runtime_error on failure.
  MongoServer(boost::asio::io_context& io, const boost::asio::ip::address& address,
              std::uint16_t port);
  ~MongoServer();
  MongoServer(const MongoServer&) = delete;
  MongoServer& operator=(const MongoServer&) = delete;

  void start();           // spawns the accept loop
  void close() noexcept;  // closes every socket; call on the io_context's thread
  std::uint16_t port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ld::target
