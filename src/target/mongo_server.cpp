// The embedded target's MongoDB wire-protocol responder and its bounded in-memory store.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include "target/mongo_server.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "target/listener.hpp"

namespace ld::target {

namespace net = boost::asio;
using boost::system::error_code;
using tcp = net::ip::tcp;

namespace {

constexpr std::int32_t kOpReply = 1;
constexpr std::int32_t kOpQuery = 2004;
constexpr std::int32_t kOpMsg = 2013;
constexpr std::uint32_t kChecksumPresent = 1u << 0;
constexpr std::uint32_t kMoreToCome = 1u << 1;
constexpr std::size_t kMaxMessage = 48'000'000;  // maxMessageSizeBytes, as MongoDB says
constexpr std::int32_t kMaxBson = 16 * 1024 * 1024;
constexpr std::size_t kDefaultBatch = 101;  // MongoDB's first batch without batchSize
constexpr std::size_t kDocOverhead = 64;    // counted per stored document

std::int32_t read_i32(const char* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return v;  // little-endian hosts (x86-64, arm64)
}
void put_i32(std::string& out, std::int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void put_i64(std::string& out, std::int64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }

// --- values -------------------------------------------------------------------------------

// MongoDB's order of type classes for comparison and sorting.
int type_class(bson_type_t t) {
  switch (t) {
    case BSON_TYPE_MINKEY: return 0;
    case BSON_TYPE_UNDEFINED:
    case BSON_TYPE_NULL: return 1;
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128: return 2;
    case BSON_TYPE_SYMBOL:
    case BSON_TYPE_UTF8: return 3;
    case BSON_TYPE_DOCUMENT: return 4;
    case BSON_TYPE_ARRAY: return 5;
    case BSON_TYPE_BINARY: return 6;
    case BSON_TYPE_OID: return 7;
    case BSON_TYPE_BOOL: return 8;
    case BSON_TYPE_DATE_TIME: return 9;
    case BSON_TYPE_TIMESTAMP: return 10;
    case BSON_TYPE_REGEX: return 11;
    case BSON_TYPE_MAXKEY: return 13;
    default: return 12;
  }
}

double as_double(const bson_value_t& v) {
  switch (v.value_type) {
    case BSON_TYPE_INT32: return v.value.v_int32;
    case BSON_TYPE_INT64: return static_cast<double>(v.value.v_int64);
    case BSON_TYPE_DOUBLE: return v.value.v_double;
    default: return 0;
  }
}

bool is_integer(const bson_value_t& v) {
  return v.value_type == BSON_TYPE_INT32 || v.value_type == BSON_TYPE_INT64;
}
std::int64_t as_int64(const bson_value_t& v) {
  return v.value_type == BSON_TYPE_INT32 ? v.value.v_int32 : v.value.v_int64;
}

int compare_values(const bson_value_t& a, const bson_value_t& b);

int compare_docs(const std::uint8_t* da, std::uint32_t la, const std::uint8_t* db,
                 std::uint32_t lb, bool keys) {
  bson_iter_t ia, ib;
  if (!bson_iter_init_from_data(&ia, da, la) || !bson_iter_init_from_data(&ib, db, lb)) return 0;
  for (;;) {
    const bool na = bson_iter_next(&ia), nb = bson_iter_next(&ib);
    if (!na || !nb) return na == nb ? 0 : (na ? 1 : -1);
    if (keys) {
      const int k = std::strcmp(bson_iter_key(&ia), bson_iter_key(&ib));
      if (k != 0) return k < 0 ? -1 : 1;
    }
    const int c = compare_values(*bson_iter_value(&ia), *bson_iter_value(&ib));
    if (c != 0) return c;
  }
}

// Total order: type class first (as MongoDB sorts), then the value.
int compare_values(const bson_value_t& a, const bson_value_t& b) {
  const int ca = type_class(a.value_type), cb = type_class(b.value_type);
  if (ca != cb) return ca < cb ? -1 : 1;
  auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  switch (ca) {
    case 2:
      if (is_integer(a) && is_integer(b)) return sign(as_int64(a), as_int64(b));
      return sign(as_double(a), as_double(b));
    case 3: {
      const std::string_view x(a.value.v_utf8.str, a.value.v_utf8.len);
      const std::string_view y(b.value.v_utf8.str, b.value.v_utf8.len);
      return sign(x.compare(y), 0);
    }
    case 4:
      return compare_docs(a.value.v_doc.data, a.value.v_doc.data_len, b.value.v_doc.data,
                          b.value.v_doc.data_len, true);
    case 5:
      return compare_docs(a.value.v_doc.data, a.value.v_doc.data_len, b.value.v_doc.data,
                          b.value.v_doc.data_len, false);
    case 6: {
      const std::string_view x(reinterpret_cast<const char*>(a.value.v_binary.data),
                               a.value.v_binary.data_len);
      const std::string_view y(reinterpret_cast<const char*>(b.value.v_binary.data),
                               b.value.v_binary.data_len);
      return sign(x.compare(y), 0);
    }
    case 7: return sign(bson_oid_compare(&a.value.v_oid, &b.value.v_oid), 0);
    case 8: return sign(a.value.v_bool, b.value.v_bool);
    case 9: return sign(a.value.v_datetime, b.value.v_datetime);
    case 10:
      return sign(std::pair(a.value.v_timestamp.timestamp, a.value.v_timestamp.increment),
                  std::pair(b.value.v_timestamp.timestamp, b.value.v_timestamp.increment));
    default: return 0;
  }
}

// A value in a std::vector (bson_value_t's alignment attribute is dropped on template arguments).
struct Val {
  bson_value_t v;
};

// The values a dotted path reaches in a document: arrays on the way are walked element by
// element (unless the segment is an index), as MongoDB's queries do.
void collect(const std::uint8_t* data, std::uint32_t len, bool is_array, std::string_view path,
             std::vector<Val>& out, bool& missing) {
  const std::size_t dot = path.find('.');
  const std::string_view head = path.substr(0, dot);
  const std::string_view rest = dot == std::string_view::npos ? "" : path.substr(dot + 1);
  bson_iter_t it;
  if (!bson_iter_init_from_data(&it, data, len)) return;
  bool found = false;
  while (bson_iter_next(&it)) {
    if (std::string_view(bson_iter_key(&it)) != head) continue;
    found = true;
    const bson_value_t* v = bson_iter_value(&it);
    if (rest.empty()) {
      out.push_back({*v});
      if (v->value_type == BSON_TYPE_ARRAY) {  // and each element
        bson_iter_t el;
        if (bson_iter_init_from_data(&el, v->value.v_doc.data, v->value.v_doc.data_len)) {
          while (bson_iter_next(&el)) out.push_back({*bson_iter_value(&el)});
        }
      }
    } else if (v->value_type == BSON_TYPE_DOCUMENT || v->value_type == BSON_TYPE_ARRAY) {
      collect(v->value.v_doc.data, v->value.v_doc.data_len,
              v->value_type == BSON_TYPE_ARRAY, rest, out, missing);
    } else {
      missing = true;
    }
    break;
  }
  if (found) return;
  if (is_array) {  // a field name under an array: each element document
    bson_iter_t el;
    if (!bson_iter_init_from_data(&el, data, len)) return;
    bool any = false;
    while (bson_iter_next(&el)) {
      const bson_value_t* v = bson_iter_value(&el);
      if (v->value_type == BSON_TYPE_DOCUMENT) {
        any = true;
        collect(v->value.v_doc.data, v->value.v_doc.data_len, false, path, out, missing);
      }
    }
    if (!any) missing = true;
    return;
  }
  missing = true;
}

bool equal(const bson_value_t& a, const bson_value_t& b) {
  // null matches null and a missing field (handled by the caller), not other types.
  return type_class(a.value_type) == type_class(b.value_type) && compare_values(a, b) == 0;
}

bool is_operator_doc(const bson_value_t& v) {
  if (v.value_type != BSON_TYPE_DOCUMENT) return false;
  bson_iter_t it;
  if (!bson_iter_init_from_data(&it, v.value.v_doc.data, v.value.v_doc.data_len)) return false;
  return bson_iter_next(&it) && bson_iter_key(&it)[0] == '$';
}

bool match_doc(const std::uint8_t* data, std::uint32_t len, const bson_t* filter,
               std::string* error);

// One condition on one path: equality or an operator document.
bool match_condition(const std::uint8_t* data, std::uint32_t len, std::string_view path,
                     const bson_value_t& cond, std::string* error) {
  std::vector<Val> values;
  bool missing = false;
  collect(data, len, false, path, values, missing);
  const bool absent = values.empty();
  auto any_equal = [&](const bson_value_t& want) {
    if (want.value_type == BSON_TYPE_NULL && absent) return true;
    for (const auto& [v] : values) {
      if (equal(v, want)) return true;
    }
    return false;
  };
  if (!is_operator_doc(cond)) return any_equal(cond);
  bson_iter_t it;
  bson_iter_init_from_data(&it, cond.value.v_doc.data, cond.value.v_doc.data_len);
  while (bson_iter_next(&it)) {
    const std::string_view op = bson_iter_key(&it);
    const bson_value_t& arg = *bson_iter_value(&it);
    bool ok;
    if (op == "$eq") {
      ok = any_equal(arg);
    } else if (op == "$ne") {
      ok = !any_equal(arg);
    } else if (op == "$gt" || op == "$gte" || op == "$lt" || op == "$lte") {
      ok = false;
      for (const auto& [v] : values) {
        if (type_class(v.value_type) != type_class(arg.value_type)) continue;  // type bracketing
        const int c = compare_values(v, arg);
        if ((op == "$gt" && c > 0) || (op == "$gte" && c >= 0) || (op == "$lt" && c < 0) ||
            (op == "$lte" && c <= 0)) {
          ok = true;
          break;
        }
      }
    } else if (op == "$in" || op == "$nin") {
      if (arg.value_type != BSON_TYPE_ARRAY) {
        if (error) *error = std::string(op) + " needs an array";
        return false;
      }
      bool in = false;
      bson_iter_t el;
      bson_iter_init_from_data(&el, arg.value.v_doc.data, arg.value.v_doc.data_len);
      while (!in && bson_iter_next(&el)) in = any_equal(*bson_iter_value(&el));
      ok = op == "$in" ? in : !in;
    } else if (op == "$exists") {
      const bool want = arg.value_type == BSON_TYPE_BOOL ? arg.value.v_bool : as_double(arg) != 0;
      ok = want != absent;
    } else {
      if (error) *error = "unknown operator: " + std::string(op);
      return false;
    }
    if (!ok) return false;
  }
  return true;
}

bool match_doc(const std::uint8_t* data, std::uint32_t len, const bson_t* filter,
               std::string* error) {
  bson_iter_t it;
  if (!bson_iter_init(&it, filter)) return false;
  while (bson_iter_next(&it)) {
    const std::string_view key = bson_iter_key(&it);
    const bson_value_t& v = *bson_iter_value(&it);
    if (key == "$and" || key == "$or" || key == "$nor") {
      if (v.value_type != BSON_TYPE_ARRAY) {
        if (error) *error = std::string(key) + " needs an array";
        return false;
      }
      bson_iter_t el;
      bson_iter_init_from_data(&el, v.value.v_doc.data, v.value.v_doc.data_len);
      bool any = false, all = true;
      while (bson_iter_next(&el)) {
        const bson_value_t* sub = bson_iter_value(&el);
        bson_t f;
        if (sub->value_type != BSON_TYPE_DOCUMENT ||
            !bson_init_static(&f, sub->value.v_doc.data, sub->value.v_doc.data_len)) {
          if (error) *error = std::string(key) + " entries must be documents";
          return false;
        }
        const bool m = match_doc(data, len, &f, error);
        if (error && !error->empty()) return false;
        any = any || m;
        all = all && m;
      }
      if (key == "$and" ? !all : key == "$or" ? !any : any) return false;
      continue;
    }
    if (key.starts_with("$")) {
      if (error) *error = "unknown top level operator: " + std::string(key);
      return false;
    }
    if (!match_condition(data, len, key, v, error)) return false;
  }
  return true;
}

// --- updates -------------------------------------------------------------------------------

struct UpdateOp {
  enum Kind { kSet, kUnset, kInc } kind;
  std::vector<std::string> path;
  bson_value_t value;  // a copy: bson_iter_value points into the iterator
};

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = p.find('.', start);
    out.emplace_back(p.substr(start, dot == std::string_view::npos ? p.npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

bool add_values(const bson_value_t& a, const bson_value_t& b, bson_value_t& out) {
  if (type_class(a.value_type) != 2 || type_class(b.value_type) != 2 ||
      a.value_type == BSON_TYPE_DECIMAL128 || b.value_type == BSON_TYPE_DECIMAL128) {
    return false;
  }
  if (a.value_type == BSON_TYPE_DOUBLE || b.value_type == BSON_TYPE_DOUBLE) {
    out.value_type = BSON_TYPE_DOUBLE;
    out.value.v_double = as_double(a) + as_double(b);
  } else if (a.value_type == BSON_TYPE_INT32 && b.value_type == BSON_TYPE_INT32 &&
             std::abs(static_cast<std::int64_t>(a.value.v_int32) + b.value.v_int32) <= INT32_MAX) {
    out.value_type = BSON_TYPE_INT32;
    out.value.v_int32 = a.value.v_int32 + b.value.v_int32;
  } else {
    out.value_type = BSON_TYPE_INT64;
    out.value.v_int64 = as_int64(a) + as_int64(b);
  }
  return true;
}

// Writes into `out` the document `src` (null: none) with `ops` applied at depth `d`.
bool apply_ops(const std::uint8_t* data, std::uint32_t len, std::vector<const UpdateOp*>& ops,
               std::size_t d, bson_t* out, std::string& error);

// A new field for the ops that all start with `key` at depth `d` (no existing value).
bool create_field(const std::string& key, std::vector<const UpdateOp*>& ops, std::size_t d,
                  bson_t* out, std::string& error) {
  for (const UpdateOp* op : ops) {
    if (op->path.size() == d + 1) {
      if (op->kind == UpdateOp::kUnset) return true;
      if (op->kind == UpdateOp::kInc && type_class(op->value.value_type) != 2) {
        error = "Cannot increment with non-numeric argument";
        return false;
      }
      return bson_append_value(out, key.c_str(), -1, &op->value);
    }
  }
  bool only_unset = true;
  for (const UpdateOp* op : ops) only_unset = only_unset && op->kind == UpdateOp::kUnset;
  if (only_unset) return true;
  bson_t child;
  bson_append_document_begin(out, key.c_str(), -1, &child);
  const bool ok = apply_ops(nullptr, 0, ops, d + 1, &child, error);
  bson_append_document_end(out, &child);
  return ok;
}

bool apply_ops(const std::uint8_t* data, std::uint32_t len, std::vector<const UpdateOp*>& ops,
               std::size_t d, bson_t* out, std::string& error) {
  std::vector<bool> used(ops.size(), false);
  bson_iter_t it;
  if (data && bson_iter_init_from_data(&it, data, len)) {
    while (bson_iter_next(&it)) {
      const std::string key = bson_iter_key(&it);
      std::vector<const UpdateOp*> mine;
      for (std::size_t i = 0; i < ops.size(); ++i) {
        if (ops[i]->path[d] == key) {
          mine.push_back(ops[i]);
          used[i] = true;
        }
      }
      if (mine.empty()) {
        bson_append_iter(out, nullptr, 0, &it);
        continue;
      }
      const bson_value_t& have = *bson_iter_value(&it);
      const UpdateOp* exact = nullptr;
      for (const UpdateOp* op : mine) {
        if (op->path.size() == d + 1) exact = op;
      }
      if (exact) {
        if (exact->kind == UpdateOp::kUnset) continue;
        if (exact->kind == UpdateOp::kSet) {
          bson_append_value(out, key.c_str(), -1, &exact->value);
          continue;
        }
        bson_value_t sum;
        if (!add_values(have, exact->value, sum)) {
          error = "Cannot apply $inc to a value of non-numeric type (field '" + key + "')";
          return false;
        }
        bson_append_value(out, key.c_str(), -1, &sum);
        continue;
      }
      if (have.value_type == BSON_TYPE_DOCUMENT || have.value_type == BSON_TYPE_ARRAY) {
        bson_t child;
        const bool arr = have.value_type == BSON_TYPE_ARRAY;
        if (arr) {
          bson_append_array_begin(out, key.c_str(), -1, &child);
        } else {
          bson_append_document_begin(out, key.c_str(), -1, &child);
        }
        const bool ok = apply_ops(have.value.v_doc.data, have.value.v_doc.data_len, mine, d + 1,
                                  &child, error);
        if (arr) {
          bson_append_array_end(out, &child);
        } else {
          bson_append_document_end(out, &child);
        }
        if (!ok) return false;
        continue;
      }
      bool only_unset = true;
      for (const UpdateOp* op : mine) only_unset = only_unset && op->kind == UpdateOp::kUnset;
      if (!only_unset) {
        error = "Cannot create field '" + mine.front()->path[d + 1] + "' in element {" + key +
                ": ...}";
        return false;
      }
      bson_append_iter(out, nullptr, 0, &it);
    }
  }
  // Fields the document does not have yet, in the order the update names them.
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (used[i]) continue;
    const std::string& key = ops[i]->path[d];
    std::vector<const UpdateOp*> mine;
    for (std::size_t j = i; j < ops.size(); ++j) {
      if (!used[j] && ops[j]->path[d] == key) {
        mine.push_back(ops[j]);
        used[j] = true;
      }
    }
    if (!create_field(key, mine, d, out, error)) return false;
  }
  return true;
}

bool is_update_operators(const bson_t* u) {
  bson_iter_t it;
  return bson_iter_init(&it, u) && bson_iter_next(&it) && bson_iter_key(&it)[0] == '$';
}

// The document `doc` (null: a new one, `seed` the equality fields of an upsert's query) after
// update `u`. Replacement documents keep the _id.
bool updated(const bson_t* doc, const bson_t* u, bson_t* out, std::string& error) {
  if (!is_update_operators(u)) {
    bson_iter_t it;
    if (doc && bson_iter_init_find(&it, doc, "_id")) bson_append_iter(out, "_id", 3, &it);
    bson_iter_init(&it, u);
    while (bson_iter_next(&it)) {
      if (doc && std::strcmp(bson_iter_key(&it), "_id") == 0) continue;
      bson_append_iter(out, nullptr, 0, &it);
    }
    return true;
  }
  std::vector<UpdateOp> ops;
  bson_iter_t it;
  bson_iter_init(&it, u);
  while (bson_iter_next(&it)) {
    const std::string_view name = bson_iter_key(&it);
    UpdateOp::Kind kind;
    if (name == "$set") {
      kind = UpdateOp::kSet;
    } else if (name == "$unset") {
      kind = UpdateOp::kUnset;
    } else if (name == "$inc") {
      kind = UpdateOp::kInc;
    } else {
      error = "Unknown modifier: " + std::string(name) + " (the responder knows $set $inc $unset)";
      return false;
    }
    bson_iter_t fields;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &fields)) {
      error = "Modifiers operate on fields but we found another type instead";
      return false;
    }
    while (bson_iter_next(&fields)) {
      const std::string_view key = bson_iter_key(&fields);
      if (key == "_id" && kind != UpdateOp::kInc) {
        error = "Performing an update on the path '_id' would modify the immutable field '_id'";
        return false;
      }
      ops.push_back({kind, split_path(key), *bson_iter_value(&fields)});
    }
  }
  std::vector<const UpdateOp*> ptrs;
  for (const auto& op : ops) ptrs.push_back(&op);
  return apply_ops(doc ? bson_get_data(doc) : nullptr, doc ? doc->len : 0, ptrs, 0, out, error);
}

// --- the store ------------------------------------------------------------------------------

struct Collection {
  std::map<std::uint64_t, std::string> docs;  // insertion sequence -> BSON bytes
  std::unordered_map<std::string, std::uint64_t> ids;  // _id (type + bytes) -> sequence
};

std::string id_key(const bson_t* doc) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id")) return {};
  bson_t tmp = BSON_INITIALIZER;
  bson_append_iter(&tmp, "", 0, &it);
  std::string k(reinterpret_cast<const char*>(bson_get_data(&tmp)), tmp.len);
  bson_destroy(&tmp);
  return k;
}

bson_t view(const std::string& bytes) {
  bson_t b;
  bson_init_static(&b, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return b;
}

struct Cursor {
  std::string ns;  // "db.collection"
  std::deque<std::uint64_t> seqs;  // the documents still to return
  std::size_t batch = 0;           // getMore's default batch (0: everything)
};

void error_reply(bson_t* reply, int code, const char* code_name, const std::string& msg) {
  BSON_APPEND_DOUBLE(reply, "ok", 0);
  BSON_APPEND_UTF8(reply, "errmsg", msg.c_str());
  BSON_APPEND_INT32(reply, "code", code);
  BSON_APPEND_UTF8(reply, "codeName", code_name);
}

std::string utf8_of(const bson_t* cmd, const char* key) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, cmd, key) && BSON_ITER_HOLDS_UTF8(&it)) {
    std::uint32_t len = 0;
    const char* s = bson_iter_utf8(&it, &len);
    return std::string(s, len);
  }
  return {};
}

std::optional<std::int64_t> int_of(const bson_t* cmd, const char* key) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, cmd, key) && BSON_ITER_HOLDS_NUMBER(&it)) {
    return bson_iter_as_int64(&it);
  }
  return std::nullopt;
}

bool bool_of(const bson_t* cmd, const char* key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, cmd, key) && bson_iter_as_bool(&it);
}

// The document `it` points at as a static bson_t (valid while what it reads lives).
bool iter_doc(const bson_iter_t* it, bson_t* out) {
  std::uint32_t len = 0;
  const std::uint8_t* data = nullptr;
  bson_iter_document(it, &len, &data);
  return data && bson_init_static(out, data, len);
}

// A sub-document field as a static bson_t (an empty one when absent).
bool doc_of(const bson_t* cmd, const char* key, bson_t* out) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, cmd, key) && BSON_ITER_HOLDS_DOCUMENT(&it)) {
    return iter_doc(&it, out);
  }
  bson_init(out);
  return false;
}

}  // namespace

bool mongo_matches(const bson_t* doc, const bson_t* filter, std::string* error) {
  if (error) error->clear();
  return match_doc(bson_get_data(doc), doc->len, filter, error) && (!error || error->empty());
}

struct MongoStore::Impl {
  std::unordered_map<std::string, Collection> collections;  // by "db.collection"
  std::map<std::int64_t, Cursor> cursors;                   // by id; the oldest first
  std::int64_t next_cursor = 1;
  std::uint64_t next_seq = 1;
  std::size_t bytes = 0, documents = 0;
  std::int32_t next_request = 1;

  void remove(Collection& c, std::map<std::uint64_t, std::string>::iterator it) {
    bson_t b = view(it->second);
    c.ids.erase(id_key(&b));
    bytes -= std::min(bytes, it->second.size() + kDocOverhead);
    --documents;
    c.docs.erase(it);
  }

  // Stores `doc` (it has an _id); the write error, or "".
  std::string store(Collection& c, const bson_t* doc, int& code) {
    if (doc->len > static_cast<std::uint32_t>(kMaxBson)) {
      code = 10334;
      return "document too large";
    }
    if (bytes + doc->len + kDocOverhead > kMaxBytes || documents + 1 > kMaxDocuments) {
      code = 14031;
      return "the embedded target's store is full (" + std::to_string(kMaxBytes >> 20) +
             " MiB or " + std::to_string(kMaxDocuments) + " documents)";
    }
    std::string key = id_key(doc);
    if (c.ids.count(key)) {
      code = 11000;
      return "E11000 duplicate key error index: _id_ dup key";
    }
    const std::uint64_t seq = next_seq++;
    c.docs.emplace(seq, std::string(reinterpret_cast<const char*>(bson_get_data(doc)), doc->len));
    c.ids.emplace(std::move(key), seq);
    bytes += doc->len + kDocOverhead;
    ++documents;
    return {};
  }

  // Matching sequences of `ns` in insertion order (or sorted by `sort`), after skip, up to limit.
  bool select(const std::string& ns, const bson_t* filter, const bson_t* sort, std::int64_t skip,
              std::int64_t limit, std::vector<std::uint64_t>& out, std::string& error) {
    auto cit = collections.find(ns);
    if (cit == collections.end()) return true;
    Collection& c = cit->second;
    for (const auto& [seq, bytes_] : c.docs) {
      bson_t d = view(bytes_);
      if (!match_doc(bson_get_data(&d), d.len, filter, &error)) {
        if (!error.empty()) return false;
        continue;
      }
      out.push_back(seq);
    }
    if (sort && !bson_empty(sort)) {
      struct Key {
        std::string path;
        int dir;
      };
      std::vector<Key> keys;
      bson_iter_t it;
      bson_iter_init(&it, sort);
      while (bson_iter_next(&it)) {
        keys.push_back({bson_iter_key(&it), bson_iter_as_int64(&it) < 0 ? -1 : 1});
      }
      auto first_value = [&](std::uint64_t seq, const std::string& path) {
        const std::string& b = c.docs.at(seq);
        std::vector<Val> vals;
        bool missing = false;
        collect(reinterpret_cast<const std::uint8_t*>(b.data()), static_cast<std::uint32_t>(b.size()),
                false, path, vals, missing);
        bson_value_t v{};
        v.value_type = BSON_TYPE_NULL;
        return vals.empty() ? v : vals.front().v;
      };
      std::stable_sort(out.begin(), out.end(), [&](std::uint64_t a, std::uint64_t b) {
        for (const auto& k : keys) {
          const int cmp = compare_values(first_value(a, k.path), first_value(b, k.path));
          if (cmp != 0) return cmp * k.dir < 0;
        }
        return false;
      });
    }
    if (skip > 0) out.erase(out.begin(), out.begin() + std::min<std::size_t>(skip, out.size()));
    if (limit > 0 && out.size() > static_cast<std::size_t>(limit)) out.resize(limit);
    return true;
  }

  // Appends up to `n` documents (0: all) of `cur` to the array `arr`, bounded by the reply size.
  void fill(Cursor& cur, std::size_t n, bson_t* arr) {
    auto cit = collections.find(cur.ns);
    std::size_t i = 0, size = 0;
    char key[16];
    while (!cur.seqs.empty() && (n == 0 || i < n)) {
      const std::uint64_t seq = cur.seqs.front();
      const std::string* b = nullptr;
      if (cit != collections.end()) {
        auto d = cit->second.docs.find(seq);
        if (d != cit->second.docs.end()) b = &d->second;
      }
      if (b && i > 0 && size + b->size() > static_cast<std::size_t>(kMaxBson) - 64 * 1024) break;
      cur.seqs.pop_front();
      if (!b) continue;  // deleted since the query
      bson_t d = view(*b);
      const char* k = nullptr;
      const std::size_t klen = bson_uint32_to_string(static_cast<std::uint32_t>(i), &k, key, sizeof key);
      bson_append_document(arr, k, static_cast<int>(klen), &d);
      size += b->size();
      ++i;
    }
  }

  void cursor_reply(bson_t* reply, const std::string& ns, std::int64_t id, Cursor* cur,
                    std::size_t n, bool first) {
    bson_t c, arr;
    bson_append_document_begin(reply, "cursor", -1, &c);
    bson_append_array_begin(&c, first ? "firstBatch" : "nextBatch", -1, &arr);
    if (cur) fill(*cur, n, &arr);
    bson_append_array_end(&c, &arr);
    if (cur && cur->seqs.empty()) {
      cursors.erase(id);
      id = 0;
    }
    BSON_APPEND_INT64(&c, "id", id);
    BSON_APPEND_UTF8(&c, "ns", ns.c_str());
    bson_append_document_end(reply, &c);
    BSON_APPEND_DOUBLE(reply, "ok", 1);
  }

  // A cursor over `seqs`, its first batch answered.
  void answer_cursor(bson_t* reply, const std::string& ns, std::vector<std::uint64_t>&& seqs,
                     std::size_t first, std::size_t later, bool single) {
    while (cursors.size() >= kMaxCursors) cursors.erase(cursors.begin());
    const std::int64_t id = next_cursor++;
    Cursor& cur = cursors[id];
    cur.ns = ns;
    cur.seqs.assign(seqs.begin(), seqs.end());
    cur.batch = later;
    cursor_reply(reply, ns, id, &cur, first, true);
    if (single) {
      cursors.erase(id);
      // The reply said id N; a single batch has no cursor: rewrite it as 0.
      bson_iter_t it, sub;
      if (bson_iter_init_find(&it, reply, "cursor") && bson_iter_recurse(&it, &sub) &&
          bson_iter_find(&sub, "id")) {
        bson_iter_overwrite_int64(&sub, 0);
      }
    }
  }

  void hello(bson_t* reply) {
    BSON_APPEND_BOOL(reply, "helloOk", true);
    BSON_APPEND_BOOL(reply, "ismaster", true);
    BSON_APPEND_BOOL(reply, "isWritablePrimary", true);
    BSON_APPEND_INT32(reply, "maxBsonObjectSize", kMaxBson);
    BSON_APPEND_INT32(reply, "maxMessageSizeBytes", static_cast<std::int32_t>(kMaxMessage));
    BSON_APPEND_INT32(reply, "maxWriteBatchSize", 100000);
    BSON_APPEND_DATE_TIME(reply, "localTime", static_cast<std::int64_t>(time(nullptr)) * 1000);
    BSON_APPEND_INT32(reply, "logicalSessionTimeoutMinutes", 30);
    BSON_APPEND_INT32(reply, "connectionId", next_request++);
    BSON_APPEND_INT32(reply, "minWireVersion", 0);
    BSON_APPEND_INT32(reply, "maxWireVersion", 13);
    BSON_APPEND_BOOL(reply, "readOnly", false);
    BSON_APPEND_DOUBLE(reply, "ok", 1);
  }

  void run(const bson_t* cmd, bson_t* reply) {
    bson_iter_t it;
    if (!bson_iter_init(&it, cmd) || !bson_iter_next(&it)) {
      return error_reply(reply, 59, "CommandNotFound", "no command");
    }
    const std::string name = bson_iter_key(&it);
    std::string lower = name;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string db = utf8_of(cmd, "$db");
    if (db.empty()) db = "test";
    const std::string target = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, nullptr) : "";
    const std::string ns = db + "." + target;
    std::string error;
    if (lower == "hello" || lower == "ismaster") return hello(reply);
    if (lower == "ping" || lower == "endsessions" || lower == "getfreemonitoringstatus") {
      BSON_APPEND_DOUBLE(reply, "ok", 1);
      return;
    }
    if (lower == "buildinfo") {
      BSON_APPEND_UTF8(reply, "version", "5.0.0");
      bson_t arr;
      bson_append_array_begin(reply, "versionArray", -1, &arr);
      BSON_APPEND_INT32(&arr, "0", 5);
      BSON_APPEND_INT32(&arr, "1", 0);
      BSON_APPEND_INT32(&arr, "2", 0);
      BSON_APPEND_INT32(&arr, "3", 0);
      bson_append_array_end(reply, &arr);
      BSON_APPEND_UTF8(reply, "gitVersion", "loaddensity-embedded-target");
      BSON_APPEND_INT32(reply, "maxBsonObjectSize", kMaxBson);
      BSON_APPEND_DOUBLE(reply, "ok", 1);
      return;
    }
    if (name == "insert") return insert(cmd, ns, reply);
    if (name == "find") return find(cmd, ns, reply);
    if (name == "getMore") return get_more(cmd, db, reply);
    if (name == "killCursors") return kill_cursors(cmd, reply);
    if (name == "update") return update(cmd, ns, reply);
    if (name == "delete") return remove_docs(cmd, ns, reply);
    if (name == "count") {
      bson_t q;
      doc_of(cmd, "query", &q);
      std::vector<std::uint64_t> seqs;
      if (!select(ns, &q, nullptr, int_of(cmd, "skip").value_or(0),
                  int_of(cmd, "limit").value_or(0), seqs, error)) {
        return error_reply(reply, 2, "BadValue", error);
      }
      BSON_APPEND_INT32(reply, "n", static_cast<std::int32_t>(seqs.size()));
      BSON_APPEND_DOUBLE(reply, "ok", 1);
      return;
    }
    if (name == "aggregate") return aggregate(cmd, ns, reply);
    if (name == "drop") {
      auto c = collections.find(ns);
      if (c != collections.end()) {
        while (!c->second.docs.empty()) remove(c->second, c->second.docs.begin());
        collections.erase(c);
      }
      BSON_APPEND_DOUBLE(reply, "ok", 1);
      return;
    }
    if (name == "dropDatabase") {
      for (auto c = collections.begin(); c != collections.end();) {
        if (c->first.starts_with(db + ".")) {
          while (!c->second.docs.empty()) remove(c->second, c->second.docs.begin());
          c = collections.erase(c);
        } else {
          ++c;
        }
      }
      BSON_APPEND_DOUBLE(reply, "ok", 1);
      return;
    }
    error_reply(reply, 59, "CommandNotFound", "no such command: '" + name + "'");
  }

  void write_error(bson_t* errors, int& count, int index, int code, const std::string& msg) {
    const std::string k = std::to_string(count++);
    bson_t e;
    bson_append_document_begin(errors, k.c_str(), -1, &e);
    BSON_APPEND_INT32(&e, "index", index);
    BSON_APPEND_INT32(&e, "code", code);
    BSON_APPEND_UTF8(&e, "errmsg", msg.c_str());
    bson_append_document_end(errors, &e);
  }

  void insert(const bson_t* cmd, const std::string& ns, bson_t* reply) {
    bson_iter_t it, docs;
    if (!bson_iter_init_find(&it, cmd, "documents") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &docs)) {
      return error_reply(reply, 9, "FailedToParse", "insert needs 'documents'");
    }
    const bool ordered = !bson_iter_init_find(&it, cmd, "ordered") || bson_iter_as_bool(&it);
    Collection& c = collections[ns];
    std::int32_t n = 0, index = 0;
    bson_t errors = BSON_INITIALIZER;
    int nerr = 0;
    while (bson_iter_next(&docs)) {
      bson_t doc;
      int code = 0;
      std::string msg;
      if (!BSON_ITER_HOLDS_DOCUMENT(&docs)) {
        code = 2;
        msg = "documents must be documents";
      } else {
        iter_doc(&docs, &doc);
        if (bson_has_field(&doc, "_id")) {
          msg = store(c, &doc, code);
        } else {
          bson_t with = BSON_INITIALIZER;
          bson_oid_t oid;
          bson_oid_init(&oid, nullptr);
          BSON_APPEND_OID(&with, "_id", &oid);
          bson_concat(&with, &doc);
          msg = store(c, &with, code);
          bson_destroy(&with);
        }
      }
      if (msg.empty()) {
        ++n;
      } else {
        write_error(&errors, nerr, index, code, msg);
        if (ordered) break;
      }
      ++index;
    }
    BSON_APPEND_INT32(reply, "n", n);
    if (nerr > 0) BSON_APPEND_ARRAY(reply, "writeErrors", &errors);
    bson_destroy(&errors);
    BSON_APPEND_DOUBLE(reply, "ok", 1);
  }

  void find(const bson_t* cmd, const std::string& ns, bson_t* reply) {
    bson_t filter, sort;
    doc_of(cmd, "filter", &filter);
    doc_of(cmd, "sort", &sort);
    std::int64_t limit = int_of(cmd, "limit").value_or(0);
    bool single = bool_of(cmd, "singleBatch");
    if (limit < 0) {
      limit = -limit;
      single = true;
    }
    const std::int64_t batch = int_of(cmd, "batchSize").value_or(-1);
    std::vector<std::uint64_t> seqs;
    std::string error;
    if (!select(ns, &filter, &sort, int_of(cmd, "skip").value_or(0), limit, seqs, error)) {
      return error_reply(reply, 2, "BadValue", error);
    }
    const std::size_t first = batch >= 0 ? static_cast<std::size_t>(batch) : kDefaultBatch;
    if (first == 0 && !single) {
      // batchSize 0: an empty first batch and a cursor.
      answer_cursor(reply, ns, std::move(seqs), 0, 0, false);
      return;
    }
    answer_cursor(reply, ns, std::move(seqs), single ? 0 : first, 0, single);
  }

  void get_more(const bson_t* cmd, const std::string& db, bson_t* reply) {
    const std::int64_t id = int_of(cmd, "getMore").value_or(0);
    const std::string ns = db + "." + utf8_of(cmd, "collection");
    auto it = cursors.find(id);
    if (it == cursors.end() || it->second.ns != ns) {
      return error_reply(reply, 43, "CursorNotFound",
                         "cursor id " + std::to_string(id) + " not found");
    }
    const std::int64_t batch = int_of(cmd, "batchSize").value_or(0);
    cursor_reply(reply, ns, id, &it->second, batch > 0 ? static_cast<std::size_t>(batch) : 0,
                 false);
  }

  void kill_cursors(const bson_t* cmd, bson_t* reply) {
    bson_t killed = BSON_INITIALIZER, missing = BSON_INITIALIZER;
    int nk = 0, nm = 0;
    bson_iter_t it, ids;
    if (bson_iter_init_find(&it, cmd, "cursors") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &ids)) {
      while (bson_iter_next(&ids)) {
        const std::int64_t id = bson_iter_as_int64(&ids);
        const bool had = cursors.erase(id) > 0;
        const std::string k = std::to_string(had ? nk++ : nm++);
        BSON_APPEND_INT64(had ? &killed : &missing, k.c_str(), id);
      }
    }
    BSON_APPEND_ARRAY(reply, "cursorsKilled", &killed);
    BSON_APPEND_ARRAY(reply, "cursorsNotFound", &missing);
    bson_t empty = BSON_INITIALIZER;
    BSON_APPEND_ARRAY(reply, "cursorsAlive", &empty);
    BSON_APPEND_ARRAY(reply, "cursorsUnknown", &empty);
    bson_destroy(&killed);
    bson_destroy(&missing);
    BSON_APPEND_DOUBLE(reply, "ok", 1);
  }

  void update(const bson_t* cmd, const std::string& ns, bson_t* reply) {
    bson_iter_t it, ups;
    if (!bson_iter_init_find(&it, cmd, "updates") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &ups)) {
      return error_reply(reply, 9, "FailedToParse", "update needs 'updates'");
    }
    Collection& c = collections[ns];
    std::int32_t n = 0, modified = 0, index = 0;
    bson_t errors = BSON_INITIALIZER, upserted = BSON_INITIALIZER;
    int nerr = 0, nup = 0;
    for (; bson_iter_next(&ups); ++index) {
      bson_t spec, q, u;
      if (!BSON_ITER_HOLDS_DOCUMENT(&ups) || !iter_doc(&ups, &spec)) continue;
      doc_of(&spec, "q", &q);
      bson_iter_t uit;
      if (!bson_iter_init_find(&uit, &spec, "u") || !BSON_ITER_HOLDS_DOCUMENT(&uit)) {
        write_error(&errors, nerr, index, 9, "update needs 'u' as a document (pipelines are not "
                                             "supported by the embedded target)");
        break;
      }
      doc_of(&spec, "u", &u);
      const bool multi = bool_of(&spec, "multi"), upsert = bool_of(&spec, "upsert");
      if (multi && !is_update_operators(&u)) {
        write_error(&errors, nerr, index, 9, "multi update only works with $ operators");
        break;
      }
      std::vector<std::uint64_t> seqs;
      std::string error;
      if (!select(ns, &q, nullptr, 0, multi ? 0 : 1, seqs, error)) {
        write_error(&errors, nerr, index, 2, error);
        break;
      }
      bool failed = false;
      for (std::uint64_t seq : seqs) {
        const std::string old = c.docs.at(seq);
        bson_t before = view(old);
        bson_t after = BSON_INITIALIZER;
        if (!updated(&before, &u, &after, error)) {
          bson_destroy(&after);
          write_error(&errors, nerr, index, 9, error);
          failed = true;
          break;
        }
        ++n;
        if (after.len != before.len ||
            std::memcmp(bson_get_data(&after), bson_get_data(&before), after.len) != 0) {
          ++modified;
          // Replace in place (same sequence, same _id).
          const std::string bytes(reinterpret_cast<const char*>(bson_get_data(&after)), after.len);
          if (this->bytes + bytes.size() > kMaxBytes + old.size()) {
            write_error(&errors, nerr, index, 14031, "the embedded target's store is full");
            --modified;
            failed = true;
          } else {
            this->bytes += bytes.size();
            this->bytes -= std::min(this->bytes, old.size());
            c.docs[seq] = bytes;
          }
        }
        bson_destroy(&after);
        if (failed) break;
      }
      if (failed) break;
      if (seqs.empty() && upsert) {
        // The query's equality fields, then the update (or the replacement).
        bson_t seed = BSON_INITIALIZER, doc = BSON_INITIALIZER;
        bson_iter_t qi;
        bson_iter_init(&qi, &q);
        while (bson_iter_next(&qi)) {
          if (bson_iter_key(&qi)[0] == '$' || std::strchr(bson_iter_key(&qi), '.')) continue;
          if (is_operator_doc(*bson_iter_value(&qi))) continue;
          if (is_update_operators(&u)) bson_append_iter(&seed, nullptr, 0, &qi);
        }
        if (!updated(&seed, &u, &doc, error)) {
          write_error(&errors, nerr, index, 9, error);
          bson_destroy(&seed);
          bson_destroy(&doc);
          break;
        }
        bson_t with = BSON_INITIALIZER;
        bson_iter_t idit;
        if (!bson_iter_init_find(&idit, &doc, "_id")) {
          bson_oid_t oid;
          bson_oid_init(&oid, nullptr);
          BSON_APPEND_OID(&with, "_id", &oid);
        }
        bson_concat(&with, &doc);
        int code = 0;
        const std::string msg = store(c, &with, code);
        if (!msg.empty()) {
          write_error(&errors, nerr, index, code, msg);
        } else {
          ++n;
          const std::string k = std::to_string(nup++);
          bson_t e;
          bson_append_document_begin(&upserted, k.c_str(), -1, &e);
          BSON_APPEND_INT32(&e, "index", index);
          bson_iter_init_find(&idit, &with, "_id");
          bson_append_iter(&e, "_id", 3, &idit);
          bson_append_document_end(&upserted, &e);
        }
        bson_destroy(&seed);
        bson_destroy(&doc);
        bson_destroy(&with);
        if (!msg.empty()) break;
      }
    }
    BSON_APPEND_INT32(reply, "n", n);
    BSON_APPEND_INT32(reply, "nModified", modified);
    if (nup > 0) BSON_APPEND_ARRAY(reply, "upserted", &upserted);
    if (nerr > 0) BSON_APPEND_ARRAY(reply, "writeErrors", &errors);
    bson_destroy(&upserted);
    bson_destroy(&errors);
    BSON_APPEND_DOUBLE(reply, "ok", 1);
  }

  void remove_docs(const bson_t* cmd, const std::string& ns, bson_t* reply) {
    bson_iter_t it, dels;
    if (!bson_iter_init_find(&it, cmd, "deletes") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &dels)) {
      return error_reply(reply, 9, "FailedToParse", "delete needs 'deletes'");
    }
    std::int32_t n = 0, index = 0;
    bson_t errors = BSON_INITIALIZER;
    int nerr = 0;
    for (; bson_iter_next(&dels); ++index) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&dels)) continue;
      bson_t spec, q;
      if (!iter_doc(&dels, &spec)) continue;
      doc_of(&spec, "q", &q);
      const std::int64_t limit = int_of(&spec, "limit").value_or(0);
      std::vector<std::uint64_t> seqs;
      std::string error;
      if (!select(ns, &q, nullptr, 0, limit, seqs, error)) {
        write_error(&errors, nerr, index, 2, error);
        break;
      }
      auto cit = collections.find(ns);
      if (cit == collections.end()) continue;
      for (std::uint64_t seq : seqs) {
        auto d = cit->second.docs.find(seq);
        if (d == cit->second.docs.end()) continue;
        remove(cit->second, d);
        ++n;
      }
    }
    BSON_APPEND_INT32(reply, "n", n);
    if (nerr > 0) BSON_APPEND_ARRAY(reply, "writeErrors", &errors);
    bson_destroy(&errors);
    BSON_APPEND_DOUBLE(reply, "ok", 1);
  }

  // The pipelines count_documents sends ($match, $skip, $limit, then $group {_id: ..., n:
  // {$sum: 1}} or $count): answered as a one-document cursor.
  void aggregate(const bson_t* cmd, const std::string& ns, bson_t* reply) {
    bson_iter_t it, stages;
    if (!bson_iter_init_find(&it, cmd, "pipeline") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &stages)) {
      return error_reply(reply, 9, "FailedToParse", "aggregate needs 'pipeline'");
    }
    bson_t match;
    bson_init(&match);
    std::int64_t skip = 0, limit = 0;
    std::string count_field;
    bool grouped = false;
    bson_value_t group_id{};
    while (bson_iter_next(&stages)) {
      bson_iter_t st;
      if (!BSON_ITER_HOLDS_DOCUMENT(&stages) || !bson_iter_recurse(&stages, &st) ||
          !bson_iter_next(&st)) {
        continue;
      }
      const std::string_view stage = bson_iter_key(&st);
      if (stage == "$match" && BSON_ITER_HOLDS_DOCUMENT(&st)) {
        bson_destroy(&match);
        iter_doc(&st, &match);
      } else if (stage == "$skip") {
        skip = bson_iter_as_int64(&st);
      } else if (stage == "$limit") {
        limit = bson_iter_as_int64(&st);
      } else if (stage == "$count" && BSON_ITER_HOLDS_UTF8(&st)) {
        count_field = bson_iter_utf8(&st, nullptr);
      } else if (stage == "$group" && BSON_ITER_HOLDS_DOCUMENT(&st)) {
        bson_iter_t g;
        bson_iter_recurse(&st, &g);
        while (bson_iter_next(&g)) {
          if (std::strcmp(bson_iter_key(&g), "_id") == 0) {
            group_id = *bson_iter_value(&g);
          } else {
            count_field = bson_iter_key(&g);  // {n: {$sum: 1}}
          }
        }
        grouped = true;
      } else {
        return error_reply(reply, 40324, "Location40324",
                           "the embedded target's aggregate knows only the count pipelines ($match "
                           "$skip $limit $group {$sum: 1} $count), not " + std::string(stage));
      }
    }
    std::vector<std::uint64_t> seqs;
    std::string error;
    if (!select(ns, &match, nullptr, skip, limit, seqs, error)) {
      return error_reply(reply, 2, "BadValue", error);
    }
    bson_t c, arr;
    bson_append_document_begin(reply, "cursor", -1, &c);
    bson_append_array_begin(&c, "firstBatch", -1, &arr);
    if (!seqs.empty() && !count_field.empty()) {
      bson_t d;
      bson_append_document_begin(&arr, "0", 1, &d);
      if (grouped) {
        if (group_id.value_type == 0) group_id.value_type = BSON_TYPE_NULL;
        bson_append_value(&d, "_id", 3, &group_id);
      }
      BSON_APPEND_INT32(&d, count_field.c_str(), static_cast<std::int32_t>(seqs.size()));
      bson_append_document_end(&arr, &d);
    }
    bson_append_array_end(&c, &arr);
    BSON_APPEND_INT64(&c, "id", 0);
    BSON_APPEND_UTF8(&c, "ns", ns.c_str());
    bson_append_document_end(reply, &c);
    BSON_APPEND_DOUBLE(reply, "ok", 1);
  }

  // --- wire ---

  static void header(std::string& out, std::int32_t response_to, std::int32_t op) {
    put_i32(out, 0);  // length, patched
    put_i32(out, 0);  // request id
    put_i32(out, response_to);
    put_i32(out, op);
  }
  static void patch_length(std::string& out, std::size_t start) {
    const auto len = static_cast<std::int32_t>(out.size() - start);
    std::memcpy(out.data() + start, &len, 4);
  }

  bool handle(std::string_view m, std::string& out) {
    if (m.size() < 16) return false;
    const std::int32_t request_id = read_i32(m.data() + 4);
    const std::int32_t op = read_i32(m.data() + 12);
    const char* p = m.data() + 16;
    const char* end = m.data() + m.size();
    bson_t reply = BSON_INITIALIZER;
    const std::size_t start = out.size();
    if (op == kOpMsg) {
      if (end - p < 5) return false;
      std::uint32_t flags;
      std::memcpy(&flags, p, 4);
      p += 4;
      if (flags & kChecksumPresent) end -= 4;
      bson_t body = BSON_INITIALIZER;
      bool have_body = false;
      // Document sequences become arrays appended to the body (kind 1).
      std::vector<std::pair<std::string, std::vector<std::string_view>>> seqs;
      while (p < end) {
        const char kind = *p++;
        if (kind == 0) {
          if (end - p < 5) return false;
          const std::int32_t len = read_i32(p);
          if (len < 5 || len > end - p) return false;
          bson_destroy(&body);
          if (!bson_init_static(&body, reinterpret_cast<const std::uint8_t*>(p), len)) return false;
          have_body = true;
          p += len;
        } else if (kind == 1) {
          if (end - p < 4) return false;
          const std::int32_t size = read_i32(p);
          if (size < 5 || size > end - p) return false;
          const char* sec_end = p + size;
          const char* id = p + 4;
          const char* nul = static_cast<const char*>(std::memchr(id, 0, sec_end - id));
          if (!nul) return false;
          auto& s = seqs.emplace_back(std::string(id, nul), std::vector<std::string_view>{});
          for (const char* d = nul + 1; d < sec_end;) {
            if (sec_end - d < 5) return false;
            const std::int32_t len = read_i32(d);
            if (len < 5 || len > sec_end - d) return false;
            s.second.emplace_back(d, len);
            d += len;
          }
          p = sec_end;
        } else {
          return false;
        }
      }
      if (!have_body) return false;
      bson_t cmd = BSON_INITIALIZER;
      bson_concat(&cmd, &body);
      for (const auto& [name, docs] : seqs) {
        bson_t arr;
        bson_append_array_begin(&cmd, name.c_str(), -1, &arr);
        for (std::size_t i = 0; i < docs.size(); ++i) {
          bson_t d;
          if (!bson_init_static(&d, reinterpret_cast<const std::uint8_t*>(docs[i].data()),
                                docs[i].size())) {
            bson_append_array_end(&cmd, &arr);
            bson_destroy(&cmd);
            return false;
          }
          const std::string k = std::to_string(i);
          bson_append_document(&arr, k.c_str(), -1, &d);
        }
        bson_append_array_end(&cmd, &arr);
      }
      run(&cmd, &reply);
      bson_destroy(&cmd);
      if (flags & kMoreToCome) {  // unacknowledged: no reply
        bson_destroy(&reply);
        return true;
      }
      header(out, request_id, kOpMsg);
      put_i32(out, 0);  // flags
      out += '\0';      // kind 0
      out.append(reinterpret_cast<const char*>(bson_get_data(&reply)), reply.len);
    } else if (op == kOpQuery) {
      if (end - p < 4) return false;
      p += 4;  // flags
      const char* nul = static_cast<const char*>(std::memchr(p, 0, end - p));
      if (!nul) return false;
      const std::string_view coll(p, nul - p);
      p = nul + 1 + 8;  // skip, return
      if (end - p < 5) return false;
      const std::int32_t len = read_i32(p);
      if (len < 5 || len > end - p) return false;
      bson_t q;
      if (!bson_init_static(&q, reinterpret_cast<const std::uint8_t*>(p), len)) return false;
      bson_t inner;
      if (doc_of(&q, "$query", &inner)) q = inner;  // {$query: {...}, $readPreference: ...}
      const std::size_t dot = coll.find('.');
      if (dot == std::string_view::npos || coll.substr(dot + 1) != "$cmd") {
        error_reply(&reply, 352, "UnsupportedOpQueryCommand",
                    "the embedded target answers OP_QUERY commands only (use OP_MSG)");
      } else {
        bson_t cmd = BSON_INITIALIZER;
        bson_concat(&cmd, &q);
        const std::string db(coll.substr(0, dot));
        BSON_APPEND_UTF8(&cmd, "$db", db.c_str());
        run(&cmd, &reply);
        bson_destroy(&cmd);
      }
      header(out, request_id, kOpReply);
      put_i32(out, 0);  // response flags
      put_i64(out, 0);  // cursor id
      put_i32(out, 0);  // starting from
      put_i32(out, 1);  // number returned
      out.append(reinterpret_cast<const char*>(bson_get_data(&reply)), reply.len);
    } else {
      bson_destroy(&reply);
      return false;  // OP_COMPRESSED and the legacy write opcodes are never sent to us
    }
    bson_destroy(&reply);
    patch_length(out, start);
    return true;
  }
};

MongoStore::MongoStore() : impl_(std::make_unique<Impl>()) {}
MongoStore::~MongoStore() = default;
void MongoStore::run(const bson_t* command, bson_t* reply) { impl_->run(command, reply); }
bool MongoStore::handle(std::string_view message, std::string& out) {
  return impl_->handle(message, out);
}
std::size_t MongoStore::bytes() const noexcept { return impl_->bytes; }
std::size_t MongoStore::documents() const noexcept { return impl_->documents; }
std::size_t MongoStore::cursors() const noexcept { return impl_->cursors.size(); }

struct MongoServer::Impl {
  // Destroyed after the io_context that runs the coroutines (the target resets it first).
  TcpListener listener;
  MongoStore store;

  Impl(net::io_context& io, const net::ip::address& address, std::uint16_t port)
      : listener(io, address, port, "MongoDB") {}

  // The complete messages at the front of `in`, answered into `out`; the bytes used. A
  // malformed or oversized message closes the connection.
  std::size_t consume(std::string_view in, std::string& out, bool& open) {
    std::size_t pos = 0;
    while (in.size() - pos >= 4) {
      const std::int32_t len = read_i32(in.data() + pos);
      if (len < 16 || static_cast<std::size_t>(len) > kMaxMessage) {
        open = false;
        break;
      }
      if (in.size() - pos < static_cast<std::size_t>(len)) break;
      if (!store.handle(in.substr(pos, len), out)) {
        open = false;
        break;
      }
      pos += len;
    }
    return pos;
  }
};

MongoServer::MongoServer(net::io_context& io, const net::ip::address& address, std::uint16_t port)
    : impl_(std::make_unique<Impl>(io, address, port)) {}

MongoServer::~MongoServer() = default;

void MongoServer::start() {
  impl_->listener.start([this](tcp::socket s) {
    return impl_->listener.serve_requests(
        std::move(s), kMaxMessage, [this](std::string_view in, std::string& out, bool& open) {
          return impl_->consume(in, out, open);
        });
  });
}

void MongoServer::close() noexcept { impl_->listener.close(); }

std::uint16_t MongoServer::port() const noexcept { return impl_->listener.port(); }

}  // namespace ld::target
