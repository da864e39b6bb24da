// The embedded target's gRPC echo service (examples/proto/echo.proto) on grpc++'s synchronous
// server, with the reflection service so that tasks can use `reflection: true`.
#include "target/grpc_echo.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "echo.grpc.pb.h"

namespace ld::target {

namespace {

using loaddensity::echo::EchoReply;
using loaddensity::echo::EchoRequest;

constexpr int kMaxDelayMs = 10'000;
constexpr int kMaxReplies = 100'000;

// The request's status and delay: waits, then the status to answer with.
grpc::Status prepare(grpc::ServerContext* ctx, const EchoRequest& req) {
  if (req.delay_ms() > 0) {
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(std::min(req.delay_ms(), kMaxDelayMs));
    while (std::chrono::steady_clock::now() < until && !ctx->IsCancelled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (req.status() > 0 && req.status() <= 16) {
    return grpc::Status(static_cast<grpc::StatusCode>(req.status()), "requested status");
  }
  return grpc::Status::OK;
}

// Request metadata "x-echo" comes back as trailing metadata of the same name.
void echo_metadata(grpc::ServerContext* ctx) {
  auto it = ctx->client_metadata().find("x-echo");
  if (it != ctx->client_metadata().end()) {
    ctx->AddTrailingMetadata("x-echo", std::string(it->second.data(), it->second.size()));
  }
}

class Service final : public loaddensity::echo::Echo::Service {
  grpc::Status Unary(grpc::ServerContext* ctx, const EchoRequest* req, EchoReply* rep) override {
    echo_metadata(ctx);
    grpc::Status s = prepare(ctx, *req);
    if (s.ok()) rep->set_message(req->message());
    return s;
  }

  grpc::Status ServerStream(grpc::ServerContext* ctx, const EchoRequest* req,
                            grpc::ServerWriter<EchoReply>* out) override {
    echo_metadata(ctx);
    grpc::Status s = prepare(ctx, *req);
    if (!s.ok()) return s;
    const int n = req->count() > 0 ? std::min(req->count(), kMaxReplies) : 1;
    EchoReply rep;
    rep.set_message(req->message());
    for (int i = 0; i < n; ++i) {
      rep.set_index(i);
      if (!out->Write(rep)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status ClientStream(grpc::ServerContext* ctx, grpc::ServerReader<EchoRequest>* in,
                            EchoReply* rep) override {
    echo_metadata(ctx);
    EchoRequest req;
    std::string joined;
    int n = 0;
    grpc::Status s;
    while (in->Read(&req)) {
      if (n++) joined += ',';
      joined += req.message();
      if (s.ok()) s = prepare(ctx, req);
    }
    rep->set_message(joined);
    rep->set_received(n);
    return s;
  }

  grpc::Status Bidi(grpc::ServerContext* ctx,
                    grpc::ServerReaderWriter<EchoReply, EchoRequest>* stream) override {
    echo_metadata(ctx);
    EchoRequest req;
    EchoReply rep;
    int i = 0;
    while (stream->Read(&req)) {
      grpc::Status s = prepare(ctx, req);
      if (!s.ok()) return s;
      rep.set_message(req.message());
      rep.set_index(i++);
      if (!stream->Write(rep)) break;
    }
    return grpc::Status::OK;
  }
};

}  // namespace

struct GrpcEcho::Impl {
  Service service;
  std::unique_ptr<grpc::Server> server;
};

GrpcEcho::GrpcEcho() : impl_(std::make_unique<Impl>()) {}

GrpcEcho::~GrpcEcho() { stop(); }

void GrpcEcho::start(const std::string& host, std::uint16_t port) {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string addr =
      (host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host) + ":" + std::to_string(port);
  int selected = 0;
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &selected);
  builder.RegisterService(&impl_->service);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || selected == 0) {
    impl_->server.reset();
    throw std::runtime_error("cannot listen for gRPC on " + addr);
  }
  port_ = static_cast<std::uint16_t>(selected);
}

void GrpcEcho::stop() {
  if (!impl_->server) return;
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace ld::target
