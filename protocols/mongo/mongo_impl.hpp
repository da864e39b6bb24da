#pragma once
// Private to protocols/mongo: the compiled form of mongo_user tasks and the per-run clients.
#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checks/checks.hpp"
#include "common/step_tasks.hpp"
#include "loaddensity/protocol/completion.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::mongo {

constexpr double kDefaultTimeoutS = 5.0;  // the original's serverSelectionTimeoutMS (5000)
constexpr std::string_view kDefaultUrl = "mongodb://127.0.0.1:27017";
// The run's offload pool and each server's client pool have one thread / client per user, up
// to this many: a user's call holds one pool thread and one client until it returns.
constexpr unsigned kMaxClients = 512;

enum class Method : std::uint8_t {
  kFindOne,
  kFind,
  kInsertOne,
  kInsertMany,
  kUpdateOne,
  kDeleteOne,
  kCount
};

// Calls mongoc_init() once per process (thread-safe); mongoc_cleanup is left to process exit.
void init_driver();

// A BSON document compiled from a JSON value once: converted when nothing in it changes per
// request, else a template rendered to JSON and converted per request.
struct BsonTemplate {
  BsonTemplate() = default;
  BsonTemplate(BsonTemplate&&) noexcept;
  BsonTemplate& operator=(BsonTemplate&&) noexcept;
  ~BsonTemplate();

  bson_t* fixed = nullptr;  // static: the document
  params::Template tpl;     // dynamic: relaxed extended JSON with ${...}
  bool has_id = false;      // static: it has a top-level _id

  bool dynamic() const noexcept { return fixed == nullptr; }
  // The document for one request: `fixed`, or `tpl` rendered into `text` and parsed into
  // `out` (initialised by the caller, reinitialised here). Null with `error` set when the
  // rendered text is not JSON libbson accepts.
  const bson_t* render(params::UserScope& scope, std::string& text, bson_t* out,
                       bson_error_t* error) const;
};

// One server (URL) of the run: its client pool, made in start_run.
struct Server {
  std::string url;       // as compiled (placeholders fixed for the run folded)
  long long selection_timeout_ms = 5000;  // serverSelectionTimeoutMS unless the URL sets it
  long long socket_timeout_ms = 5000;     // socketTimeoutMS: the longest task timeout
  mongoc_client_pool_t* pool = nullptr;
  std::string first_host;  // the URL's first host and port, probed when a connect failed
  std::uint16_t first_port = 0;
};

// libmongoc reports a failed connect as "Failed to connect to target host" without the reason:
// a non-blocking connect to `host`:`port` (at most `wait_ms`) tells refused (true) apart.
bool connect_refused(const std::string& host, std::uint16_t port, int wait_ms) noexcept;

struct Step {
  Method method = Method::kFindOne;
  std::uint32_t name_id = 0;
  std::size_t server = 0;
  Nanos timeout = 0;
  params::Template database, collection;
  BsonTemplate filter, document, update;
  std::vector<BsonTemplate> documents;  // insert_many
  long long limit = 0;                  // find: 0 = no limit
  bool upsert = false;                  // update_one
  long long expect_min = -1;            // -1: not checked
  std::string expect_message;           // "expect_min failed: at least N documents"
  std::unique_ptr<checks::Checks> checks;  // on the result as JSON; null when none
};

class Tasks final : public proto::StepTasks<Step> {
 public:
  ~Tasks() override;
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;
  void start_run(unsigned worker_threads) override;
  void end_run() noexcept override;

  std::vector<std::unique_ptr<Server>> servers;
  unsigned clients = 1;  // per server pool and offload threads: the users, up to kMaxClients
  std::unique_ptr<engine::OffloadPool> pool;  // per run
};

}  // namespace ld::proto::mongo
