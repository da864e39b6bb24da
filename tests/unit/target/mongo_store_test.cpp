// The embedded target's MongoDB responder: filter matching (equality, operators, dotted paths,
// arrays), the commands drivers send (insert, find with sort/limit/batches + getMore, update
// operators and upserts, delete, the count pipelines), the OP_MSG / OP_QUERY framing, and the
// store's bound.
#include <gtest/gtest.h>

#include <bson/bson.h>

#include <cstring>
#include <string>

#include "target/mongo_server.hpp"

namespace ld::target {
namespace {

// A BSON document from relaxed extended JSON (owned).
struct Doc {
  explicit Doc(const std::string& json) {
    bson_error_t e;
    b = bson_new_from_json(reinterpret_cast<const uint8_t*>(json.data()),
                           static_cast<ssize_t>(json.size()), &e);
    EXPECT_NE(b, nullptr) << json << ": " << e.message;
  }
  Doc() : b(bson_new()) {}
  ~Doc() { bson_destroy(b); }
  std::string json() const {
    char* s = bson_as_relaxed_extended_json(b, nullptr);
    std::string out = s;
    bson_free(s);
    return out;
  }
  bson_t* b;
};

bool matches(const std::string& doc, const std::string& filter) {
  Doc d(doc), f(filter);
  std::string error;
  const bool m = mongo_matches(d.b, f.b, &error);
  EXPECT_EQ(error, "") << filter;
  return m;
}

TEST(MongoMatch, EqualityAndOperators) {
  const std::string doc =
      R"({"name": "ada", "age": 36, "score": 7.5, "tags": ["a", "b"], "addr": {"city": "London",
          "zip": 1}, "items": [{"sku": "x", "qty": 2}, {"sku": "y", "qty": 5}], "none": null})";
  EXPECT_TRUE(matches(doc, "{}"));
  EXPECT_TRUE(matches(doc, R"({"name": "ada"})"));
  EXPECT_FALSE(matches(doc, R"({"name": "bob"})"));
  EXPECT_TRUE(matches(doc, R"({"age": 36.0})"));  // numbers compare across types
  EXPECT_FALSE(matches(doc, R"({"age": "36"})"));
  EXPECT_TRUE(matches(doc, R"({"age": {"$gt": 30, "$lte": 36}})"));
  EXPECT_FALSE(matches(doc, R"({"age": {"$lt": 36}})"));
  EXPECT_FALSE(matches(doc, R"({"name": {"$gt": 5}})"));  // type bracketing
  EXPECT_TRUE(matches(doc, R"({"name": {"$gte": "ad"}})"));
  EXPECT_TRUE(matches(doc, R"({"age": {"$ne": 5}, "name": {"$eq": "ada"}})"));
  EXPECT_TRUE(matches(doc, R"({"age": {"$in": [1, 36]}})"));
  EXPECT_FALSE(matches(doc, R"({"age": {"$nin": [1, 36]}})"));
  EXPECT_TRUE(matches(doc, R"({"addr.city": "London"})"));
  EXPECT_TRUE(matches(doc, R"({"addr.zip": {"$exists": true}, "addr.x": {"$exists": false}})"));
  EXPECT_FALSE(matches(doc, R"({"missing": {"$exists": true}})"));
  EXPECT_TRUE(matches(doc, R"({"tags": "b"})"));              // an element matches
  EXPECT_TRUE(matches(doc, R"({"tags": ["a", "b"]})"));       // the whole array
  EXPECT_TRUE(matches(doc, R"({"items.qty": {"$gt": 4}})"));  // through an array of documents
  EXPECT_TRUE(matches(doc, R"({"items.1.sku": "y"})"));
  EXPECT_TRUE(matches(doc, R"({"missing": null, "none": null})"));
  EXPECT_FALSE(matches(doc, R"({"name": null})"));
  EXPECT_TRUE(matches(doc, R"({"$or": [{"name": "bob"}, {"age": 36}]})"));
  EXPECT_FALSE(matches(doc, R"({"$and": [{"name": "ada"}, {"age": 1}]})"));
  EXPECT_TRUE(matches(doc, R"({"$nor": [{"name": "bob"}]})"));
  Doc d(doc), f(R"({"age": {"$size": 2}})");
  std::string error;
  EXPECT_FALSE(mongo_matches(d.b, f.b, &error));
  EXPECT_EQ(error, "unknown operator: $size");
}

// Runs a command and returns the reply as relaxed JSON.
std::string run(MongoStore& s, const std::string& cmd) {
  Doc c(cmd), reply;
  s.run(c.b, reply.b);
  return reply.json();
}

TEST(MongoStore, CrudAndCursors) {
  MongoStore s;
  EXPECT_EQ(run(s, R"({"insert": "u", "documents": [{"_id": 1, "n": "a", "v": 3},
                      {"_id": 2, "n": "b", "v": 1}, {"_id": 3, "n": "c", "v": 2}], "$db": "t"})"),
            R"({ "n" : 3, "ok" : 1.0 })");
  EXPECT_EQ(s.documents(), 3u);
  // A duplicate _id is a write error; an ordered insert stops there.
  EXPECT_NE(run(s, R"({"insert": "u", "documents": [{"_id": 1}, {"_id": 9}], "$db": "t"})")
                .find(R"("code" : 11000)"),
            std::string::npos);
  EXPECT_EQ(s.documents(), 3u);
  EXPECT_EQ(run(s, R"({"find": "u", "filter": {"v": {"$gte": 2}}, "sort": {"v": -1},
                      "projection": {"n": 1}, "$db": "t"})"),
            R"({ "cursor" : { "firstBatch" : [ { "_id" : 1, "n" : "a", "v" : 3 }, )"
            R"({ "_id" : 3, "n" : "c", "v" : 2 } ], "id" : 0, "ns" : "t.u" }, "ok" : 1.0 })");
  // batchSize 1: a cursor (ids count up; the find above needed none), then getMore batches
  // until id 0.
  std::string r = run(s, R"({"find": "u", "batchSize": 1, "$db": "t"})");
  EXPECT_NE(r.find(R"("firstBatch" : [ { "_id" : 1)"), std::string::npos) << r;
  EXPECT_NE(r.find(R"("id" : 2,)"), std::string::npos) << r;
  EXPECT_EQ(s.cursors(), 1u);
  r = run(s, R"({"getMore": {"$numberLong": "2"}, "collection": "u", "batchSize": 1, "$db": "t"})");
  EXPECT_NE(r.find(R"("nextBatch" : [ { "_id" : 2)"), std::string::npos) << r;
  r = run(s, R"({"getMore": {"$numberLong": "2"}, "collection": "u", "$db": "t"})");
  EXPECT_NE(r.find(R"("nextBatch" : [ { "_id" : 3, "n" : "c", "v" : 2 } ], "id" : 0)"),
            std::string::npos)
      << r;
  EXPECT_EQ(s.cursors(), 0u);
  r = run(s, R"({"getMore": {"$numberLong": "2"}, "collection": "u", "$db": "t"})");
  EXPECT_NE(r.find("CursorNotFound"), std::string::npos) << r;
  run(s, R"({"find": "u", "batchSize": 1, "$db": "t"})");
  r = run(s, R"({"killCursors": "u", "cursors": [{"$numberLong": "3"}, {"$numberLong": "77"}],
                 "$db": "t"})");
  EXPECT_NE(r.find(R"("cursorsKilled" : [ 3 ], "cursorsNotFound" : [ 77 ])"), std::string::npos)
      << r;
  // limit and skip
  r = run(s, R"({"find": "u", "skip": 1, "limit": 1, "singleBatch": true, "$db": "t"})");
  EXPECT_NE(r.find(R"("firstBatch" : [ { "_id" : 2, "n" : "b", "v" : 1 } ], "id" : 0)"),
            std::string::npos)
      << r;
  // Updates: operators, dotted paths, replacement, upsert.
  EXPECT_EQ(run(s, R"({"update": "u", "updates": [{"q": {"_id": 1},
                      "u": {"$set": {"n": "A", "d.e": true}, "$inc": {"v": 2}, "$unset": {"x": ""}}}],
                      "$db": "t"})"),
            R"({ "n" : 1, "nModified" : 1, "ok" : 1.0 })");
  EXPECT_EQ(run(s, R"({"find": "u", "filter": {"_id": 1}, "$db": "t"})"),
            R"({ "cursor" : { "firstBatch" : [ { "_id" : 1, "n" : "A", "v" : 5, )"
            R"("d" : { "e" : true } } ], "id" : 0, "ns" : "t.u" }, "ok" : 1.0 })");
  EXPECT_EQ(run(s, R"({"update": "u", "updates": [{"q": {"_id": 2}, "u": {"n": "B"}}], "$db": "t"})"),
            R"({ "n" : 1, "nModified" : 1, "ok" : 1.0 })");
  EXPECT_NE(run(s, R"({"find": "u", "filter": {"_id": 2}, "$db": "t"})")
                .find(R"([ { "_id" : 2, "n" : "B" } ])"),
            std::string::npos);
  r = run(s, R"({"update": "u", "updates": [{"q": {"k": "new"}, "u": {"$inc": {"c": 1}},
                 "upsert": true}], "$db": "t"})");
  EXPECT_NE(r.find(R"("n" : 1, "nModified" : 0, "upserted" : [ { "index" : 0, "_id" : { "$oid")"),
            std::string::npos)
      << r;
  EXPECT_NE(run(s, R"({"find": "u", "filter": {"k": "new", "c": 1}, "$db": "t"})").find(R"("k" : "new")"),
            std::string::npos);
  r = run(s, R"({"update": "u", "updates": [{"q": {"_id": 3}, "u": {"$inc": {"n": 1}}}], "$db": "t"})");
  EXPECT_NE(r.find("writeErrors"), std::string::npos) << r;
  // The count pipelines (libmongoc's and pymongo's count_documents) and count.
  EXPECT_EQ(run(s, R"({"aggregate": "u", "pipeline": [{"$match": {"v": {"$exists": true}}},
                      {"$group": {"_id": 1, "n": {"$sum": 1}}}], "cursor": {}, "$db": "t"})"),
            R"({ "cursor" : { "firstBatch" : [ { "_id" : 1, "n" : 2 } ], "id" : 0, "ns" : "t.u" }, )"
            R"("ok" : 1.0 })");
  EXPECT_NE(run(s, R"({"aggregate": "u", "pipeline": [{"$count": "total"}], "cursor": {}, "$db": "t"})")
                .find(R"([ { "total" : 4 } ])"),
            std::string::npos);
  EXPECT_EQ(run(s, R"({"count": "u", "query": {"_id": {"$lt": 3}}, "$db": "t"})"),
            R"({ "n" : 2, "ok" : 1.0 })");
  // Delete one, delete all.
  EXPECT_EQ(run(s, R"({"delete": "u", "deletes": [{"q": {}, "limit": 1}], "$db": "t"})"),
            R"({ "n" : 1, "ok" : 1.0 })");
  EXPECT_EQ(run(s, R"({"delete": "u", "deletes": [{"q": {}, "limit": 0}], "$db": "t"})"),
            R"({ "n" : 3, "ok" : 1.0 })");
  EXPECT_EQ(s.documents(), 0u);
  EXPECT_EQ(s.bytes(), 0u);
  EXPECT_NE(run(s, R"({"fsync": 1, "$db": "admin"})").find("CommandNotFound"), std::string::npos);
}

// Frames an OP_MSG with one body section (and a document sequence when `seq` is given).
std::string op_msg(const std::string& body_json, const std::string& seq_name = "",
                   const std::string& seq_doc = "") {
  Doc body(body_json);
  std::string m(16, '\0');
  const std::int32_t op = 2013, id = 7;
  std::memcpy(&m[4], &id, 4);
  std::memcpy(&m[12], &op, 4);
  m.append(4, '\0');
  m += '\0';
  m.append(reinterpret_cast<const char*>(bson_get_data(body.b)), body.b->len);
  if (!seq_name.empty()) {
    Doc d(seq_doc);
    m += '\1';
    const std::int32_t size = 4 + static_cast<std::int32_t>(seq_name.size()) + 1 + d.b->len;
    m.append(reinterpret_cast<const char*>(&size), 4);
    m += seq_name;
    m += '\0';
    m.append(reinterpret_cast<const char*>(bson_get_data(d.b)), d.b->len);
  }
  const auto len = static_cast<std::int32_t>(m.size());
  std::memcpy(&m[0], &len, 4);
  return m;
}

std::string reply_json(const std::string& reply, std::size_t body_at) {
  bson_t b;
  EXPECT_TRUE(bson_init_static(&b, reinterpret_cast<const uint8_t*>(reply.data() + body_at),
                               reply.size() - body_at));
  char* s = bson_as_relaxed_extended_json(&b, nullptr);
  std::string out = s;
  bson_free(s);
  return out;
}

TEST(MongoStore, WireFraming) {
  MongoStore s;
  std::string out;
  // OP_MSG with the documents in a kind-1 sequence, as drivers send inserts.
  ASSERT_TRUE(s.handle(op_msg(R"({"insert": "c", "$db": "d"})", "documents", R"({"x": 1})"), out));
  std::int32_t len, to, op;
  std::memcpy(&len, out.data(), 4);
  std::memcpy(&to, out.data() + 8, 4);
  std::memcpy(&op, out.data() + 12, 4);
  EXPECT_EQ(static_cast<std::size_t>(len), out.size());
  EXPECT_EQ(to, 7);
  EXPECT_EQ(op, 2013);
  EXPECT_EQ(reply_json(out, 21), R"({ "n" : 1, "ok" : 1.0 })");
  EXPECT_EQ(s.documents(), 1u);
  // The legacy OP_QUERY handshake: isMaster on admin.$cmd answered with OP_REPLY.
  Doc q(R"({"isMaster": 1, "helloOk": true})");
  std::string m(16, '\0');
  const std::int32_t qop = 2004;
  std::memcpy(&m[12], &qop, 4);
  m.append(4, '\0');
  m += "admin.$cmd";
  m += '\0';
  m.append(8, '\0');
  m.append(reinterpret_cast<const char*>(bson_get_data(q.b)), q.b->len);
  const auto mlen = static_cast<std::int32_t>(m.size());
  std::memcpy(&m[0], &mlen, 4);
  out.clear();
  ASSERT_TRUE(s.handle(m, out));
  std::memcpy(&op, out.data() + 12, 4);
  EXPECT_EQ(op, 1);
  const std::string hello = reply_json(out, 36);
  EXPECT_NE(hello.find(R"("ismaster" : true)"), std::string::npos) << hello;
  EXPECT_NE(hello.find(R"("maxWireVersion" : 13)"), std::string::npos) << hello;
  // Garbage is refused (the connection closes).
  out.clear();
  EXPECT_FALSE(s.handle(std::string(20, '\x01'), out));
}

TEST(MongoStore, BoundedStore) {
  MongoStore s;
  const std::string big(1 << 20, 'x');
  std::size_t inserted = 0;
  for (int i = 0; i < 80; ++i) {
    Doc reply;
    bson_t* cmd = BCON_NEW("insert", BCON_UTF8("c"), "$db", BCON_UTF8("d"), "documents", "[", "{",
                           "p", BCON_UTF8(big.c_str()), "}", "]");
    s.run(cmd, reply.b);
    bson_destroy(cmd);
    if (reply.json().find("writeErrors") == std::string::npos) ++inserted;
  }
  EXPECT_LT(inserted, 80u);
  EXPECT_LE(s.bytes(), MongoStore::kMaxBytes);
  EXPECT_EQ(s.documents(), inserted);
}

}  // namespace
}  // namespace ld::target
