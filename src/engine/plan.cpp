#include "engine/plan.hpp"

#include <algorithm>
#include <thread>

#include "engine/flow.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::engine {

namespace {

WaitTime parse_wait(const Json& v, const std::string& ptr) {
  WaitTime w;
  if (v.is_null()) return w;
  if (v.is_number()) {
    w.min_s = w.max_s = seconds_in_range(v, "wait_time", ptr, true);
  } else if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it.key() != "min" && it.key() != "max") {
        throw ConfigError("wait_time accepts {\"min\": s, \"max\": s}; unknown key '" + it.key() +
                              "'",
                          ptr + pointer_key(it.key()));
      }
    }
    w.min_s =
        v.contains("min") ? seconds_in_range(v["min"], "wait_time.min", ptr + "/min", true) : 0.0;
    w.max_s = v.contains("max") ? seconds_in_range(v["max"], "wait_time.max", ptr + "/max", true)
                                : w.min_s;
  } else {
    throw ConfigError("wait_time must be a number of seconds or {\"min\", \"max\"}", ptr);
  }
  if (w.min_s < 0 || w.max_s < w.min_s) {
    throw ConfigError("wait_time needs 0 <= min <= max", ptr);
  }
  return w;
}

const Json& arg(const Json& args, const char* key) {
  static const Json kNull;
  auto it = args.find(key);
  return it == args.end() ? kNull : *it;
}

std::uint32_t count_at(const Json& c, const char* key, std::uint32_t def, double max,
                       const std::string& ptr) {
  if (!c.contains(key) || c[key].is_null()) return def;
  return static_cast<std::uint32_t>(number_in_range(c[key], key, 0, max, false, ptr + "/" + key));
}

void parse_load_model(const Json& args, PlanConfig& p) {
  if (const Json& g = arg(args, "graceful_stop"); !g.is_null()) {
    p.graceful_stop_s = number_in_range(g, "graceful_stop", 0, 86400, false, "/graceful_stop", "s");
  }
  const Json& hard = arg(args, "hard_timeout");
  if (!hard.is_null()) {
    p.hard_timeout_s = seconds_in_range(hard, "hard_timeout", "/hard_timeout");
  }
  const Json& shape = arg(args, "load_shape");
  if (shape.is_null()) return;
  const std::string name = shape.get<std::string>();
  p.load_shape = name;
  // With a shape, test_time only applies when given: the shape decides when to stop.
  if (const Json& given = arg(args, "_given"); given.is_array()) {
    p.test_time_explicit = std::find(given.begin(), given.end(), Json("test_time")) != given.end();
  }
  const Json& raw = arg(args, "shape_config");
  const Json cfg = raw.is_null() ? Json::object() : raw;
  if (name == "constant_arrival_rate" || name == "ramping_arrival_rate") {
    p.model = LoadModel::kOpen;
    const std::string ptr = "/shape_config";
    for (auto it = cfg.begin(); it != cfg.end(); ++it) {
      static const std::vector<std::string> kConstant = {"rate", "duration", "max_users",
                                                         "max_backlog"};
      static const std::vector<std::string> kRamping = {"start_rate", "stages", "max_users",
                                                        "max_backlog"};
      const auto& keys = name == "constant_arrival_rate" ? kConstant : kRamping;
      if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) {
        std::string list;
        for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
        throw ConfigError(name + ": unknown key '" + it.key() + "' (accepted: " + list + ")",
                          ptr + pointer_key(it.key()));
      }
    }
    auto positive = [&](const Json& v, const std::string& what, const std::string& at) {
      if (what == "duration") return seconds_in_range(v, what, at, true);
      return number_in_range(v, what, 0, limits::kMaxRate, false, at, "iterations/s");
    };
    if (name == "constant_arrival_rate") {
      if (!cfg.contains("rate")) throw ConfigError("constant_arrival_rate needs \"rate\" (iterations/s)", ptr);
      const double rate = positive(cfg["rate"], "rate", ptr + "/rate");
      if (rate <= 0) throw ConfigError("rate must be > 0", ptr + "/rate");
      double duration = p.test_time_s;
      if (cfg.contains("duration")) duration = positive(cfg["duration"], "duration", ptr + "/duration");
      if (duration <= 0) {
        throw ConfigError("constant_arrival_rate needs \"duration\" (or test_time)", ptr + "/duration");
      }
      p.pacer = Pacer::constant(rate, duration);
    } else {
      if (!cfg.contains("stages") || !cfg["stages"].is_array() || cfg["stages"].empty()) {
        throw ConfigError("ramping_arrival_rate needs \"stages\": [{\"duration\", \"rate\"}]",
                          ptr + "/stages");
      }
      std::vector<RateStage> stages;
      for (std::size_t i = 0; i < cfg["stages"].size(); ++i) {
        const Json& st = cfg["stages"][i];
        const std::string sp = ptr + "/stages" + pointer_index(i);
        if (!st.is_object() || !st.contains("duration") || !st.contains("rate")) {
          throw ConfigError("a stage needs \"duration\" (seconds) and \"rate\" (iterations/s)", sp);
        }
        stages.push_back({positive(st["duration"], "duration", sp + "/duration"),
                          positive(st["rate"], "rate", sp + "/rate")});
      }
      const double start = cfg.contains("start_rate") ? positive(cfg["start_rate"], "start_rate", ptr + "/start_rate") : 0.0;
      p.pacer = Pacer::ramping(start, stages);
    }
    p.users =
        std::max<std::uint32_t>(1, count_at(cfg, "max_users", p.users, limits::kMaxUsers, ptr));
    p.max_backlog = count_at(cfg, "max_backlog", 10'000, 1e9, ptr);
    return;
  }
  try {
    p.shape = LoadShape::make(name, cfg);
  } catch (const ConfigError& e) {
    throw ConfigError(e.what(), e.pointer().empty() ? "/load_shape" : "/shape_config" + e.pointer());
  }
  if (p.shape->max_users() == 0) throw ConfigError("the load shape never starts a user", "/shape_config");
  p.users = p.shape->max_users();
}

}  // namespace

std::vector<Json> normalize_tasks(const Json& tasks, ScenarioMode& mode) {
  mode = ScenarioMode::kSequence;
  const Json* list = &tasks;
  std::string base;
  Json legacy;
  if (tasks.is_object()) {
    if (tasks.contains("tasks") || tasks.contains("mode")) {
      for (auto it = tasks.begin(); it != tasks.end(); ++it) {
        if (it.key() != "tasks" && it.key() != "mode") {
          throw ConfigError("a task block has only \"mode\" and \"tasks\"; unknown key '" +
                                it.key() + "'",
                            pointer_key(it.key()));
        }
      }
      if (tasks.contains("mode")) {
        const Json& m = tasks["mode"];
        const std::string name = m.is_string() ? m.get<std::string>() : "";
        if (name == "sequence") {
          mode = ScenarioMode::kSequence;
        } else if (name == "weighted") {
          mode = ScenarioMode::kWeighted;
        } else if (name == "conditional") {
          mode = ScenarioMode::kConditional;
        } else {
          throw ConfigError(
              "mode must be \"sequence\", \"weighted\" or \"conditional\", got " + json_brief(m),
              "/mode");
        }
      }
      if (!tasks.contains("tasks")) throw ConfigError("a task block needs \"tasks\": [...]");
      list = &tasks["tasks"];
      base = "/tasks";
    } else {
      // Legacy form: {"get": {...}, "post": {...}} -> [{"method": "get", ...}, ...]
      legacy = Json::array();
      for (auto it = tasks.begin(); it != tasks.end(); ++it) {
        if (!it.value().is_object()) {
          throw ConfigError("legacy task '" + it.key() + "' must be an object of task fields",
                            pointer_key(it.key()));
        }
        Json t = it.value();
        t["method"] = it.key();
        legacy.push_back(std::move(t));
      }
      return legacy.get<std::vector<Json>>();
    }
  }
  if (!list->is_array()) {
    throw ConfigError("tasks must be a list of task objects, got " +
                          std::string(json_type_name(*list)),
                      base);
  }
  std::vector<Json> out;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& t = (*list)[i];
    if (!t.is_object()) {
      throw ConfigError("a task must be an object, got " + std::string(json_type_name(t)),
                        base + pointer_index(i));
    }
    out.push_back(t);
  }
  return out;
}

PlanConfig parse_plan(const Json& args) {
  PlanConfig p;
  const Json& ud = arg(args, "user_detail_dict");
  if (!ud.is_object() || !ud.contains("user") || !ud["user"].is_string()) {
    throw ConfigError("user_detail_dict must be an object like {\"user\": \"fast_http_user\"}",
                      "/user_detail_dict");
  }
  for (auto it = ud.begin(); it != ud.end(); ++it) {
    if (it.key() != "user" && it.key() != "wait_time" && it.key() != "locust_class") {
      throw ConfigError(
          "user_detail_dict accepts \"user\", \"wait_time\" and \"locust_class\"; unknown key '" +
              it.key() + "'",
          "/user_detail_dict" + pointer_key(it.key()));
    }
  }
  if (ud.contains("locust_class")) {
    const Json& lc = ud["locust_class"];
    bool ok = lc.is_string() || (lc.is_array() && !lc.empty());
    if (lc.is_array()) {
      for (const auto& c : lc) ok = ok && c.is_string();
    }
    if (!ok) {
      throw ConfigError("locust_class must be a Locust user class name or a list of them",
                        "/user_detail_dict/locust_class");
    }
  }
  p.user_type = ud["user"].get<std::string>();
  if (ud.contains("wait_time")) p.wait = parse_wait(ud["wait_time"], "/user_detail_dict/wait_time");

  if (!arg(args, "user_count").is_null()) {
    p.users = static_cast<std::uint32_t>(number_in_range(arg(args, "user_count"), "user_count", 1,
                                                         limits::kMaxUsers, false, "/user_count",
                                                         "users"));
  }
  if (!arg(args, "spawn_rate").is_null()) {
    p.spawn_rate = number_in_range(arg(args, "spawn_rate"), "spawn_rate", 0, limits::kMaxRate, true,
                                   "/spawn_rate", "users/s");
  }
  p.test_time_s = arg(args, "test_time").is_null()
                      ? 0.0
                      : seconds_in_range(arg(args, "test_time"), "test_time", "/test_time", true);
  if (args.contains("threads") && !args["threads"].is_null()) {
    const long long t = args["threads"].get<long long>();
    if (t < 1 || t > 1024) throw ConfigError("threads must be between 1 and 1024", "/threads");
    p.threads = static_cast<unsigned>(t);
  }
  if (p.threads == 0) p.threads = std::max(1u, std::thread::hardware_concurrency());
  if (args.contains("host") && args["host"].is_string()) p.host = args["host"].get<std::string>();
  if (args.contains("runner_mode") && args["runner_mode"].is_string()) {
    const std::string mode = args["runner_mode"].get<std::string>();
    if (mode != "local" && mode != "worker" && mode != "master") {
      throw ConfigError("runner_mode '" + mode + "': use \"local\", \"worker\" or \"master\"",
                        "/runner_mode");
    }
  }
  const Json& tasks = arg(args, "tasks");
  if (tasks.is_null()) throw ConfigError("LD_start_test needs \"tasks\"", "/tasks");
  try {
    p.tasks = normalize_tasks(tasks, p.mode);
  } catch (const ConfigError& e) {
    throw e.under("/tasks");
  }
  if (p.tasks.empty()) throw ConfigError("tasks is empty: nothing to run", "/tasks");
  const std::string list_ptr = tasks.is_object() && tasks.contains("tasks") ? "/tasks/tasks"
                                                                            : "/tasks";
  for (std::size_t i = 0; i < p.tasks.size(); ++i) {
    Json& t = p.tasks[i];
    p.task_pointers.push_back(list_ptr + pointer_index(i));
    p.flow.push_back(take_flow_fields(t));
    std::uint32_t w = 1;
    if (t.contains("weight")) {
      w = static_cast<std::uint32_t>(number_in_range(t["weight"], "weight", 0, 1e6, false,
                                                     list_ptr + pointer_index(i) + "/weight"));
      t.erase("weight");
    }
    p.weights.push_back(w);
  }
  if (p.mode == ScenarioMode::kWeighted) {
    std::uint64_t total = 0;
    for (auto w : p.weights) total += w;
    if (total == 0) throw ConfigError("weighted tasks: every weight is 0", list_ptr);
  }
  parse_load_model(args, p);
  if (p.threads > p.users) p.threads = p.users;
  return p;
}

}  // namespace ld::engine
