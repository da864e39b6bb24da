#include "response_parser.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/text.hpp"

namespace ld::proto::http1 {

namespace {

std::string_view trim(std::string_view s) { return text::trim_header(s); }

bool contains_token(std::string_view value, std::string_view token) {
  std::size_t pos = 0;
  while (pos <= value.size()) {
    const std::size_t comma = std::min(value.find(',', pos), value.size());
    if (text::iequals(trim(value.substr(pos, comma - pos)), token)) return true;
    pos = comma + 1;
  }
  return false;
}

// Position just past the "\r\n\r\n" (or "\n\n") ending a header block, or npos.
std::size_t find_header_end(std::string_view s, std::size_t from) {
  for (std::size_t i = from; i < s.size(); ++i) {
    if (s[i] != '\n') continue;
    if (i >= 1 && s[i - 1] == '\n') return i + 1;
    if (i >= 2 && s[i - 1] == '\r' && s[i - 2] == '\n') return i + 1;
  }
  return std::string_view::npos;
}

}  // namespace

void ResponseParser::reset(bool head_request, std::string* body, std::string* headers) {
  state_ = State::kHeaders;
  head_ = head_request;
  body_ = body;
  headers_ = headers;
  if (body_) body_->clear();
  if (headers_) headers_->clear();
  partial_.clear();
  location_.clear();
  set_cookies_.clear();
  coding_ = ContentCoding::kIdentity;
  error_ = nullptr;
  status_ = 0;
  keep_alive_ = true;
  chunked_ = false;
  content_length_ = -1;
  remaining_ = 0;
  header_bytes_ = 0;
  body_bytes_ = 0;
  trailer_line_ = 0;
  status_checked_ = 0;
}

bool ResponseParser::status_prefix_ok(const char* data, std::size_t n) noexcept {
  static constexpr char kPattern[] = "HTTP/1.# ###";  // '#': a digit
  if (status_checked_ == 0 && n >= sizeof kPattern - 1) {
    // The common case: the whole status prefix arrived in one read.
    status_checked_ = sizeof kPattern - 1;
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    return std::memcmp(data, "HTTP/1.", 7) == 0 && digit(data[7]) && data[8] == ' ' &&
           digit(data[9]) && digit(data[10]) && digit(data[11]);
  }
  for (std::size_t i = 0; i < n && status_checked_ < sizeof kPattern - 1; ++i, ++status_checked_) {
    const char want = kPattern[status_checked_];
    const char c = data[i];
    if (want == '#' ? (c < '0' || c > '9') : c != want) return false;
  }
  return true;
}

bool ResponseParser::parse_headers(std::string_view block) {
  std::size_t eol = block.find('\n');
  std::string_view line = trim(block.substr(0, eol));
  // Status line: HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || !line.starts_with("HTTP/1.")) return false;
  const bool http10 = line[7] == '0';
  int status = 0;
  auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc{} || p != line.data() + 12 || status < 100) return false;
  status_ = status;
  keep_alive_ = !http10;
  chunked_ = false;
  content_length_ = -1;
  coding_ = ContentCoding::kIdentity;
  set_cookies_.clear();  // an interim response's are not the final response's
  std::size_t pos = eol + 1;
  while (pos < block.size()) {
    eol = block.find('\n', pos);
    if (eol == std::string_view::npos) eol = block.size();
    line = block.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    switch (name.size()) {
      case 8:
        if (status_ >= 300 && status_ < 400 && text::iequals(name, "location")) {
          location_.assign(value);
        }
        break;
      case 10:
        if (text::iequals(name, "connection")) {
          if (contains_token(value, "close")) keep_alive_ = false;
          if (contains_token(value, "keep-alive")) keep_alive_ = true;
        } else if (text::iequals(name, "set-cookie")) {
          if (!set_cookies_.empty()) set_cookies_.push_back('\n');
          set_cookies_.append(value);
        }
        break;
      case 14:
        if (text::iequals(name, "content-length")) {
          std::int64_t len = -1;
          auto [q, e2] = std::from_chars(value.data(), value.data() + value.size(), len);
          if (e2 != std::errc{} || q != value.data() + value.size() || len < 0) return false;
          content_length_ = len;
        }
        break;
      case 16:
        if (text::iequals(name, "content-encoding")) coding_ = parse_content_coding(value);
        break;
      case 17:
        if (text::iequals(name, "transfer-encoding") && contains_token(value, "chunked")) {
          chunked_ = true;
        }
        break;
      default:
        break;
    }
  }
  return true;
}

ResponseParser::Result ResponseParser::feed(const char* data, std::size_t n,
                                            std::size_t& consumed) {
  std::size_t pos = 0;
  consumed = 0;
  while (pos < n || state_ == State::kDone) {
    switch (state_) {
      case State::kHeaders: {
        if (!status_prefix_ok(data + pos, n - pos)) return fail(kNotHttp);
        std::size_t end;
        std::string_view block;
        if (partial_.empty()) {
          end = find_header_end(std::string_view(data + pos, n - pos), 0);
          if (end == std::string_view::npos) {
            partial_.assign(data + pos, n - pos);
            pos = n;
            if (partial_.size() > kMaxHeaderBytes) return fail("response headers too large");
            continue;
          }
          block = std::string_view(data + pos, end);
          pos += end;
        } else {
          const std::size_t old = partial_.size();
          partial_.append(data + pos, n - pos);
          end = find_header_end(partial_, old >= 3 ? old - 3 : 0);
          if (end == std::string_view::npos) {
            pos = n;
            if (partial_.size() > kMaxHeaderBytes) return fail("response headers too large");
            continue;
          }
          pos += end - old;
          partial_.resize(end);
          block = partial_;
        }
        header_bytes_ += block.size();
        if (!parse_headers(block)) return fail("malformed response header");
        if (headers_) headers_->assign(block);
        partial_.clear();
        status_checked_ = 0;  // an interim response: the next status line starts here
        if (status_ < 200 && status_ != 101) continue;  // interim response: parse the next one
        if (head_ || status_ == 204 || status_ == 304 || status_ == 101) {
          state_ = State::kDone;
        } else if (chunked_) {
          state_ = State::kChunkSize;
        } else if (content_length_ >= 0) {
          remaining_ = static_cast<std::uint64_t>(content_length_);
          state_ = remaining_ ? State::kBody : State::kDone;
        } else {
          keep_alive_ = false;
          state_ = State::kUntilClose;
        }
        break;
      }
      case State::kBody:
      case State::kUntilClose: {
        std::size_t take = n - pos;
        if (state_ == State::kBody)
          take = static_cast<std::size_t>(std::min<std::uint64_t>(take, remaining_));
        if (body_) body_->append(data + pos, take);
        body_bytes_ += take;
        pos += take;
        if (state_ == State::kBody) {
          remaining_ -= take;
          if (remaining_ == 0) state_ = State::kDone;
        }
        break;
      }
      case State::kChunkSize:
      case State::kChunkData:
      case State::kChunkCrlf:
      case State::kTrailers: {
        const Result r = feed_chunked(data, n, pos);
        if (r == Result::kError) return r;
        break;
      }
      case State::kDone:
        consumed = pos;
        return Result::kDone;
    }
  }
  consumed = pos;
  return Result::kNeedMore;
}

ResponseParser::Result ResponseParser::feed_chunked(const char* data, std::size_t n,
                                                    std::size_t& pos) {
  while (pos < n) {
    const char c = data[pos];
    switch (state_) {
      case State::kChunkSize: {
        ++pos;
        if (c != '\n') {
          if (partial_.size() > 1024) return fail("chunk size line too long");
          partial_.push_back(c);
          break;
        }
        std::string_view line = partial_;
        if (const auto semi = line.find(';'); semi != std::string_view::npos)
          line = line.substr(0, semi);
        line = trim(line);
        std::uint64_t size = 0;
        auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
        if (line.empty() || ec != std::errc{} || p != line.data() + line.size()) {
          return fail("malformed chunk size");
        }
        partial_.clear();
        if (size == 0) {
          state_ = State::kTrailers;
          trailer_line_ = 0;
        } else {
          remaining_ = size;
          state_ = State::kChunkData;
        }
        break;
      }
      case State::kChunkData: {
        const std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(n - pos, remaining_));
        if (body_) body_->append(data + pos, take);
        body_bytes_ += take;
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          state_ = State::kChunkCrlf;
          trailer_line_ = 0;
        }
        break;
      }
      case State::kChunkCrlf:
        ++pos;
        if (c == '\n') {
          state_ = State::kChunkSize;
        } else if (c != '\r') {
          return fail("missing CRLF after chunk data");
        }
        break;
      case State::kTrailers:
        ++pos;
        if (c == '\n') {
          if (trailer_line_ == 0) {
            state_ = State::kDone;
            return Result::kDone;
          }
          trailer_line_ = 0;
        } else if (c != '\r') {
          ++trailer_line_;
        }
        break;
      default:
        return Result::kNeedMore;
    }
  }
  return Result::kNeedMore;
}

ResponseParser::Result ResponseParser::on_eof() {
  if (state_ == State::kUntilClose) {
    state_ = State::kDone;
    return Result::kDone;
  }
  if (state_ == State::kDone) return Result::kDone;
  return fail(started() ? "connection closed mid-response" : "connection closed before response");
}

}  // namespace ld::proto::http1
