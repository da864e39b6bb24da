// Command line: subcommands for Locust/k6 users, plus the original's legacy flags.
#include "app/cli.hpp"

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "app/app.hpp"
#include "app/commands/commands.hpp"
#include "app/commands/tooling.hpp"
#include "app/scaffold.hpp"
#include "common/url.hpp"
#include "core/cleanup.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "dashboard/dashboard.hpp"
#include "loaddensity/core/error.hpp"
#include "sqlite/run_store.hpp"
#include "target/target.hpp"

namespace ld::app {

namespace {

std::atomic<bool>* g_interrupt = nullptr;
std::atomic<int> g_signal{0};

std::atomic<int> g_signals_seen{0};

extern "C" void on_signal(int sig) {
  if (g_signals_seen.fetch_add(1) > 0) {
    // A second Ctrl-C ends the process at once, but not before the temporary report files
    // and the record log are gone (async-signal-safe removal).
    cleanup::remove_registered_now();
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_signal.store(sig);
  if (g_interrupt) g_interrupt->store(true);
}

void install_signal_handlers(std::atomic<bool>* flag) {
  g_interrupt = flag;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // the handler itself ends the process on a second signal
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

const char* kFooter = R"(
Examples:
  loaddensity init my-test && loaddensity run my-test/LoadDensity/keyword/keyword1.json
  loaddensity run examples/quick_smoke.json
  loaddensity run-str '[["LD_start_target"], ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "user_count": 10, "test_time": 5, "tasks": [{"method": "get", "request_url": "${target}/get"}]}], ["LD_generate_summary_report", {"report_name": "smoke"}]]'

An action file is a list of ["LD_command", {arguments}] (or {"load_density": [...]}).
`loaddensity --list-commands` prints every command and user type; `loaddensity describe NAME`
shows a command's arguments or a user type's task fields.

Exit codes: 0 every action succeeded; 1 an action failed; 2 bad input (invalid document,
unknown command or argument: nothing ran); 3 a gate failed (LD_assert_sla, or `diff` found a
regression; the other actions still ran); 130 interrupted by SIGINT, 143 by SIGTERM (reports
still written). Options may follow the files: `loaddensity run f.json --hard-timeout 60`.
)";

int exit_code_for(const App& app, std::size_t failed, std::size_t config_failures,
                  bool interrupted) {
  if (interrupted) return g_signal.load() == SIGTERM ? 143 : kExitInterrupted;
  if (config_failures) return kExitBadInput;
  if (app.gate_failed()) return kExitGateFailed;
  return failed ? kExitActionFailed : kExitOk;
}

// The address of --prometheus or --dashboard: "" (the defaults in host and port), PORT, HOST,
// [V6], HOST:PORT or [V6]:PORT. Throws ConfigError naming `option`.
void listen_address(const std::string& addr, std::string_view option, std::string& host,
                    std::uint16_t& port) {
  if (addr.empty()) return;
  if (addr.find_first_not_of("0123456789") == std::string::npos) {  // PORT
    const long p = addr.size() <= 5 ? std::stol(addr) : 70000;
    if (p > 65535) throw ConfigError(std::string(option) + ": port " + addr + " is out of range");
    port = static_cast<std::uint16_t>(p);
  } else if (addr.find(':') == std::string::npos || (addr.front() == '[' && addr.back() == ']')) {
    host = addr.front() == '[' ? addr.substr(1, addr.size() - 2) : addr;  // HOST
  } else if (std::string error; !proto::parse_host_port(addr, host, port, error)) {  // HOST:PORT
    throw ConfigError(std::string(option) + ": " + error + " (use HOST, PORT or HOST:PORT)");
  }
}

// `dashboard`: --dashboard's ADDR, or null when not given.
int run_documents(App& app, const std::vector<action::Document>& docs,
                  const std::string* dashboard) {
  // Every document is checked before the first action runs: bad input changes nothing.
  try {
    for (const auto& d : docs) app.check(d);
    if (dashboard) {
      dashboard::Options o;
      listen_address(*dashboard, "--dashboard", o.host, o.port);
      try {
        std::cerr << "dashboard: " << app.start_dashboard(o) << std::endl;
      } catch (const std::runtime_error& e) {
        std::cerr << "error: --dashboard: " << e.what() << '\n';
        return kExitActionFailed;
      }
    }
  } catch (const ConfigError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitBadInput;
  }
  std::size_t failed = 0, config_failures = 0;
  app.prepare(docs);  // keeps a per-request record log only when something will read it
  for (const auto& d : docs) {
    auto rep = app.execute(d, /*check_first=*/false, /*keep_results=*/false);
    failed += rep.failed;
    config_failures += rep.config_failures;
  }
  try {
    for (const auto& p : app.write_csv_option()) std::cout << "wrote " << p << '\n';
  } catch (const std::exception& e) {
    std::cerr << "error: --csv: " << e.what() << '\n';
    ++failed;
  }
  const int code = exit_code_for(app, failed, config_failures, app.interrupt_flag().load());
  if (engine::abandoned_workers() > 0) {
    // A worker thread abandoned while blocked may still wake and reach this process's state
    // (the resolver, the logger): end now, without destructors, once the output is out.
    std::cout.flush();
    std::cerr.flush();
    cleanup::remove_registered_now();
    std::_Exit(code);
  }
  return code;
}

// --prometheus [ADDR] (127.0.0.1:9646 by default), as a one-action document run before the
// others.
action::Document prometheus_document(const std::string& addr) {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9646;
  listen_address(addr, "--prometheus", host, port);
  Json doc = {
      {"load_density", Json::array({Json::array({"LD_start_prometheus_exporter",
                                                 {{"addr", host}, {"port", port}}})})}};
  return action::parse_document_json(std::move(doc), "--prometheus");
}

std::vector<std::string> json_files_in(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw ConfigError(dir + ": not a directory");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw ConfigError(dir + ": no .json action files");
  return files;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App cli{"loaddensity: load and stress tests described in action JSON", "loaddensity"};
  cli.set_version_flag("-V,--version", std::string("loaddensity ") + LD_VERSION);
  cli.footer(kFooter);
  auto no_footer = [](CLI::App* sub) { sub->footer(""); };
  cli.require_subcommand(0, 1);
  // Options of the main command are also accepted after a subcommand and its files.
  cli.fallthrough();

  Options opts;
  bool list_commands = false;
  cli.add_flag("-q,--quiet", opts.quiet, "Print no per-action lines and no end-of-test table");
  cli.add_option("-t,--threads", opts.threads,
                 "Worker threads for tests that do not set `threads` (default: one per core)")
      ->check(CLI::Range(1u, 1024u));
  cli.add_option("--io-backend", opts.io_backend,
                 "I/O path of HTTP/1.1 and socket users for tests that do not set `io_backend`")
      ->check(CLI::IsMember({"auto", "io_uring", "epoll"}));
  cli.add_flag("--list-commands", list_commands, "List every LD_* command and exit");
  cli.add_option("--plugin", opts.plugins,
                 "Load a plugin library (its commands join the registry; repeatable; "
                 "docs/plugins.md)")
      ->option_text("PATH")
      ->allow_extra_args(false);
  cli.add_option("--hard-timeout", opts.hard_timeout_s,
                 "Watchdog: end any test still running after this many seconds (reports are "
                 "still written)")
      ->check(CLI::Range(1e-3, limits::kMaxSeconds, "seconds, at most 10 years"));
  cli.add_option("--csv", opts.csv_prefix,
                 "Also write Locust-compatible PREFIX_stats.csv, PREFIX_stats_history.csv, "
                 "PREFIX_failures.csv and PREFIX_exceptions.csv after the run")
      ->option_text("PREFIX");
  std::string log_level = "warn", log_file, log_format = "text";
  cli.add_option("--log-level", log_level,
                 "Log level of the long-running parts (target, servers, exporters): trace, "
                 "debug, info, warn, error or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error", "off"}));
  cli.add_option("--log-file", log_file,
                 "Write logs to FILE (appending); the terminal then shows errors only")
      ->option_text("FILE");
  cli.add_option("--log-format", log_format, "text, or json (one object per line)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  std::string dashboard_addr;
  auto* dashboard_opt =
      cli.add_option("--dashboard", dashboard_addr,
                     "Serve the live dashboard while the documents run, at ADDR: HOST, PORT or "
                     "HOST:PORT (default 127.0.0.1:8765); put it after the files")
          ->expected(0, 1)
          ->option_text("[ADDR]");

  // The original's single-flag forms, kept for tools that call it that way.
  std::string legacy_file, legacy_dir, legacy_create, legacy_str;
  cli.add_option("-e,--execute_file", legacy_file, "Run one action file (same as `run`)")
      ->group("Legacy");
  cli.add_option("-d,--execute_dir", legacy_dir, "Run every .json in a directory")->group("Legacy");
  cli.add_option("-c,--create_project", legacy_create, "Scaffold a project (same as `init`)")
      ->group("Legacy");
  cli.add_option("--execute_str", legacy_str, "Run an action document given as a string")
      ->group("Legacy");

  std::vector<std::string> run_files;
  auto* run = cli.add_subcommand("run", "Run one or more action files, in order");
  run->add_option("files", run_files, "Action JSON files")->required()->check(CLI::ExistingFile);

  std::string run_dir;
  auto* run_dir_cmd = cli.add_subcommand("run-dir", "Run every .json file in a directory, sorted");
  run_dir_cmd->add_option("dir", run_dir, "Directory")->required();

  std::string run_str;
  auto* run_str_cmd = cli.add_subcommand("run-str", "Run an action document given as a string");
  run_str_cmd->add_option("json", run_str, "The document")->required();

  std::string describe_name;
  auto* describe = cli.add_subcommand(
      "describe", "Show one LD_* command's arguments or a user type's task fields");
  describe->add_option("command", describe_name, "e.g. LD_start_test or websocket_user")
      ->required();

  std::string init_path;
  auto* init = cli.add_subcommand("init", "Scaffold a project that tests the embedded target");
  init->add_option("path", init_path, "Where to create LoadDensity/")->required();

  target::TargetOptions topts;
  auto* target_cmd =
      cli.add_subcommand("target", "Serve the embedded httpbin-like target until Ctrl-C");
  target_cmd->add_option("--host", topts.host, "Listen address")->capture_default_str();
  target_cmd->add_option("-p,--port", topts.port, "Port (0 = any free port)")
      ->capture_default_str();
  target_cmd->add_option("--threads", topts.threads, "Server threads")->capture_default_str();
  target_cmd->add_option("--tcp-port", topts.tcp_port, "TCP echo port (0 = any free port)")
      ->capture_default_str();
  target_cmd->add_option("--udp-port", topts.udp_port, "UDP echo port (0 = any free port)")
      ->capture_default_str();
  target_cmd->add_option("--redis-port", topts.redis_port,
                         "RESP (Redis subset) port (0 = any free port)")
      ->capture_default_str();
  target_cmd->add_option("--grpc-port", topts.grpc_port,
                         "gRPC echo port, with reflection (0 = any free port)")
      ->capture_default_str();
  target_cmd->add_option("--mqtt-port", topts.mqtt_port, "MQTT broker port (0 = any free port)")
      ->capture_default_str();
  target_cmd->add_option("--mongo-port", topts.mongo_port,
                         "MongoDB wire-protocol responder port (0 = any free port)")
      ->capture_default_str();
  target_cmd->add_option("--h3-port", topts.h3_port, "HTTP/3 (QUIC, UDP) port (0 = any free port)")
      ->capture_default_str();
  target_cmd->add_flag("--kafka", topts.kafka,
                       "Also serve a Kafka broker (librdkafka's mock cluster, a free port)");

  std::vector<std::string> worker_files;
  auto* worker_cmd = cli.add_subcommand(
      "worker",
      "Run action files as a worker of a Locust master: every LD_start_test follows the "
      "master's user count until it stops or quits (docs/distributed.md)");
  worker_cmd->add_option("files", worker_files, "Action JSON files")
      ->required()
      ->check(CLI::ExistingFile);
  worker_cmd->add_option("--master-host", opts.worker.master_host, "The master's address")
      ->capture_default_str();
  worker_cmd->add_option("--master-port", opts.worker.master_port, "The master's port")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  worker_cmd
      ->add_option("--heartbeat-timeout", opts.worker.heartbeat_timeout_s,
                   "Seconds without the master before the worker stops its test and exits "
                   "with an error")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));

  std::vector<std::string> master_files;
  auto* master_cmd = cli.add_subcommand(
      "master",
      "Run action files as a Locust-protocol master: every LD_start_test drives its users over "
      "the connected workers and reports their merged results (docs/distributed.md)");
  master_cmd->add_option("files", master_files, "Action JSON files")
      ->required()
      ->check(CLI::ExistingFile);
  master_cmd->add_option("--bind-host", opts.master.bind_host,
                         "Address to listen on (default: the document's master_bind_host, *)");
  master_cmd
      ->add_option("--bind-port", opts.master.bind_port,
                   "Port to listen on (default: the document's master_bind_port, 5557)")
      ->check(CLI::Range(1, 65535));
  master_cmd
      ->add_option("--expected-workers", opts.master.expected_workers,
                   "Workers to wait for before spawning (default: the document's "
                   "expected_workers)")
      ->check(CLI::Range(0, 100000));

  std::string diff_db;
  std::int64_t diff_base = 0, diff_cur = 0;
  double diff_tolerance = 0.10;
  bool diff_json = false;
  auto* diff_cmd = cli.add_subcommand(
      "diff", "Compare two runs stored by LD_persist_records; exit 3 when one regressed");
  diff_cmd->add_option("database", diff_db, "SQLite file")->required();
  diff_cmd->add_option("baseline", diff_base, "Baseline run id")->required();
  diff_cmd->add_option("current", diff_cur, "Current run id")->required();
  diff_cmd->add_option("--tolerance", diff_tolerance, "Allowed increase (0.10 = 10%)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  diff_cmd->add_flag("--json", diff_json, "Print the diff as JSON instead of a table");

  // The original's `serve`; the last two options are limits of our own (docs/serve.md).
  Json serve_args = Json::object();
  std::string serve_host = "localhost", serve_token, serve_cert, serve_key;
  int serve_port = 9940;
  bool serve_framed = false;
  double serve_timeout = 30;
  int serve_max = 128;
  auto* serve_cmd = cli.add_subcommand(
      "serve", "Serve action documents on a TCP control socket until quit (docs/serve.md)");
  serve_cmd->add_option("--host", serve_host, "Listen address")->capture_default_str();
  serve_cmd->add_option("--port", serve_port, "Port (0 = any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  serve_cmd->add_flag("--framed", serve_framed,
                      "Length-prefixed requests and replies (4-byte big-endian length + body)");
  serve_cmd->add_option("--token", serve_token,
                        "Token every request must carry (default: LOAD_DENSITY_SOCKET_TOKEN)");
  serve_cmd->add_option("--tls-cert", serve_cert, "TLS certificate chain (PEM)")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--tls-key", serve_key, "TLS private key (PEM)")->check(CLI::ExistingFile);
  serve_cmd
      ->add_option("--read-timeout", serve_timeout,
                   "Seconds a client has to send its request and take its reply")
      ->capture_default_str()
      ->check(CLI::Range(1e-3, limits::kMaxSeconds));
  serve_cmd
      ->add_option("--max-connections", serve_max,
                   "Connections served at once; more are closed at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));

  // `import`: a HAR, Postman, OpenAPI, cURL, k6 or JMeter file to a document (docs/importers.md).
  ImportRequest import_req;
  double import_users = 0, import_rate = 0, import_time = 0;
  auto* import_cmd = cli.add_subcommand(
      "import", "Convert a HAR, Postman, OpenAPI, cURL, k6 or JMeter file into an action document");
  import_cmd->add_option("format", import_req.format, "har, postman, openapi, curl, k6 or jmeter")
      ->required()
      ->check(CLI::IsMember({"har", "postman", "openapi", "curl", "k6", "jmeter"}));
  import_cmd
      ->add_option("file", import_req.file,
                   "The file (curl: a file holding the command line, the command line "
                   "itself, or - for stdin)")
      ->required();
  import_cmd
      ->add_option("-o,--output", import_req.output, "Write the document here (default: stdout)")
      ->option_text("FILE");
  import_cmd->add_option("--user", import_req.document.user, "User type of the test")
      ->capture_default_str();
  auto* import_users_opt =
      import_cmd->add_option("--users", import_users, "User count (default: the source's, else 10)")
          ->check(CLI::Range(1.0, limits::kMaxUsers));
  auto* import_rate_opt =
      import_cmd->add_option("--spawn-rate", import_rate, "Users started per second (default: 5)")
          ->check(CLI::Range(1e-3, limits::kMaxRate));
  auto* import_time_opt =
      import_cmd->add_option("--test-time", import_time, "Seconds (default: the source's, else 60)")
          ->check(CLI::Range(1e-3, limits::kMaxSeconds));
  import_cmd->add_option("--base-url", import_req.base_url,
                         "openapi: replaces the spec's server URL");
  import_cmd->add_option("--include", import_req.include,
                         "har: keep only entries whose URL matches one of these regexes");
  import_cmd->add_option("--exclude", import_req.exclude,
                         "har: drop entries whose URL matches one of these regexes");
  no_footer(import_cmd);

  for (CLI::App* sub : {run, run_dir_cmd, run_str_cmd, init, target_cmd, diff_cmd, describe,
                        serve_cmd, worker_cmd, master_cmd}) {
    no_footer(sub);
  }
  const auto tooling_cli = add_tooling_subcommands(cli);
  std::string prometheus_addr;
  std::vector<CLI::Option*> prometheus_opts;
  for (CLI::App* sub : {run, run_dir_cmd, run_str_cmd, worker_cmd, master_cmd}) {
    sub->add_option("--csv", opts.csv_prefix, "Also write Locust-compatible CSVs (PREFIX_*.csv)")
        ->option_text("PREFIX");
    prometheus_opts.push_back(
        sub->add_option("--prometheus", prometheus_addr,
                        "Serve live metrics for Prometheus at http://ADDR/metrics while the "
                        "documents run (HOST:PORT, HOST or PORT; default 127.0.0.1:9646)")
            ->expected(0, 1)
            ->option_text("[ADDR]"));
  }
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? 0 : kExitBadInput;
  }

  log::Options log_options;
  log::parse_level(log_level, log_options.level);
  log_options.file = log_file;
  log_options.format = log_format == "json" ? log::Format::kJson : log::Format::kText;
  try {
    log::configure(log_options);
  } catch (const std::exception& e) {
    std::cerr << "error: --log-file: " << e.what() << '\n';
    return kExitBadInput;
  }

  if (*import_cmd) {
    if (import_users_opt->count()) import_req.document.user_count = import_users;
    if (import_rate_opt->count()) import_req.document.spawn_rate = import_rate;
    if (import_time_opt->count()) import_req.document.test_time = import_time;
    try {
      return import_file(import_req, std::cout, std::cerr);
    } catch (const ConfigError& e) {
      std::cerr << "error: " << e.what() << (e.pointer().empty() ? "" : " (at " + e.pointer() + ")")
                << '\n';
      return kExitBadInput;
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << '\n';
      return kExitActionFailed;
    }
  }

  opts.progress = !opts.quiet && ::isatty(STDERR_FILENO);
  opts.worker.on = worker_cmd->parsed();
  opts.master.on = master_cmd->parsed();
  for (int i = 0; i < argc; ++i) {
    opts.command_line += (i ? " " : "");
    opts.command_line += i == 0 ? std::string("loaddensity") : std::string(argv[i]);
  }
  std::unique_ptr<App> app_holder;
  try {
    app_holder = std::make_unique<App>(std::cout, std::cerr, opts);
  } catch (const ConfigError& e) {  // a --plugin that cannot be loaded
    std::cerr << "error: --plugin: " << e.what() << '\n';
    return kExitBadInput;
  }
  App& app = *app_holder;
  install_signal_handlers(&app.interrupt_flag());

  try {
    auto print_params = [](const std::vector<action::Param>& params) {
      for (const auto& p : params) {
        std::cout << "  " << p.name << "  ("
                  << (p.types == action::kAny ? "any" : action::type_mask_name(p.types));
        if (p.required) {
          std::cout << ", required";
        } else if (!p.default_value.is_null()) {
          std::cout << ", default " << p.default_value.dump();
        }
        std::cout << ')' << (p.help.empty() ? "" : "  " + p.help) << '\n';
      }
    };
    const engine::ProtocolRegistry& protocols = app.protocols();
    if (list_commands) {
      for (const auto& n : app.registry().names()) {
        const auto* c = app.registry().find(n);
        std::cout << n << (c->summary.empty() ? "" : "  " + c->summary) << '\n';
      }
      std::cout << "\nuser types (LD_start_test user_detail_dict.user; `loaddensity describe "
                   "TYPE` lists its task fields):\n";
      for (const auto& t : protocols.user_types()) {
        std::cout << "  " << t << "  " << protocols.find(t)->task_fields(t).size()
                  << " task fields\n";
      }
      return kExitOk;
    }
    if (*describe) {
      if (const engine::Protocol* p = protocols.find(describe_name)) {
        std::cout << describe_name << ": task fields\n";
        print_params(p->task_fields(describe_name));
        std::cout << "  (every user type also takes run_if, skip_if, think_time, throttle and "
                     "retry: docs/scenarios.md)\n";
        return kExitOk;
      }
      const auto* c = app.registry().find(describe_name);
      if (!c) {
        std::vector<std::string> names = app.registry().names();
        for (const auto& t : protocols.user_types()) names.push_back(t);
        std::cerr << "error: unknown command or user type '" << describe_name << "'";
        const std::string s = text::closest(describe_name, names);
        if (!s.empty()) std::cerr << " (did you mean '" << s << "'?)";
        if (const std::string* why = protocols.unavailable(describe_name)) {
          std::cerr << "; user type '" << describe_name << "' is not built into this binary ("
                    << *why << ")";
        }
        std::cerr << '\n';
        return kExitBadInput;
      }
      std::cout << c->name << (c->summary.empty() ? "" : ": " + c->summary) << '\n';
      print_params(c->params);
      return kExitOk;
    }
    if (const int code = run_tooling_subcommand(*tooling_cli, app); code >= 0) return code;
    std::vector<action::Document> docs;
    const std::string* dashboard = *dashboard_opt ? &dashboard_addr : nullptr;
    for (const CLI::Option* o : prometheus_opts) {
      if (o->count() > 0) docs.push_back(prometheus_document(prometheus_addr));
    }
    if (*worker_cmd) {
      for (const auto& f : worker_files) docs.push_back(action::load_document_file(f));
      return run_documents(app, docs, dashboard);
    }
    if (*master_cmd) {
      for (const auto& f : master_files) docs.push_back(action::load_document_file(f));
      return run_documents(app, docs, dashboard);
    }
    if (*run || !legacy_file.empty()) {
      if (!legacy_file.empty()) run_files.push_back(legacy_file);
      for (const auto& f : run_files) docs.push_back(action::load_document_file(f));
      return run_documents(app, docs, dashboard);
    }
    if (*run_dir_cmd || !legacy_dir.empty()) {
      for (const auto& f : json_files_in(run_dir.empty() ? legacy_dir : run_dir)) {
        docs.push_back(action::load_document_file(f));
      }
      return run_documents(app, docs, dashboard);
    }
    if (*run_str_cmd || !legacy_str.empty()) {
      docs.push_back(action::parse_document(run_str.empty() ? legacy_str : run_str, "<string>"));
      return run_documents(app, docs, dashboard);
    }
    if (*serve_cmd) {
      serve_args = {{"host", serve_host},
                    {"port", serve_port},
                    {"framed", serve_framed},
                    {"read_timeout", serve_timeout},
                    {"max_connections", serve_max}};
      if (!serve_token.empty()) serve_args["token"] = serve_token;
      if (!serve_cert.empty()) serve_args["certfile"] = serve_cert;
      if (!serve_key.empty()) serve_args["keyfile"] = serve_key;
      docs.push_back(action::parse_document_json(
          Json::array({Json::array({"LD_start_socket_server", serve_args})}), "serve"));
      return run_documents(app, docs, nullptr);
    }
    if (*init || !legacy_create.empty()) {
      const std::string written = scaffold_project(init_path.empty() ? legacy_create : init_path);
      std::cout << (written.empty() ? "nothing written: the files exist already" : written) << '\n';
      return kExitOk;
    }
    if (*diff_cmd) {
      try {
        const Json d = reports::diff_runs(diff_db, diff_base, diff_cur, diff_tolerance);
        if (diff_json) {
          std::cout << d.dump(2) << '\n';
        } else {
          reports::print_diff_table(d, std::cout);
        }
        return d["has_regressions"].get<bool>() ? kExitGateFailed : kExitOk;
      } catch (const reports::RunStoreError& e) {
        std::cerr << "error: " << e.what() << '\n';
        return kExitBadInput;
      }
    }
    if (*target_cmd) {
      target::EmbeddedTarget t(topts);
      t.start();
      std::cout << "embedded target listening on " << t.base_url() << " (Ctrl-C stops it)\n"
                << "  websocket " << t.ws_url() << "  tcp echo " << t.tcp_address() << "  udp echo "
                << t.udp_address() << "  redis " << t.redis_url() << "  grpc "
                << t.grpc_address() << "  mqtt " << t.mqtt_url()
                << "  mongo " << t.mongo_url() << "  h3 https://" << t.h3_address();
      if (topts.kafka) std::cout << "  kafka " << t.kafka_address();
      std::cout << std::endl;
      while (!app.interrupt_flag().load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      t.stop();
      return kExitOk;
    }
    std::cout << cli.help() << '\n';
    return kExitBadInput;
  } catch (const ConfigError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitActionFailed;
  }
}

}  // namespace ld::app
