#include "loaddensity/protocol/protocol.hpp"

#include <algorithm>

#include "action/registry.hpp"
#include "params/resolver.hpp"
#include "stats/recorder.hpp"

namespace ld::engine {

void WorkerContext::record(const stats::Record& r) {
  stats.record(r);
  if (outcome) *outcome = r.error.kind;
  if (service) *service = r.end - r.start;
  if (ended) *ended = r.end;
}

params::ParseContext CompileContext::parse_context() const {
  return params::ParseContext{resolver, user_vars};
}

std::vector<action::Param> Protocol::options() const { return {}; }

std::vector<action::Param> Protocol::task_fields(const std::string&) const { return {}; }

const char* WorkerContext::intern(std::string_view text) { return stats.intern_text(text); }

std::uint32_t NameTable::intern(const std::string& request_type, const std::string& name) {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].first == request_type && entries_[i].second == name) {
      return static_cast<std::uint32_t>(i);
    }
  }
  entries_.emplace_back(request_type, name);
  return static_cast<std::uint32_t>(entries_.size() - 1);
}

bool NameTable::set_url(std::uint32_t id, const std::string& url) {
  if (urls_.size() <= id) urls_.resize(id + 1);
  if (urls_[id].empty()) {
    urls_[id] = url;
    return true;
  }
  return urls_[id] == url;
}

const std::string& NameTable::url(std::uint32_t id) const noexcept {
  static const std::string kNone;
  return id < urls_.size() ? urls_[id] : kNone;
}

void ProtocolRegistry::add(std::shared_ptr<Protocol> p) {
  for (const auto& t : p->user_types()) by_type_.emplace_back(t, p);
}

void ProtocolRegistry::add_unavailable(const std::vector<std::string>& user_types,
                                       const std::string& why) {
  for (const auto& t : user_types) unavailable_.emplace_back(t, why);
}

std::shared_ptr<Protocol> ProtocolRegistry::find_shared(const std::string& user_type) const {
  for (const auto& [t, p] : by_type_) {
    if (t == user_type) return p;
  }
  return nullptr;
}

const std::string* ProtocolRegistry::unavailable(const std::string& user_type) const {
  for (const auto& [t, why] : unavailable_) {
    if (t == user_type) return &why;
  }
  return nullptr;
}

std::vector<action::Param> ProtocolRegistry::options() const {
  std::vector<action::Param> out;
  const Protocol* last = nullptr;
  for (const auto& [type, p] : by_type_) {
    if (p.get() == last) continue;  // one protocol serves several user types
    last = p.get();
    std::string types;
    for (const auto& t : p->user_types()) types += (types.empty() ? "" : ", ") + t;
    for (auto o : p->options()) {
      bool seen = false;
      for (const auto& q : out) seen = seen || q.name == o.name;
      if (seen) continue;
      o.help += " (" + types + ")";
      out.push_back(std::move(o));
    }
  }
  return out;
}

std::vector<std::string> ProtocolRegistry::unavailable_user_types() const {
  std::vector<std::string> out;
  for (const auto& [t, why] : unavailable_) out.push_back(t);
  std::sort(out.begin(), out.end());
  return out;
}

const Protocol* ProtocolRegistry::find(const std::string& user_type) const {
  for (const auto& [t, p] : by_type_) {
    if (t == user_type) return p.get();
  }
  return nullptr;
}

std::vector<std::string> ProtocolRegistry::user_types() const {
  std::vector<std::string> out;
  for (const auto& [t, p] : by_type_) out.push_back(t);
  std::sort(out.begin(), out.end());
  return out;
}

void DeadlineSweeper::add(TimedOp* op) {
  op->slot = ops_.size();
  ops_.push_back(op);
}

void DeadlineSweeper::remove(TimedOp* op) noexcept {
  if (op->slot >= ops_.size() || ops_[op->slot] != op) return;
  ops_[op->slot] = ops_.back();
  ops_[op->slot]->slot = op->slot;
  ops_.pop_back();
  op->slot = static_cast<std::size_t>(-1);
}

void DeadlineSweeper::sweep(Nanos now, bool all) {
  // on_expire may not add or remove ops (it only cancels I/O), so indices stay valid.
  for (TimedOp* op : ops_) {
    if (op->deadline != 0 && (all || op->deadline <= now)) {
      op->deadline = 0;
      op->expired = true;
      op->on_expire(op->self);
    }
  }
}

}  // namespace ld::engine
