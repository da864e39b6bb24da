#pragma once
// One operation of one virtual user, as the protocol reports it. Flat, no heap members: it is
// built on the stack on the hot path and folded into per-thread aggregates at once.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "loaddensity/core/clock.hpp"

namespace ld::stats {

enum class ErrorKind : std::uint8_t {
  kNone = 0,
  kRefused,     // connection refused
  kConnect,     // other connect failure (unreachable, DNS)
  kTimeout,     // the operation exceeded its timeout
  kReset,       // peer reset or closed the connection mid-exchange
  kTls,         // TLS handshake or certificate verification
  kHttpStatus,  // a response arrived with a failing status (HTTP >= 400)
  kProtocol,    // malformed response / frame
  kAssertion,   // a check on the response failed
  kDropped,     // dropped on purpose by the network conditioner
  kOther,
  kAborted,         // still in flight when the test ended (graceful stop, watchdog, Ctrl-C)
  kInvalidRequest,  // the request could not be sent as rendered (CR/LF/NUL in a header, bad URL)
  kRedisError,      // a Redis server answered with an error reply (-ERR ..., -WRONGTYPE ...)
  kSqlError,        // a SQL server or SQLite refused a statement (message: SQLSTATE and text)
  kGrpcStatus,      // a gRPC call ended with a status other than OK (message: code name, text)
  kKafkaError,      // librdkafka failed a produce or consume (message: its error name and text)
  kMongoError,      // a MongoDB server or libmongoc failed an operation (message: code and text)
  kAuth,            // the request's credentials could not be made (token request failed, bad key)
  kUnreachable,     // no answer at all from a datagram peer (QUIC: nothing came back in the timeout)
  kCount_,
};
constexpr std::size_t kErrorKindCount = static_cast<std::size_t>(ErrorKind::kCount_);
const char* error_kind_name(ErrorKind k) noexcept;

// Why an operation failed, without allocating: `what` must point to static storage;
// `code` is an errno value (when `code_is_errno`) or a protocol status.
struct ErrorInfo {
  ErrorKind kind = ErrorKind::kNone;
  const char* what = nullptr;
  int code = 0;
  bool code_is_errno = false;
};

// Failure text the record log keeps per record (the start of a body or message).
inline constexpr std::size_t kRecordTextMax = 1024;
// LD_start_test `record_bodies`: what a success keeps of its body and of its headers, each.
inline constexpr std::size_t kRecordBodiesDefault = 4096;  // `record_bodies: true`
inline constexpr std::size_t kRecordBodiesMax = 16384;      // the largest number accepted

struct Record {
  std::uint32_t name_id = 0;  // index into the run's NameTable
  Nanos planned = 0;          // when the operation should have started (steady ns)
  Nanos start = 0;            // when it actually started sending
  Nanos end = 0;              // when the last byte of the answer arrived (or it failed)
  std::uint32_t status = 0;   // protocol status (HTTP code), 0 when none
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  // Messages of a streamed exchange (gRPC streams): sent and received within this operation;
  // 0 for protocols that have none. Counted per name next to the operations.
  std::uint32_t messages_out = 0;
  std::uint32_t messages_in = 0;
  ErrorInfo error;  // kind == kNone means success
  // Only for the record log (copied when one is attached, valid until record() returns):
  // the URL actually requested when it differs per request (rendered placeholders, a
  // redirect); empty = the task's static URL. `text`: for a failure, the start of the
  // response body or a message (at most the first 1 KiB is kept); for a success, its body
  // when the test keeps bodies (WorkerContext::keep_bodies), as `headers` its header block.
  std::string_view url;
  std::string_view text;
  std::string_view headers;

  bool ok() const noexcept { return error.kind == ErrorKind::kNone; }
  Nanos latency() const noexcept { return end - planned; }  // what the user saw
  Nanos service() const noexcept { return end - start; }    // what the server took
};

}  // namespace ld::stats
