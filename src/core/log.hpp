#pragma once
// The logging facade. The long-running parts (the embedded target, `serve`, exporters, the
// dashboard, distributed workers) log through these calls; spdlog is included only by
// log.cpp. Nothing logs on the per-request path: a disabled level costs one relaxed load.
//
//   ld::log::info("target listening on " + url);
//   if (ld::log::enabled(ld::log::Level::kDebug)) ld::log::debug(expensive());
#include <atomic>
#include <string>
#include <string_view>

namespace ld::log {

enum class Level : int { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };
enum class Format { kText, kJson };

struct Options {
  Level level = Level::kWarn;  // stderr and file alike
  std::string file;            // "" = stderr only; otherwise stderr (errors only) + this file
  Format format = Format::kText;
};

// Parses "trace", "debug", "info", "warn" (or "warning"), "error", "off"; false otherwise.
bool parse_level(std::string_view text, Level& out) noexcept;
const char* level_name(Level l) noexcept;

// Replaces the logger. Throws std::runtime_error when the file cannot be opened.
void configure(const Options& options);

namespace detail {
extern std::atomic<int> g_level;
void write(Level level, std::string_view component, std::string_view message) noexcept;
}  // namespace detail

inline bool enabled(Level l) noexcept {
  return static_cast<int>(l) >= detail::g_level.load(std::memory_order_relaxed);
}

// `component` names the part that logs ("target", "serve", "exporter.prometheus", ...).
inline void at(Level l, std::string_view component, std::string_view message) noexcept {
  if (enabled(l)) detail::write(l, component, message);
}
inline void debug(std::string_view component, std::string_view m) noexcept {
  at(Level::kDebug, component, m);
}
inline void info(std::string_view component, std::string_view m) noexcept {
  at(Level::kInfo, component, m);
}
inline void warn(std::string_view component, std::string_view m) noexcept {
  at(Level::kWarn, component, m);
}
inline void error(std::string_view component, std::string_view m) noexcept {
  at(Level::kError, component, m);
}

}  // namespace ld::log
