// Framing and replies shared by the language server and the MCP server.
#include <istream>
#include <ostream>

#include "tooling/host.hpp"

namespace ld::tooling {

bool read_lsp_message(std::istream& in, std::string& body) {
  std::string line;
  std::size_t length = 0;
  bool have_length = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (!have_length) continue;  // stray blank line between messages
      body.assign(length, '\0');
      in.read(body.data(), static_cast<std::streamsize>(length));
      return static_cast<std::size_t>(in.gcount()) == length;
    }
    const std::string key = "content-length:";
    if (line.size() > key.size()) {
      std::string head = line.substr(0, key.size());
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (head == key) {
        length = std::stoul(line.substr(key.size()));
        have_length = true;
      }
    }
  }
  return false;
}

void write_lsp_message(std::ostream& out, const Json& message) {
  const std::string body = message.dump(-1, ' ', false, Json::error_handler_t::replace);
  out << "Content-Length: " << body.size() << "\r\n\r\n" << body;
  out.flush();
}

bool read_line_message(std::istream& in, std::string& body) {
  while (std::getline(in, body)) {
    if (!body.empty() && body.back() == '\r') body.pop_back();
    if (!body.empty()) return true;
  }
  return false;
}

void write_line_message(std::ostream& out, const Json& message) {
  out << message.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
  out.flush();
}

Json rpc_result(const Json& id, Json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

Json rpc_error(const Json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

}  // namespace ld::tooling
