#include "app/scaffold.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace ld::app {

namespace fs = std::filesystem;

namespace {

std::string keyword(const char* user) {
  return std::string(R"({
  "load_density": [
    ["LD_start_target", {"variable": "target"}],
    ["LD_start_test", {
      "user_detail_dict": {"user": ")") +
         user + R"("},
      "user_count": 50,
      "spawn_rate": 10,
      "test_time": 5,
      "tasks": {
        "get": {"request_url": "${target}/get"},
        "post": {"request_url": "${target}/post", "json": {"hello": "world"}}
      }
    }],
    ["LD_stop_target"],
    ["LD_generate_summary_report", {"report_name": "loaddensity-summary"}]
  ]
}
)";
}

const char* kReadme = R"(# A loaddensity project

`keyword/` holds action files. Each is a list of `LD_*` commands that loaddensity runs in order.
They start the embedded target (an httpbin-like server inside loaddensity), so they run offline.

    loaddensity run keyword/keyword1.json     # one file
    loaddensity run-dir keyword               # every .json file, sorted

Point `request_url` at your own service to test it, raise `user_count` and `test_time`, and read
`loaddensity-summary.json` for the totals and per-request percentiles.
)";

void write_new(const fs::path& p, const std::string& text, std::string& written) {
  if (fs::exists(p)) return;
  std::ofstream out(p);
  if (!out) throw std::runtime_error("cannot write " + p.string());
  out << text;
  written += (written.empty() ? "" : "\n") + p.string();
}

}  // namespace

std::string scaffold_project(const std::string& path) {
  const fs::path root = fs::path(path) / "LoadDensity";
  std::error_code ec;
  fs::create_directories(root / "keyword", ec);
  if (ec) throw std::runtime_error("cannot create " + (root / "keyword").string() + ": " + ec.message());
  std::string written;
  write_new(root / "keyword" / "keyword1.json", keyword("fast_http_user"), written);
  write_new(root / "keyword" / "keyword2.json", keyword("http_user"), written);
  write_new(root / "README.md", kReadme, written);
  return written;
}

}  // namespace ld::app
