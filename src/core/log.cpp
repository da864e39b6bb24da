#include "core/log.hpp"

#include "core/json_util.hpp"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace ld::log {

namespace detail {
std::atomic<int> g_level{static_cast<int>(Level::kWarn)};
}

namespace {

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
    case Level::kOff:
      break;
  }
  return spdlog::level::off;
}

// A JSON string literal (escaping as the rest of the project does; invalid UTF-8 replaced).
void append_json_string(spdlog::memory_buf_t& out, std::string_view s) {
  const std::string quoted = Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
  out.append(quoted.data(), quoted.data() + quoted.size());
}

// One JSON object per line for log shippers: {"ts","level","component","msg"}. The component
// travels as the logger name of the message.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto t = std::chrono::system_clock::to_time_t(msg.time);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[40];
    const std::size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(ts + n, sizeof ts - n, ".%03dZ", static_cast<int>(ms));
    dest.append(std::string_view("{\"ts\":\""));
    dest.append(std::string_view(ts));
    dest.append(std::string_view("\",\"level\":\""));
    const auto level = spdlog::level::to_string_view(msg.level);
    dest.append(level.data(), level.data() + level.size());
    dest.append(std::string_view("\",\"component\":"));
    append_json_string(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    dest.append(std::string_view(",\"msg\":"));
    append_json_string(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

std::mutex g_mu;
std::shared_ptr<spdlog::logger> g_logger;  // guarded by g_mu for replacement

std::shared_ptr<spdlog::logger> make_logger(const Options& o) {
  std::vector<spdlog::sink_ptr> sinks;
  auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (!o.file.empty()) {
    err->set_level(spdlog::level::err);  // the file gets everything; the terminal only errors
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(o.file, false));
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("cannot open log file '" + o.file + "': " + e.what());
    }
  }
  sinks.push_back(err);
  auto logger = std::make_shared<spdlog::logger>("loaddensity", sinks.begin(), sinks.end());
  if (o.format == Format::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l [%n] %v", spdlog::pattern_time_type::utc));
  }
  logger->set_level(to_spdlog(o.level));
  return logger;
}

}  // namespace

bool parse_level(std::string_view t, Level& out) noexcept {
  if (t == "trace")
    out = Level::kTrace;
  else if (t == "debug")
    out = Level::kDebug;
  else if (t == "info")
    out = Level::kInfo;
  else if (t == "warn" || t == "warning")
    out = Level::kWarn;
  else if (t == "error")
    out = Level::kError;
  else if (t == "off")
    out = Level::kOff;
  else
    return false;
  return true;
}

const char* level_name(Level l) noexcept {
  static const char* const kNames[] = {"trace", "debug", "info", "warn", "error", "off"};
  return kNames[static_cast<int>(l)];
}

void configure(const Options& options) {
  auto logger = make_logger(options);
  std::lock_guard<std::mutex> lock(g_mu);
  g_logger = std::move(logger);
  detail::g_level.store(static_cast<int>(options.level), std::memory_order_relaxed);
}

namespace detail {

void write(Level level, std::string_view component, std::string_view message) noexcept {
  try {
    std::shared_ptr<spdlog::logger> logger;
    {
      std::lock_guard<std::mutex> lock(g_mu);
      if (!g_logger) g_logger = make_logger(Options{});
      logger = g_logger;
    }
    // The component travels as the message's logger name: `[%n]` in text, a field in JSON.
    spdlog::details::log_msg msg(spdlog::string_view_t(component.data(), component.size()),
                                 to_spdlog(level),
                                 spdlog::string_view_t(message.data(), message.size()));
    for (const auto& sink : logger->sinks()) {
      if (!sink->should_log(msg.level)) continue;
      sink->log(msg);
      sink->flush();  // logs are rare: every line reaches the file at once
    }
  } catch (...) {
    // Logging never takes the process down.
  }
}

}  // namespace detail

}  // namespace ld::log
