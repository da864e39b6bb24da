#pragma once
// An incremental text/event-stream parser (the HTML Living Standard's "event stream
// interpretation"). Bytes go in as they arrive, in pieces of any size; complete events come out
// one at a time, so a caller can stop right after the event it waited for and feed the rest
// later. Lines end in CRLF, LF or CR (a CRLF split across two pieces is one line end); a leading
// UTF-8 byte order mark is skipped; ":" lines are comments; "data" lines accumulate joined by
// LF; "id" sets the last event id (unless the value holds NUL); "retry" with only digits sets the
// reconnection time; an empty line dispatches the event if it has data. Buffers are reused, so
// steady-state parsing does not allocate.
#include <cstdint>
#include <string>
#include <string_view>

namespace ld::proto::sse {

class EventParser {
 public:
  static constexpr std::size_t kDefaultMaxLine = 1u << 20;  // bytes; longer lines are an error

  explicit EventParser(std::size_t max_line = kDefaultMaxLine) : max_line_(max_line) {}

  // Forgets everything, including the last event id and retry (a new stream).
  void reset() noexcept;

  // Consumes bytes from `in` until one event is complete or `in` is used up. Returns the bytes
  // consumed; when `event_ready` is set, type()/data() describe that event until the next call.
  // After an error (a line longer than the limit) every call consumes nothing.
  std::size_t feed(std::string_view in, bool& event_ready);

  // The dispatched event. `type` is "message" unless an "event" field named another.
  std::string_view type() const noexcept;
  std::string_view data() const noexcept { return data_; }
  // The last event id of the stream as of the last blank line (persists across events, as
  // EventSource's lastEventId does).
  std::string_view last_id() const noexcept { return last_id_; }
  // Reconnection time from the last valid "retry" field, in ms; -1 when none was sent.
  std::int64_t retry_ms() const noexcept { return retry_ms_; }

  std::uint64_t events() const noexcept { return events_; }      // dispatched so far
  std::uint64_t comments() const noexcept { return comments_; }  // ":" lines so far
  bool error() const noexcept { return error_; }

 private:
  void process_line(std::string_view line, bool& event_ready);

  std::size_t max_line_;
  std::string line_;       // partial line carried across feeds
  std::string data_;       // data buffer of the event being built / just dispatched
  std::string type_;       // event type of the event being built / just dispatched
  std::string id_buffer_;  // "id" of the event being built
  std::string last_id_;    // id as of the last dispatch (blank line)
  std::int64_t retry_ms_ = -1;
  bool skip_lf_ = false;  // the previous piece ended in CR: a leading LF is part of that CRLF
  bool bom_checked_ = false;
  bool dispatched_ = false;  // data_/type_ hold a dispatched event: clear them before the next line
  bool error_ = false;
  std::uint64_t events_ = 0;
  std::uint64_t comments_ = 0;
};

}  // namespace ld::proto::sse
