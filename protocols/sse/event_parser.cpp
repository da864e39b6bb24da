#include "event_parser.hpp"

namespace ld::proto::sse {

void EventParser::reset() noexcept {
  line_.clear();
  data_.clear();
  type_.clear();
  id_buffer_.clear();
  last_id_.clear();
  retry_ms_ = -1;
  skip_lf_ = false;
  bom_checked_ = false;
  dispatched_ = false;
  error_ = false;
  events_ = 0;
  comments_ = 0;
}

std::string_view EventParser::type() const noexcept {
  return type_.empty() ? std::string_view("message") : std::string_view(type_);
}

std::size_t EventParser::feed(std::string_view in, bool& event_ready) {
  event_ready = false;
  if (error_) return 0;
  if (dispatched_) {
    data_.clear();
    type_.clear();
    dispatched_ = false;
  }
  std::size_t pos = 0;
  if (!bom_checked_) {
    // The stream may start with a UTF-8 BOM (EF BB BF), possibly split across pieces.
    static constexpr std::string_view kBom = "\xEF\xBB\xBF";
    while (pos < in.size() && line_.size() < 3 &&
           static_cast<unsigned char>(in[pos]) == static_cast<unsigned char>(kBom[line_.size()])) {
      line_.push_back(in[pos++]);
    }
    if (line_.size() == 3) {
      line_.clear();
      bom_checked_ = true;
    } else if (pos < in.size()) {
      bom_checked_ = true;  // not a BOM: what was collected is ordinary line text
    } else {
      return pos;  // all of `in` could still be a BOM prefix
    }
  }
  if (skip_lf_ && pos < in.size()) {
    if (in[pos] == '\n') ++pos;
    skip_lf_ = false;
  }
  while (pos < in.size()) {
    // Find the end of the current line.
    std::size_t end = pos;
    while (end < in.size() && in[end] != '\n' && in[end] != '\r') ++end;
    if (end == in.size()) {
      if (line_.size() + (end - pos) > max_line_) {
        error_ = true;
        return pos;
      }
      line_.append(in.substr(pos, end - pos));
      return in.size();
    }
    std::string_view line;
    if (line_.empty()) {
      line = in.substr(pos, end - pos);
    } else {
      if (line_.size() + (end - pos) > max_line_) {
        error_ = true;
        return pos;
      }
      line_.append(in.substr(pos, end - pos));
      line = line_;
    }
    std::size_t next = end + 1;
    if (in[end] == '\r') {
      if (next < in.size()) {
        if (in[next] == '\n') ++next;
      } else {
        skip_lf_ = true;  // the LF of this CRLF may start the next piece
      }
    }
    process_line(line, event_ready);
    line_.clear();
    pos = next;
    if (event_ready) return pos;
  }
  return pos;
}

void EventParser::process_line(std::string_view line, bool& event_ready) {
  if (line.empty()) {
    last_id_ = id_buffer_;  // assign() into existing capacity
    // Dispatch: an event without data is dropped (its type is reset), as EventSource does.
    if (data_.empty()) {
      type_.clear();
      return;
    }
    if (data_.back() == '\n') data_.pop_back();
    ++events_;
    dispatched_ = true;
    event_ready = true;
    return;
  }
  if (line.front() == ':') {
    ++comments_;
    return;
  }
  std::string_view field = line, value;
  if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "event") {
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) id_buffer_.assign(value);
  } else if (field == "retry") {
    if (value.empty()) return;
    std::int64_t ms = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return;  // not all digits: ignored
      if (ms > (INT64_MAX - 9) / 10) return;
      ms = ms * 10 + (c - '0');
    }
    retry_ms_ = ms;
  }
  // Any other field is ignored.
}

}  // namespace ld::proto::sse
