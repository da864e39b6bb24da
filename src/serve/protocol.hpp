#pragma once
// The control socket's wire protocol (CONTRACT.md §6), apart from any socket: frame headers,
// the token comparison and what a request body asks for. The server (server.hpp) reads bytes,
// asks `decide` what to do, runs the document it names elsewhere and writes the pieces back.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.hpp"

namespace ld::serve {

constexpr std::size_t kMaxFrame = 1u << 20;  // framed mode: a body is 1 B to 1 MiB
constexpr std::size_t kLegacyRead = 8192;    // legacy mode: the original's one recv(8192)
constexpr std::string_view kTerminator = "Return_Data_Over_JE\n";
constexpr std::string_view kQuitServer = "quit_server";
constexpr std::string_view kShuttingDown = "Server shutting down\n";
constexpr std::string_view kTokenRequired = "Error: token required\n";
constexpr std::string_view kUnauthorised = "Error: unauthorised\n";

// Framed mode: a 4-byte big-endian length, then the body.
std::array<unsigned char, 4> frame_header(std::uint32_t length) noexcept;
std::uint32_t read_frame_header(const unsigned char* four) noexcept;
// A length the server accepts (1..kMaxFrame); anything else closes the connection unanswered.
constexpr bool frame_length_ok(std::uint32_t n) noexcept { return n >= 1 && n <= kMaxFrame; }
// One reply piece as it goes on the wire: framed (header + piece) or as is.
std::string encode_piece(std::string_view piece, bool framed);

// True when `a` and `b` are equal. Takes the same time for every pair of the same lengths
// whatever their contents (hmac.compare_digest's promise): no early exit on a mismatch.
bool token_equal(std::string_view a, std::string_view b) noexcept;

// Legacy mode reads until the bytes are a request: `quit_server`, a complete JSON text, or
// text that can never become JSON (answered at once with the parse error). kIncomplete: read
// more (the connection's deadline, the peer closing its side or kMaxFrame ends the wait).
enum class Completeness { kComplete, kIncomplete };
Completeness legacy_completeness(std::string_view bytes);

// What a request body asks for.
struct Decision {
  // Written back at once, in order (each is one frame in framed mode). Empty with no
  // document: nothing is written (an empty request).
  std::vector<std::string> reply;
  bool quit = false;             // stop the server once the reply is out
  std::optional<Json> document;  // run this (then reply_for_results / reply_for_error)
};

// `token`: the configured token ("" = none). Pure: runs nothing.
Decision decide(std::string_view body, std::string_view token);

// The reply after the document ran: one piece per executed action (its JSON result, or
// {"error": message} for a failed one), each ending in "\n", then the terminator.
// `results`: the ExecutionReport's entries ({"ok", "result"|"error", ...}).
std::vector<std::string> reply_for_results(const Json& results);
// The reply when the document did not run at all (not a document, failed its static check).
std::vector<std::string> reply_for_error(std::string_view message);

}  // namespace ld::serve
