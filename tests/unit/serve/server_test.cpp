// The control socket server with a stand-in session: concurrent clients, a silent client, a
// running document interrupted by stop(), quit, the address policy.
#include "serve/server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loaddensity/core/error.hpp"
#include "serve/protocol.hpp"

namespace ld::serve {
namespace {

// Replies one line per action: the action's name. ["block"] waits until interrupted.
class EchoSession final : public Session {
 public:
  explicit EchoSession(std::atomic<int>& blocked) : blocked_(blocked) {}
  std::vector<std::string> run(const Json& doc) override {
    Json results = Json::array();
    for (const Json& a : doc) {
      if (a[0] == "block") {
        std::unique_lock lk(mu_);
        ++blocked_;
        cv_.wait(lk, [this] { return interrupted_; });
        results.push_back({{"ok", false}, {"error", "interrupted"}});
        continue;
      }
      results.push_back({{"ok", true}, {"result", a[0]}});
    }
    return reply_for_results(results);
  }
  void interrupt() noexcept override {
    std::lock_guard lk(mu_);
    interrupted_ = true;
    cv_.notify_all();
  }

 private:
  std::atomic<int>& blocked_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool interrupted_ = false;
};

class Client {
 public:
  explicit Client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  bool connected() const { return connected_; }
  void send(const std::string& s) {
    for (std::size_t off = 0; off < s.size();) {
      const ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  bool connected_ = false;
};

struct Fixture : ::testing::Test {
  std::atomic<int> blocked{0};
  std::unique_ptr<SocketServer> server;
  void start(ServeOptions o = {}) {
    o.host = "127.0.0.1";
    o.port = 0;
    server = std::make_unique<SocketServer>(
        o, [this] { return std::make_unique<EchoSession>(blocked); });
    server->start();
  }
  std::string ask(const std::string& body) {
    Client c(server->port());
    EXPECT_TRUE(c.connected());
    c.send(body);
    return c.read_all();
  }
};

const std::string kEnd(kTerminator);

TEST_F(Fixture, LegacyAndConcurrentClients) {
  start();
  EXPECT_EQ(ask(R"([["a"], ["b"]])"), "\"a\"\n\"b\"\n" + kEnd);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 50; ++i) {
    clients.emplace_back([&, i] {
      const std::string name = "c" + std::to_string(i);
      if (ask("[[\"" + name + "\"]]") == "\"" + name + "\"\n" + kEnd) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 50);
  EXPECT_EQ(server->stats().documents, 51u);
}

TEST_F(Fixture, FramedRepliesAreFrames) {
  ServeOptions o;
  o.framed = true;
  start(o);
  EXPECT_EQ(ask(encode_piece(R"([["a"]])", true)),
            encode_piece("\"a\"\n", true) + encode_piece(kTerminator, true));
  EXPECT_EQ(ask(std::string(4, '\0')), "");  // zero length: closed unanswered
  EXPECT_EQ(server->stats().dropped, 1u);
}

TEST_F(Fixture, SilentClientDoesNotBlockOthersAndStopEndsIt) {
  start();
  Client silent(server->port());
  ASSERT_TRUE(silent.connected());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ask(R"([["x"]])"), "\"x\"\n" + kEnd);
  server->stop();
  EXPECT_EQ(silent.read_all(), "");
}

TEST_F(Fixture, StopInterruptsARunningDocumentWhoseReplyStillGoesOut) {
  start();
  Client running(server->port());
  running.send(R"([["before"], ["block"], ["after"]])");
  // Others are served while it runs.
  EXPECT_EQ(ask(R"([["y"]])"), "\"y\"\n" + kEnd);
  std::string reply;
  std::thread reader([&] { reply = running.read_all(); });
  while (blocked.load() == 0) std::this_thread::yield();
  server->stop();
  reader.join();
  EXPECT_EQ(reply, "\"before\"\n{\"error\":\"interrupted\"}\n\"after\"\n" + kEnd);
}

TEST_F(Fixture, QuitEndsTheWait) {
  start();
  std::atomic<bool> never{false};
  std::thread quitter([&] { EXPECT_EQ(ask("quit_server"), "Server shutting down\n"); });
  EXPECT_TRUE(server->wait(&never));
  quitter.join();
  server->stop();
}

TEST(SocketServer, NonLoopbackNeedsTokenOrTls) {
  ServeOptions o;
  o.host = "0.0.0.0";
  o.port = 0;
  SocketServer open_server(o, [] { return std::unique_ptr<Session>(); });
  EXPECT_THROW(open_server.start(), ConfigError);
  o.token = "t";
  SocketServer with_token(o, [] { return std::unique_ptr<Session>(); });
  EXPECT_NO_THROW(with_token.start());
  with_token.stop();
  o.token.clear();
  o.tls_cert = "/nonexistent/cert.pem";
  SocketServer half_tls(o, [] { return std::unique_ptr<Session>(); });
  EXPECT_THROW(half_tls.start(), ConfigError);  // no key, and no such certificate
}

}  // namespace
}  // namespace ld::serve
