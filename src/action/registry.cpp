#include "action/registry.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/text.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::action {

std::string type_mask_name(unsigned m) {
  std::vector<std::string> parts;
  if (m & kString) parts.push_back("string");
  if (m & kNumber) {
    parts.push_back("number");
  } else if (m & kInteger) {
    parts.push_back("integer");
  }
  if (m & kBool) parts.push_back("boolean");
  if (m & kObject) parts.push_back("object");
  if (m & kArray) parts.push_back("list");
  if (m & kNull) parts.push_back("null");
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += (i + 1 == parts.size()) ? " or " : ", ";
    out += parts[i];
  }
  return out;
}

bool type_matches(const Json& v, unsigned m) {
  switch (v.type()) {
    case Json::value_t::string: return m & kString;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return m & (kInteger | kNumber);
    case Json::value_t::number_float: {
      if (m & kNumber) return true;
      // 5.0 is an acceptable integer.
      const double d = v.get<double>();
      return (m & kInteger) && d > -9.2e18 && d < 9.2e18 &&
             d == static_cast<double>(static_cast<long long>(d));
    }
    case Json::value_t::boolean: return m & kBool;
    case Json::value_t::object: return m & kObject;
    case Json::value_t::array: return m & kArray;
    case Json::value_t::null: return m & kNull;
    default: return false;
  }
}

const Json& Args::operator[](const std::string& name) const {
  static const Json kNull;
  const auto it = j_.find(name);
  return it == j_.end() ? kNull : *it;
}

bool Args::has(const std::string& name) const { return !(*this)[name].is_null(); }

std::string Args::str(const std::string& name, const std::string& fallback) const {
  const Json& v = (*this)[name];
  return v.is_string() ? v.get<std::string>() : fallback;
}

std::int64_t Args::integer(const std::string& name, std::int64_t fallback) const {
  const Json& v = (*this)[name];
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_unsigned()) return static_cast<std::int64_t>(v.get<std::uint64_t>());
  if (v.is_number_float()) return static_cast<std::int64_t>(v.get<double>());  // 5.0
  return fallback;
}

double Args::number(const std::string& name, double fallback) const {
  const Json& v = (*this)[name];
  return v.is_number() ? v.get<double>() : fallback;
}

bool Args::flag(const std::string& name, bool fallback) const {
  const Json& v = (*this)[name];
  return v.is_boolean() ? v.get<bool>() : fallback;
}

bool Args::given(const std::string& name) const {
  const Json& g = (*this)["_given"];
  if (!g.is_array()) return has(name);
  for (const auto& n : g) {
    if (n.is_string() && n.get_ref<const std::string&>() == name) return true;
  }
  return false;
}

void CommandRegistry::add(Command c) {
  const std::string name = c.name;
  // Two modules registering one name is a programming error: found at start-up, not when a
  // document happens to use the name.
  if (commands_.count(name) || refused_.count(name)) {
    throw std::logic_error("command registered twice: " + name);
  }
  commands_[name] = std::move(c);
}

void CommandRegistry::refuse(const std::string& name, std::string reason) {
  if (commands_.count(name) || refused_.count(name)) {
    throw std::logic_error("command registered twice: " + name);
  }
  refused_[name] = std::move(reason);
}

const std::string* CommandRegistry::refusal(const std::string& name) const {
  const auto it = refused_.find(name);
  return it == refused_.end() ? nullptr : &it->second;
}

const Command* CommandRegistry::find(const std::string& name) const {
  auto it = commands_.find(name);
  return it == commands_.end() ? nullptr : &it->second;
}

std::vector<std::string> CommandRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : commands_) out.push_back(k);
  return out;
}

std::string CommandRegistry::suggest(const std::string& name) const {
  return text::closest(name, names());
}

Json CommandRegistry::bind(const Command& c, const Json& raw) const {
  Json out = Json::object();
  auto param_names = [&] {
    std::vector<std::string> v;
    for (const auto& p : c.params) v.push_back(p.name);
    return v;
  };
  std::size_t variadic = c.params.size();  // index of the *args parameter, if any
  for (std::size_t i = 0; i < c.params.size(); ++i) {
    if (c.params[i].variadic) variadic = std::min(variadic, i);
  }
  if (raw.is_array() && variadic < c.params.size()) {
    for (std::size_t i = 0; i < raw.size() && i < variadic; ++i) out[c.params[i].name] = raw[i];
    Json rest = Json::array();
    for (std::size_t i = variadic; i < raw.size(); ++i) rest.push_back(raw[i]);
    out[c.params[variadic].name] = std::move(rest);
  } else if (raw.is_array()) {
    if (raw.size() > c.params.size()) {
      throw ConfigError(c.name + " takes at most " + std::to_string(c.params.size()) +
                            " positional argument(s), got " + std::to_string(raw.size()),
                        pointer_index(c.params.size()));
    }
    for (std::size_t i = 0; i < raw.size(); ++i) out[c.params[i].name] = raw[i];
  } else if (raw.is_object()) {
    for (auto it = raw.begin(); it != raw.end(); ++it) {
      bool known = false;
      for (const auto& p : c.params) known = known || p.name == it.key();
      if (!known) {
        std::string msg = "unknown argument '" + it.key() + "' for " + c.name;
        const std::string s = text::closest(it.key(), param_names());
        if (!s.empty()) msg += " (did you mean '" + s + "'?)";
        std::string accepted;
        for (const auto& n : param_names()) accepted += (accepted.empty() ? "" : ", ") + n;
        msg += "; accepted: " + (accepted.empty() ? std::string("none") : accepted);
        throw ConfigError(msg, pointer_key(it.key()));
      }
      out[it.key()] = it.value();
    }
  } else if (!raw.is_null()) {
    throw ConfigError(c.name + ": arguments must be an object or a list");
  }
  Json given = Json::array();  // which arguments the action named (defaults are not "given")
  for (auto it = out.begin(); it != out.end(); ++it) given.push_back(it.key());
  for (std::size_t i = 0; i < c.params.size(); ++i) {
    const Param& p = c.params[i];
    const std::string ptr = raw.is_array() ? pointer_index(i) : pointer_key(p.name);
    auto it = out.find(p.name);
    if (it == out.end()) {
      if (p.required) {
        throw ConfigError(c.name + ": missing required argument '" + p.name + "'" +
                          (p.help.empty() ? "" : " (" + p.help + ")"));
      }
      out[p.name] = p.default_value;
      continue;
    }
    if (it->is_null() && !p.required) continue;  // null means "use the default" as in Python
    if (!type_matches(*it, p.types)) {
      throw ConfigError("argument '" + p.name + "' of " + c.name + " must be " +
                            type_mask_name(p.types) + ", got " + json_type_name(*it) + " " +
                            json_brief(*it, 60),
                        ptr);
    }
  }
  out["_given"] = std::move(given);
  return out;
}

}  // namespace ld::action
