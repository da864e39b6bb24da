#pragma once
// Incremental HTTP/1.1 response parser for the load path. Feed it whatever the socket gave; it
// keeps no copy of the data unless the header block is split across reads (then only the
// header bytes) or the caller asks for the body. Handles Content-Length, chunked encoding,
// read-until-close, HEAD/1xx/204/304, and skips interim 1xx responses.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/body_decoder.hpp"

namespace ld::proto::http1 {

class ResponseParser {
 public:
  enum class Result { kNeedMore, kDone, kError };
  static constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

  // Prepares for the next response. `body` / `headers` (optional) receive the body and the
  // raw header block (status line included) when non-null.
  void reset(bool head_request, std::string* body = nullptr, std::string* headers = nullptr);

  // Consumes bytes from `data`; `consumed` tells how many (fewer than `n` only at kDone).
  Result feed(const char* data, std::size_t n, std::size_t& consumed);
  // The peer closed the connection: completes a read-until-close body, else an error.
  Result on_eof();

  int status() const noexcept { return status_; }
  bool keep_alive() const noexcept { return keep_alive_; }
  const std::string& location() const noexcept { return location_; }  // 3xx only
  // Content-Encoding of the final response (identity when absent).
  ContentCoding content_coding() const noexcept { return coding_; }
  // Set-Cookie values of the final response, one per line ('\n'-separated); empty when there
  // are none (nothing is copied or allocated then).
  const std::string& set_cookies() const noexcept { return set_cookies_; }
  const char* error() const noexcept { return error_; }
  // The answer is not HTTP/1.x (kError from the status line): a protocol failure, not a reset.
  static constexpr const char* kNotHttp = "response is not HTTP/1.x";
  std::uint64_t header_bytes() const noexcept { return header_bytes_; }
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  bool started() const noexcept { return header_bytes_ != 0 || !partial_.empty(); }

 private:
  enum class State {
    kHeaders,
    kBody,
    kChunkSize,
    kChunkData,
    kChunkCrlf,
    kTrailers,
    kUntilClose,
    kDone
  };
  Result fail(const char* why) {
    error_ = why;
    return Result::kError;
  }
  // Checks the new bytes of a status line against "HTTP/1.x NNN" as they arrive, so bytes that
  // cannot be HTTP fail at once instead of waiting for a header block that never ends.
  bool status_prefix_ok(const char* data, std::size_t n) noexcept;
  // Parses a complete header block (ends with the blank line). Returns false on bad syntax.
  bool parse_headers(std::string_view block);
  Result feed_chunked(const char* data, std::size_t n, std::size_t& pos);

  State state_ = State::kHeaders;
  bool head_ = false;
  std::string* body_ = nullptr;
  std::string* headers_ = nullptr;
  std::string partial_;  // split header block, or the current chunk-size line
  std::string location_;
  std::string set_cookies_;
  ContentCoding coding_ = ContentCoding::kIdentity;
  const char* error_ = nullptr;
  int status_ = 0;
  bool keep_alive_ = true;
  bool chunked_ = false;
  std::int64_t content_length_ = -1;
  std::uint64_t remaining_ = 0;  // body or chunk bytes still expected
  std::uint64_t header_bytes_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::size_t trailer_line_ = 0;    // length of the current trailer line
  std::size_t status_checked_ = 0;  // bytes of the current status line checked (at most 12)
};

}  // namespace ld::proto::http1
