#pragma once
// Private to protocols/grpc: the message types of a run, found at run time as ghz does, from a
// .proto file (parsed by protobuf's compiler, no generated code) or from the server's
// reflection service. Read-only once built; shared by every worker.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace google::protobuf {
class DescriptorPool;
class MethodDescriptor;
namespace util {
class TypeResolver;
}
}  // namespace google::protobuf

namespace ld::proto::grpc {

// How to reach a server for reflection (the task's connection fields).
struct Endpoint {
  std::string target;     // host:port
  bool tls = false;
  std::string ca, cert, key;  // PEM file paths (may be empty)
  std::string authority;      // :authority and TLS name override (may be empty)
  double timeout_s = 10.0;
};

class Schema {
 public:
  ~Schema();
  // Parses `proto` with `import_paths` (its own directory is searched first). The well-known
  // types (google/protobuf/*.proto) are found even when no .proto of theirs is installed.
  // Throws std::runtime_error with protobuf's file:line:column messages.
  static std::shared_ptr<const Schema> from_proto(const std::string& proto,
                                                  const std::vector<std::string>& import_paths);
  // Asks the server's reflection service (grpc.reflection.v1alpha) for the file that defines
  // `service` and every file it imports. Throws std::runtime_error naming the server's answer.
  static std::shared_ptr<const Schema> from_reflection(const Endpoint& endpoint,
                                                       const std::string& service);

  // "pkg.Service/Method" -> the method, or null (`error` says what is missing).
  const google::protobuf::MethodDescriptor* method(const std::string& full,
                                                   std::string& error) const;
  // JSON <-> binary conversion for the pool's message types. Thread-safe (read-only lookups).
  google::protobuf::util::TypeResolver* resolver() const noexcept { return resolver_.get(); }

 private:
  Schema();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<google::protobuf::util::TypeResolver> resolver_;
};

// "pkg.Service/Method" (also "/pkg.Service/Method" and "pkg.Service.Method") -> its parts;
// false with `error` set when it is not a method name.
bool split_method(const std::string& text, std::string& service, std::string& method,
                  std::string& error);

// "type.googleapis.com/<full name>", the URL the resolver knows a message type by.
std::string type_url(const std::string& full_name);

}  // namespace ld::proto::grpc
