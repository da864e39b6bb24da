// grpc_user's pieces that need no server: status names, message framing, and schemas parsed
// from .proto files at run time (imports, well-known types, errors that name the place).
#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "grpc/grpc_impl.hpp"
#include "grpc/schema.hpp"

namespace ld::proto::grpc {
namespace {

namespace fs = std::filesystem;

TEST(GrpcStatus, NamesAndNumbers) {
  EXPECT_EQ(status_code_of("OK"), 0);
  EXPECT_EQ(status_code_of("NOT_FOUND"), 5);
  EXPECT_EQ(status_code_of("not_found"), 5);
  EXPECT_EQ(status_code_of("5"), 5);
  EXPECT_EQ(status_code_of("16"), 16);
  EXPECT_EQ(status_code_of("UNAUTHENTICATED"), 16);
  EXPECT_EQ(status_code_of("17"), -1);
  EXPECT_EQ(status_code_of("NOPE"), -1);
  EXPECT_EQ(status_code_of(""), -1);
  EXPECT_EQ(status_code_of("-1"), -1);
}

TEST(GrpcFraming, RoundTripsMessages) {
  std::string body;
  append_frame(body, "abc");
  append_frame(body, "");
  append_frame(body, std::string(70000, 'x'));
  ASSERT_EQ(body.size(), 3 * 5 + 3 + 70000u);
  EXPECT_EQ(body.substr(0, 5), std::string("\0\0\0\0\3", 5));
  std::vector<std::string> got;
  EXPECT_EQ(each_frame(body, [&](std::string_view m) { got.emplace_back(m); }), nullptr);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "abc");
  EXPECT_EQ(got[1], "");
  EXPECT_EQ(got[2].size(), 70000u);
}

TEST(GrpcFraming, RefusesTruncatedAndCompressedBodies) {
  std::string body;
  append_frame(body, "hello");
  int n = 0;
  auto count = [&](std::string_view) { ++n; };
  EXPECT_NE(each_frame(std::string_view(body).substr(0, 3), count), nullptr);  // in the header
  EXPECT_NE(each_frame(std::string_view(body).substr(0, 8), count), nullptr);  // in the message
  std::string compressed = body;
  compressed[0] = 1;
  EXPECT_NE(std::string(each_frame(compressed, count)).find("compressed"), std::string::npos);
  EXPECT_EQ(n, 0);
}

class ProtoFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ld-grpc-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "inc" / "shop");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const fs::path& rel, const std::string& text) {
    const fs::path p = dir_ / rel;
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

TEST_F(ProtoFiles, ImportsFromPathsAndWellKnownTypes) {
  write("inc/shop/common.proto",
        "syntax = \"proto3\"; package shop; message Money { int64 cents = 1; }\n");
  const std::string main = write("orders.proto",
                                 "syntax = \"proto3\";\n"
                                 "package shop;\n"
                                 "import \"shop/common.proto\";\n"
                                 "import \"google/protobuf/timestamp.proto\";\n"
                                 "message Get { string id = 1; }\n"
                                 "message Order { string id = 1; shop.Money total = 2;\n"
                                 "  google.protobuf.Timestamp at = 3; }\n"
                                 "service Orders { rpc Find(Get) returns (Order);\n"
                                 "  rpc Watch(Get) returns (stream Order); }\n");
  auto schema = Schema::from_proto(main, {(dir_ / "inc").string()});
  std::string error;
  const auto* m = schema->method("shop.Orders/Find", error);
  ASSERT_NE(m, nullptr) << error;
  EXPECT_FALSE(m->server_streaming());
  EXPECT_EQ(m->output_type()->full_name(), "shop.Order");
  ASSERT_NE(schema->method("/shop.Orders/Watch", error), nullptr);
  EXPECT_TRUE(schema->method("shop.Orders.Watch", error)->server_streaming());

  // JSON <-> binary through the schema's resolver, well-known types included.
  std::string bin, json;
  ASSERT_TRUE(google::protobuf::util::JsonToBinaryString(
                  schema->resolver(), type_url("shop.Order"),
                  R"({"id":"o1","total":{"cents":"250"},"at":"2026-11-30T12:00:00Z"})", &bin)
                  .ok());
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  ASSERT_TRUE(google::protobuf::util::BinaryToJsonString(schema->resolver(), type_url("shop.Order"),
                                                         bin, &json, opts)
                  .ok());
  EXPECT_EQ(json, R"({"id":"o1","total":{"cents":"250"},"at":"2026-11-30T12:00:00Z"})");
}

TEST_F(ProtoFiles, MissingMethodsAreNamed) {
  const std::string p = write("svc.proto",
                              "syntax = \"proto3\"; package a; message M {}\n"
                              "service S { rpc One(M) returns (M); rpc Two(M) returns (M); }\n");
  auto schema = Schema::from_proto(p, {});
  std::string error;
  EXPECT_EQ(schema->method("a.S/Three", error), nullptr);
  EXPECT_NE(error.find("has no method 'Three' (it has: One, Two)"), std::string::npos) << error;
  EXPECT_EQ(schema->method("a.T/One", error), nullptr);
  EXPECT_NE(error.find("no service 'a.T'"), std::string::npos) << error;
  EXPECT_EQ(schema->method("One", error), nullptr);
  EXPECT_NE(error.find("package.Service/Method"), std::string::npos) << error;
}

TEST_F(ProtoFiles, SyntaxErrorsNameFileLineAndColumn) {
  const std::string p = write("bad.proto", "syntax = \"proto3\";\nmessage A { strin x = 1; }\n");
  try {
    Schema::from_proto(p, {});
    FAIL() << "a broken .proto was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.proto:2:"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Schema::from_proto((dir_ / "absent.proto").string(), {}), std::runtime_error);
}

}  // namespace
}  // namespace ld::proto::grpc
