#include "sla/sla.hpp"

#include <array>

#include "common/format.hpp"
#include "core/text.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::reports {

namespace {

const std::array<const char*, 7> kTypes = {"latency_p50", "latency_p90",  "latency_p95",
                                           "latency_p99", "latency_mean", "failure_rate",
                                           "requests"};
const std::array<const char*, 4> kOps = {"lt", "lte", "gt", "gte"};

// Summary key of a rule type, per name and overall ("" = not available there).
std::string per_name_key(const std::string& type) {
  if (type == "latency_p50") return "p50_ms";
  if (type == "latency_p90") return "p90_ms";
  if (type == "latency_p95") return "p95_ms";
  if (type == "latency_p99") return "p99_ms";
  if (type == "latency_mean") return "mean_ms";
  if (type == "requests") return "count";
  if (type == "failure_rate") return "failure_rate";
  return "";
}

const Json* overall_value(const Json& summary, const std::string& type) {
  const Json* block = nullptr;
  std::string key;
  if (type == "failure_rate" || type == "requests") {
    block = summary.contains("totals") ? &summary["totals"] : nullptr;
    key = type;
  } else {
    block = summary.contains("latency_overall") ? &summary["latency_overall"] : nullptr;
    key = per_name_key(type);
    if (type == "requests") key.clear();
  }
  if (!block || !block->is_object() || key.empty() || !block->contains(key)) return nullptr;
  return &(*block)[key];
}

const Json* name_value(const Json& summary, const std::string& type, const std::string& name) {
  if (!summary.contains("per_name") || !summary["per_name"].is_object()) return nullptr;
  const Json& per = summary["per_name"];
  auto it = per.find(name);
  if (it == per.end() || !it->is_object()) return nullptr;
  const std::string key = per_name_key(type);
  if (key.empty() || !it->contains(key)) return nullptr;
  return &(*it)[key];
}

// The value as Python's str() would print the rule's number.
std::string python_text(const Json& v) {
  if (v.is_number_float()) return py_float(v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "None";
  return v.dump();
}

// How many measurements a rule's value rests on: requests for failure_rate, the latency
// histogram's count for latency rules (successes per name, every request overall). A rule over
// nothing must not pass: a server that never answered would otherwise meet every gate.
std::uint64_t sample_count(const Json& summary, const std::string& type, const std::string* name) {
  const Json* block = nullptr;
  if (name) {
    if (!summary.contains("per_name") || !summary["per_name"].is_object()) return 0;
    auto it = summary["per_name"].find(*name);
    if (it == summary["per_name"].end()) return 0;
    block = &*it;
  } else if (type == "failure_rate") {
    block = summary.contains("totals") ? &summary["totals"] : nullptr;
  } else {
    block = summary.contains("latency_overall") ? &summary["latency_overall"] : nullptr;
  }
  if (!block || !block->is_object()) return 0;
  const char* key = type == "failure_rate" ? "requests" : "count";
  auto it = block->find(key);
  return it != block->end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

Json result(bool passed, const Json& rule, const Json& actual, const std::string& reason) {
  return {{"passed", passed}, {"rule", rule}, {"actual", actual}, {"reason", reason}};
}

}  // namespace

void validate_sla_rules(const Json& rules) {
  if (!rules.is_array()) {
    throw ConfigError("rules must be a list of {type, name?, op?, value} objects, got " +
                      std::string(json_type_name(rules)));
  }
  std::vector<std::string> types(kTypes.begin(), kTypes.end());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Json& r = rules[i];
    const std::string at = pointer_index(i);
    if (!r.is_object()) {
      throw ConfigError(
          "SLA rule " + std::to_string(i) + " must be an object, got " + json_type_name(r), at);
    }
    if (!r.contains("type") || !r["type"].is_string()) {
      throw ConfigError("SLA rule " + std::to_string(i) + " needs a string 'type' (one of " +
                            "latency_p50, latency_p90, latency_p95, latency_p99, latency_mean, " +
                            "failure_rate, requests)",
                        at + "/type");
    }
    const std::string type = r["type"].get<std::string>();
    if (per_name_key(type).empty()) {
      std::string msg = "SLA rule " + std::to_string(i) + ": unknown type '" + type + "'";
      const std::string s = text::closest(type, types);
      if (!s.empty()) msg += " (did you mean '" + s + "'?)";
      msg +=
          "; types: latency_p50, latency_p90, latency_p95, latency_p99, latency_mean, "
          "failure_rate, requests";
      throw ConfigError(msg, at + "/type");
    }
    if (r.contains("op")) {
      const Json& op = r["op"];
      bool ok = op.is_string();
      if (ok) {
        const std::string o = text::lower(op.get<std::string>());
        ok = false;
        for (const char* k : kOps) ok = ok || o == k;
      }
      if (!ok) {
        throw ConfigError("SLA rule " + std::to_string(i) + ": unsupported op " +
                              json_brief(op, 40) + " (use lt, lte, gt or gte)",
                          at + "/op");
      }
    }
    if (!r.contains("value") || r["value"].is_null()) {
      throw ConfigError("SLA rule " + std::to_string(i) + " is missing 'value'", at + "/value");
    }
    if (!r["value"].is_number()) {
      throw ConfigError("SLA rule " + std::to_string(i) + ": 'value' must be a number, got " +
                            json_type_name(r["value"]) + " " + json_brief(r["value"], 40),
                        at + "/value");
    }
    if (r.contains("name") && !r["name"].is_string() && !r["name"].is_null()) {
      throw ConfigError("SLA rule " + std::to_string(i) + ": 'name' must be a string",
                        at + "/name");
    }
  }
}

Json evaluate_sla(const Json& rules, const Json& summary) {
  Json out = Json::array();
  if (!rules.is_array()) return out;
  for (const Json& rule : rules) {
    if (!rule.is_object()) {
      out.push_back(result(false, rule, nullptr, "metric not available in summary"));
      continue;
    }
    const std::string op =
        text::lower(rule.contains("op") ? python_text(rule["op"]) : std::string("lte"));
    if (op != "lt" && op != "lte" && op != "gt" && op != "gte") {
      out.push_back(result(false, rule, nullptr, "unsupported op '" + op + "'"));
      continue;
    }
    if (!rule.contains("value") || rule["value"].is_null()) {
      out.push_back(result(false, rule, nullptr, "rule missing 'value'"));
      continue;
    }
    const Json& expected = rule["value"];
    const std::string type = rule.contains("type") ? python_text(rule["type"]) : "";
    const bool named = rule.contains("name") && rule["name"].is_string() &&
                       !rule["name"].get<std::string>().empty();
    const Json* actual = named ? name_value(summary, type, rule["name"].get<std::string>())
                               : overall_value(summary, type);
    if (!actual || !actual->is_number() || !expected.is_number()) {
      out.push_back(result(false, rule, nullptr, "metric not available in summary"));
      continue;
    }
    const std::string scope =
        rule.contains("name") ? python_text(rule["name"]) : std::string("overall");
    const std::string rule_name = named ? rule["name"].get<std::string>() : std::string();
    if (type != "requests" && sample_count(summary, type, named ? &rule_name : nullptr) == 0) {
      const char* what = type == "failure_rate" || !named ? "no requests were measured"
                                                          : "no successful requests were measured";
      out.push_back(result(false, rule, nullptr, type + "(" + scope + "): " + what));
      continue;
    }
    const double a = actual->get<double>();
    const double e = expected.get<double>();
    const bool passed = op == "lt" ? a < e : op == "lte" ? a <= e : op == "gt" ? a > e : a >= e;
    const Json actual_value = a;
    if (passed) {
      out.push_back(result(true, rule, actual_value, ""));
      continue;
    }
    out.push_back(result(
        false, rule, actual_value,
        type + "(" + scope + ")=" + py_float(a) + " not " + op + " " + python_text(expected)));
  }
  return out;
}

std::string sla_failure_message(const Json& results) {
  std::string reasons;
  for (const Json& r : results) {
    if (r.value("passed", false)) continue;
    if (!reasons.empty()) reasons += "; ";
    reasons += r.value("reason", std::string());
  }
  return reasons.empty() ? "" : "SLA gates failed: " + reasons;
}

}  // namespace ld::reports
