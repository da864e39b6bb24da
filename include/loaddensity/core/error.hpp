#pragma once
// Error types shared by every layer.
//  - ConfigError: the input (action document, command arguments, task fields) is wrong.
//    It carries a JSON pointer to the offending value; the CLI maps it to exit code 2.
//  - Load-path failures are never exceptions: they become stats::Record error kinds.
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace ld {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& message, std::string pointer = {})
      : std::runtime_error(message), pointer_(std::move(pointer)) {}

  // JSON pointer (RFC 6901) of the value at fault, relative to what the thrower saw.
  const std::string& pointer() const noexcept { return pointer_; }

  // The same error seen from a parent: `prefix` is prepended to the pointer.
  ConfigError under(const std::string& prefix) const {
    return ConfigError(what(), prefix + pointer_);
  }

 private:
  std::string pointer_;
};

// The process received SIGINT/SIGTERM; remaining non-load actions still run.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

// A value or an error message, for recoverable API results.
template <class T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  static Expected failure(std::string message) {
    Expected e;
    e.v_ = Error{std::move(message)};
    return e;
  }
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const std::string& error() const { return std::get<1>(v_).message; }

 private:
  struct Error {
    std::string message;
  };
  Expected() = default;
  std::variant<T, Error> v_;
};

}  // namespace ld
