// Message types at run time: a .proto parsed by protobuf's compiler, or the files a server's
// reflection service sends. Either way the result is a list of FileDescriptorProtos built into
// one pool with no fallback database, so lookups during the run take no lock.
#include "grpc/schema.hpp"

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/channel.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ld::proto::grpc {

namespace pb = google::protobuf;
namespace fs = std::filesystem;

std::string type_url(const std::string& full_name) { return "type.googleapis.com/" + full_name; }

struct Schema::Impl {
  pb::DescriptorPool pool;
};

Schema::Schema() : impl_(std::make_unique<Impl>()) {}
Schema::~Schema() = default;

namespace {

// Files in dependency order (each after what it imports), built into `pool`.
void build_pool(pb::DescriptorPool& pool, const std::map<std::string, pb::FileDescriptorProto>& files,
                const std::string& where) {
  std::set<std::string> done;
  std::vector<std::string> stack;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    if (done.count(name)) return;
    if (std::find(stack.begin(), stack.end(), name) != stack.end()) {
      throw std::runtime_error(where + ": import cycle through " + name);
    }
    auto it = files.find(name);
    if (it == files.end()) throw std::runtime_error(where + ": missing imported file " + name);
    stack.push_back(name);
    for (const auto& dep : it->second.dependency()) visit(dep);
    stack.pop_back();
    if (!pool.BuildFile(it->second)) {
      throw std::runtime_error(where + ": cannot build descriptors of " + name);
    }
    done.insert(name);
  };
  for (const auto& [name, proto] : files) visit(name);
}

// The well-known types (google/protobuf/*.proto) are compiled into libprotobuf: a .proto that
// imports one gets the library's copy when no file of that name is on the import path.
class SourceTree final : public pb::compiler::SourceTree {
 public:
  explicit SourceTree(pb::compiler::DiskSourceTree& disk) : disk_(disk) {}
  pb::io::ZeroCopyInputStream* Open(const std::string& filename) override {
    if (auto* in = disk_.Open(filename)) return in;
    if (const pb::FileDescriptor* f = pb::DescriptorPool::generated_pool()->FindFileByName(filename)) {
      texts_.push_back(std::make_unique<std::string>(f->DebugString()));
      return new pb::io::ArrayInputStream(texts_.back()->data(),
                                          static_cast<int>(texts_.back()->size()));
    }
    return nullptr;
  }
  std::string GetLastErrorMessage() override { return disk_.GetLastErrorMessage(); }

 private:
  pb::compiler::DiskSourceTree& disk_;
  std::vector<std::unique_ptr<std::string>> texts_;
};

class Errors final : public pb::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column, const std::string& message) override {
    if (!text.empty()) text += "; ";
    text += file + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  std::string text;
};

void collect(const pb::FileDescriptor* f, std::map<std::string, pb::FileDescriptorProto>& out) {
  if (out.count(f->name())) return;
  f->CopyTo(&out[f->name()]);
  for (int i = 0; i < f->dependency_count(); ++i) collect(f->dependency(i), out);
}

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + std::string(what) + " '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// --- the reflection client (grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo).
// The messages are few and small, so they are encoded and decoded by hand here.
constexpr const char* kReflectionMethod =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

std::string encode_request(int field, const std::string& value) {
  std::string out;
  {
    pb::io::StringOutputStream s(&out);
    pb::io::CodedOutputStream c(&s);
    c.WriteTag(pb::internal::WireFormatLite::MakeTag(
        field, pb::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    c.WriteVarint32(static_cast<std::uint32_t>(value.size()));
    c.WriteString(value);
  }
  return out;
}

struct ReflectionAnswer {
  std::vector<std::string> files;  // serialized FileDescriptorProtos
  int error_code = 0;
  std::string error_message;
};

bool decode_answer(const std::string& bytes, ReflectionAnswer& out) {
  using WFL = pb::internal::WireFormatLite;
  pb::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                              static_cast<int>(bytes.size()));
  while (std::uint32_t tag = in.ReadTag()) {
    const int field = WFL::GetTagFieldNumber(tag);
    if ((field == 4 || field == 7) && WFL::GetTagWireType(tag) == WFL::WIRETYPE_LENGTH_DELIMITED) {
      std::string sub;
      std::uint32_t len = 0;
      if (!in.ReadVarint32(&len) || !in.ReadString(&sub, static_cast<int>(len))) return false;
      pb::io::CodedInputStream s(reinterpret_cast<const std::uint8_t*>(sub.data()),
                                 static_cast<int>(sub.size()));
      while (std::uint32_t t = s.ReadTag()) {
        const int f = WFL::GetTagFieldNumber(t);
        if (field == 4 && f == 1) {  // FileDescriptorResponse.file_descriptor_proto
          std::uint32_t n = 0;
          std::string file;
          if (!s.ReadVarint32(&n) || !s.ReadString(&file, static_cast<int>(n))) return false;
          out.files.push_back(std::move(file));
        } else if (field == 7 && f == 1) {  // ErrorResponse.error_code
          std::uint32_t code = 0;
          if (!s.ReadVarint32(&code)) return false;
          out.error_code = static_cast<int>(code);
        } else if (field == 7 && f == 2) {  // ErrorResponse.error_message
          std::uint32_t n = 0;
          if (!s.ReadVarint32(&n) || !s.ReadString(&out.error_message, static_cast<int>(n))) {
            return false;
          }
        } else if (!WFL::SkipField(&s, t)) {
          return false;
        }
      }
    } else if (!WFL::SkipField(&in, tag)) {
      return false;
    }
  }
  return true;
}

// One bidirectional reflection call driven synchronously on a private completion queue.
class ReflectionCall {
 public:
  ReflectionCall(const Endpoint& e) : where_(e.target) {
    std::shared_ptr<::grpc::ChannelCredentials> creds;
    if (e.tls) {
      ::grpc::SslCredentialsOptions o;
      if (!e.ca.empty()) o.pem_root_certs = read_file(e.ca, "CA bundle (ca)");
      if (!e.cert.empty()) o.pem_cert_chain = read_file(e.cert, "client certificate (cert)");
      if (!e.key.empty()) o.pem_private_key = read_file(e.key, "client key (key)");
      creds = ::grpc::SslCredentials(o);
    } else {
      creds = ::grpc::InsecureChannelCredentials();
    }
    ::grpc::ChannelArguments args;
    if (!e.authority.empty()) {
      if (e.tls) args.SetSslTargetNameOverride(e.authority);
      args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, e.authority);
    }
    channel_ = ::grpc::CreateCustomChannel(e.target, creds, args);
    stub_ = std::make_unique<::grpc::GenericStub>(channel_);
    ctx_.set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(static_cast<long long>(e.timeout_s * 1000)));
    call_ = stub_->PrepareCall(&ctx_, kReflectionMethod, &cq_);
    call_->StartCall(tag());
    if (!wait()) fail("cannot start the reflection call");
  }
  ~ReflectionCall() {
    if (call_ && !finished_) {
      ctx_.TryCancel();
      ::grpc::Status ignored;
      call_->Finish(&ignored, tag());
      wait();
    }
    cq_.Shutdown();
    void* t;
    bool ok;
    while (cq_.Next(&t, &ok)) {
    }
  }

  ReflectionAnswer ask(int field, const std::string& value) {
    ::grpc::Slice slice(encode_request(field, value));
    call_->Write(::grpc::ByteBuffer(&slice, 1), tag());
    if (!wait()) fail("the reflection request could not be sent");
    ::grpc::ByteBuffer reply;
    call_->Read(&reply, tag());
    if (!wait()) fail("the reflection stream ended without an answer");
    std::vector<::grpc::Slice> slices;
    reply.Dump(&slices);
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    ReflectionAnswer a;
    if (!decode_answer(bytes, a)) throw std::runtime_error(where_ + ": malformed reflection answer");
    return a;
  }

  void close() {
    call_->WritesDone(tag());
    wait();
    ::grpc::Status status;
    call_->Finish(&status, tag());
    wait();
    finished_ = true;
  }

 private:
  void* tag() { return this; }
  bool wait() {
    void* t = nullptr;
    bool ok = false;
    return cq_.Next(&t, &ok) && ok;
  }
  [[noreturn]] void fail(const std::string& what) {
    ::grpc::Status status;
    call_->Finish(&status, tag());
    wait();
    finished_ = true;
    std::string why = what;
    if (!status.ok()) {
      why = status.error_code() == ::grpc::StatusCode::UNIMPLEMENTED
                ? "the server has no reflection service (UNIMPLEMENTED); give the task a `proto` file"
                : "reflection failed: " + status.error_message() + " (code " +
                      std::to_string(status.error_code()) + ")";
    }
    throw std::runtime_error("gRPC server " + where_ + ": " + why);
  }

  std::string where_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::unique_ptr<::grpc::GenericStub> stub_;
  ::grpc::ClientContext ctx_;
  ::grpc::CompletionQueue cq_;
  std::unique_ptr<::grpc::GenericClientAsyncReaderWriter> call_;
  bool finished_ = false;
};

}  // namespace

std::shared_ptr<const Schema> Schema::from_proto(const std::string& proto,
                                                 const std::vector<std::string>& import_paths) {
  std::error_code ec;
  if (!fs::is_regular_file(proto, ec)) throw std::runtime_error("'" + proto + "' is not a readable file");
  pb::compiler::DiskSourceTree disk;
  // protoc's rule: a file under an import path is known by its path relative to it.
  std::string virtual_name;
  const fs::path abs = fs::absolute(proto).lexically_normal();
  for (const auto& dir : import_paths) {
    const fs::path base = fs::absolute(dir).lexically_normal();
    const fs::path rel = abs.lexically_relative(base);
    if (!rel.empty() && *rel.begin() != "..") {
      virtual_name = rel.generic_string();
      break;
    }
  }
  if (virtual_name.empty()) {
    disk.MapPath("", abs.parent_path().string());
    virtual_name = abs.filename().string();
  }
  for (const auto& dir : import_paths) disk.MapPath("", dir);
  SourceTree tree(disk);
  Errors errors;
  pb::compiler::Importer importer(&tree, &errors);
  const pb::FileDescriptor* file = importer.Import(virtual_name);
  if (!file) {
    throw std::runtime_error(errors.text.empty() ? "cannot parse '" + proto + "'" : errors.text);
  }
  std::map<std::string, pb::FileDescriptorProto> files;
  collect(file, files);
  std::shared_ptr<Schema> s(new Schema());
  build_pool(s->impl_->pool, files, proto);
  s->resolver_.reset(pb::util::NewTypeResolverForDescriptorPool("type.googleapis.com", &s->impl_->pool));
  return s;
}

std::shared_ptr<const Schema> Schema::from_reflection(const Endpoint& endpoint,
                                                      const std::string& service) {
  ReflectionCall call(endpoint);
  std::map<std::string, pb::FileDescriptorProto> files;
  auto take = [&](const ReflectionAnswer& a, const std::string& asked) {
    if (a.error_code != 0) {
      throw std::runtime_error("gRPC server " + endpoint.target + ": reflection knows no " + asked +
                               ": " + a.error_message + " (code " + std::to_string(a.error_code) +
                               ")");
    }
    for (const auto& bytes : a.files) {
      pb::FileDescriptorProto f;
      if (!f.ParseFromString(bytes)) {
        throw std::runtime_error("gRPC server " + endpoint.target +
                                 ": reflection sent a malformed file descriptor");
      }
      files.emplace(f.name(), std::move(f));
    }
  };
  take(call.ask(4, service), "service '" + service + "'");  // file_containing_symbol
  // Imports the server did not send with it: ask by name; the well-known types come from the
  // library when the server does not have them.
  for (bool more = true; more;) {
    more = false;
    std::vector<std::string> missing;
    for (const auto& [name, f] : files) {
      for (const auto& dep : f.dependency()) {
        if (!files.count(dep)) missing.push_back(dep);
      }
    }
    for (const auto& dep : missing) {
      if (files.count(dep)) continue;
      if (const auto* f = pb::DescriptorPool::generated_pool()->FindFileByName(dep)) {
        f->CopyTo(&files[dep]);
      } else {
        take(call.ask(3, dep), "file '" + dep + "'");  // file_by_filename
      }
      more = true;
    }
  }
  call.close();
  std::shared_ptr<Schema> s(new Schema());
  build_pool(s->impl_->pool, files, "gRPC server " + endpoint.target);
  s->resolver_.reset(pb::util::NewTypeResolverForDescriptorPool("type.googleapis.com", &s->impl_->pool));
  return s;
}

bool split_method(const std::string& full, std::string& service, std::string& method,
                  std::string& error) {
  std::string_view text = full;
  if (!text.empty() && text.front() == '/') text.remove_prefix(1);
  std::size_t cut = text.find('/');
  if (cut == std::string_view::npos) cut = text.rfind('.');
  if (cut == std::string_view::npos || cut == 0 || cut + 1 == text.size()) {
    error = "'" + full + "' is not a method name (write package.Service/Method)";
    return false;
  }
  service.assign(text.substr(0, cut));
  method.assign(text.substr(cut + 1));
  return true;
}

const pb::MethodDescriptor* Schema::method(const std::string& full, std::string& error) const {
  std::string service, name;
  if (!split_method(full, service, name, error)) return nullptr;
  const pb::ServiceDescriptor* svc = impl_->pool.FindServiceByName(service);
  if (!svc) {
    error = "no service '" + service + "' in the schema";
    return nullptr;
  }
  const pb::MethodDescriptor* m = svc->FindMethodByName(name);
  if (!m) {
    std::string names;
    for (int i = 0; i < svc->method_count(); ++i) names += (i ? ", " : "") + svc->method(i)->name();
    error = "service '" + service + "' has no method '" + name + "' (it has: " + names + ")";
    return nullptr;
  }
  return m;
}

}  // namespace ld::proto::grpc
