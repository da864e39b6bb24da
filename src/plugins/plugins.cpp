#include "plugins/plugins.hpp"

#include <dlfcn.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "action/registry.hpp"
#include "core/data_path.hpp"
#include "core/json_util.hpp"
#include "loaddensity/core/error.hpp"
#include "loaddensity/plugin.h"

namespace ld::plugins {

namespace fs = std::filesystem;

static_assert(LD_PLUGIN_STRING == action::kString && LD_PLUGIN_INTEGER == action::kInteger &&
                  LD_PLUGIN_NUMBER == action::kNumber && LD_PLUGIN_BOOL == action::kBool &&
                  LD_PLUGIN_OBJECT == action::kObject && LD_PLUGIN_ARRAY == action::kArray &&
                  LD_PLUGIN_NULL == action::kNull && LD_PLUGIN_ANY == action::kAny,
              "plugin.h type bits are the registry's");

namespace {

struct PluginCommand {
  std::string name;
  std::string summary;
  std::vector<action::Param> params;
  ld_plugin_call_fn call = nullptr;
  ld_plugin_free_fn free_result = nullptr;
  void* user_data = nullptr;
};

// An initialised library: never unloaded, its commands fixed once ld_plugin_init returned.
struct Library {
  std::string path;  // canonical
  void* handle = nullptr;
  std::vector<PluginCommand> commands;
  std::mutex calls;  // one call into the library at a time
};

// The host's side of ld_plugin_init.
struct InitState {
  Library* lib = nullptr;
  std::string error;  // the first refused command, or set_error's message
};

bool valid_name(const std::string& n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  for (const char c : n) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

PluginCommand copy_command(const ld_plugin_command& c) {
  PluginCommand pc;
  pc.name = c.name ? c.name : "";
  if (!valid_name(pc.name)) {
    throw std::invalid_argument("command name '" + pc.name +
                                "' is not a name (letters, digits and '_', not starting with "
                                "a digit)");
  }
  auto bad = [&](const std::string& why) {
    throw std::invalid_argument("command '" + pc.name + "': " + why);
  };
  if (!c.call) bad("no call function");
  if (c.param_count > 0 && !c.params) bad("param_count is not 0 but params is NULL");
  if (c.param_count > 64) bad("more than 64 parameters");
  pc.summary = c.summary ? c.summary : "";
  pc.call = c.call;
  pc.free_result = c.free_result;
  pc.user_data = c.user_data;
  for (std::size_t i = 0; i < c.param_count; ++i) {
    const ld_plugin_param& p = c.params[i];
    const std::string name = p.name ? p.name : "";
    if (!valid_name(name) || name == "_given") {
      bad("parameter " + std::to_string(i) + ": '" + name + "' is not a parameter name");
    }
    for (const auto& other : pc.params) {
      if (other.name == name) bad("parameter '" + name + "' is declared twice");
    }
    if (p.types == 0 || (p.types & ~LD_PLUGIN_ANY) != 0) {
      bad("parameter '" + name + "': types must be a set of LD_PLUGIN_* bits");
    }
    Json def;
    if (p.default_json) {
      try {
        def = parse_json_text(p.default_json, "default of '" + name + "'");
      } catch (const ConfigError& e) {
        bad("parameter '" + name + "': default_json is not JSON: " + e.what());
      }
      if (!def.is_null() && !action::type_matches(def, p.types)) {
        bad("parameter '" + name + "': the default " + json_brief(def, 40) + " is not " +
            action::type_mask_name(p.types));
      }
    }
    pc.params.push_back(
        action::Param{name, p.types, p.required != 0, std::move(def), p.help ? p.help : ""});
  }
  return pc;
}

int host_add_command(ld_plugin_host* host, const ld_plugin_command* c) noexcept {
  auto* st = static_cast<InitState*>(host->host_data);
  try {
    if (!c) throw std::invalid_argument("add_command was given NULL");
    PluginCommand pc = copy_command(*c);
    for (const auto& other : st->lib->commands) {
      if (other.name == pc.name) {
        throw std::invalid_argument("command '" + pc.name + "' is registered twice");
      }
    }
    st->lib->commands.push_back(std::move(pc));
    return 0;
  } catch (const std::exception& e) {
    if (st->error.empty()) st->error = e.what();
    return 1;
  }
}

void host_set_error(ld_plugin_host* host, const char* message) noexcept {
  auto* st = static_cast<InitState*>(host->host_data);
  try {
    if (st->error.empty() && message) st->error = message;
  } catch (...) {
  }
}

std::mutex g_mutex;
std::map<std::string, std::shared_ptr<Library>> g_libraries;  // by canonical path
std::map<std::string, std::string> g_failed;  // init ran and failed: never run again

std::shared_ptr<Library> open_library(const std::string& given) {
  auto error = [&](const std::string& what) {
    return ConfigError("plugin '" + given + "': " + what);
  };
  if (given.empty()) throw ConfigError("plugin path is empty");
  const std::string path = data_path(given);
  std::error_code ec;
  if (!fs::exists(path, ec)) throw error("no such file");
  if (!fs::is_regular_file(path, ec)) throw error("not a regular file");
  std::string canonical = fs::canonical(path, ec).string();
  if (ec) canonical = fs::absolute(path).string();

  const std::lock_guard<std::mutex> lock(g_mutex);
  if (const auto it = g_libraries.find(canonical); it != g_libraries.end()) return it->second;
  if (const auto it = g_failed.find(canonical); it != g_failed.end()) throw error(it->second);

  // An absolute path: dlopen searches no library path, so the file checked above is the one
  // loaded.
  (void)dlerror();
  void* handle = dlopen(canonical.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    throw error(std::string("cannot be loaded: ") + (why ? why : "dlopen failed"));
  }
  auto symbol = [&](const char* name) {
    (void)dlerror();
    void* s = dlsym(handle, name);
    if (!s) {
      dlclose(handle);
      throw error(std::string("no symbol '") + name +
                  "' (a loaddensity plugin exports ld_plugin_abi_version and ld_plugin_init "
                  "with C linkage; see include/loaddensity/plugin.h and docs/plugins.md)");
    }
    return s;
  };
  const auto version_fn =
      reinterpret_cast<ld_plugin_abi_version_fn>(symbol(LD_PLUGIN_ABI_VERSION_SYMBOL));
  const auto init_fn = reinterpret_cast<ld_plugin_init_fn>(symbol(LD_PLUGIN_INIT_SYMBOL));
  const std::uint32_t version = version_fn();
  if (version != LD_PLUGIN_ABI_VERSION) {
    dlclose(handle);
    throw error("built for plugin ABI version " + std::to_string(version) +
                ", this loaddensity speaks version " + std::to_string(LD_PLUGIN_ABI_VERSION) +
                " (rebuild the plugin against this loaddensity's include/loaddensity/plugin.h)");
  }

  auto lib = std::make_shared<Library>();
  lib->path = canonical;
  lib->handle = handle;
  InitState st;
  st.lib = lib.get();
  ld_plugin_host host{LD_PLUGIN_ABI_VERSION, &st, &host_add_command, &host_set_error};
  int rc = 0;
  try {
    rc = init_fn(&host);
  } catch (...) {  // a C++ plugin let an exception out of a C function
    rc = -1;
    if (st.error.empty()) st.error = "ld_plugin_init threw an exception";
  }
  if (rc != 0 || !st.error.empty()) {
    // Its init ran: it is neither unloaded (it may have started threads or registered
    // destructors) nor initialised again.
    std::string why = rc != 0 ? "ld_plugin_init failed (returned " + std::to_string(rc) + ")"
                              : "ld_plugin_init registered a malformed command";
    if (!st.error.empty()) why += ": " + st.error;
    g_failed[canonical] = why;
    throw error(why);
  }
  g_libraries[canonical] = lib;
  return lib;
}

Json call(Library& lib, const PluginCommand& c, const action::Args& a) {
  Json args = a.json();
  args.erase("_given");
  const std::string text = args.dump();
  char* result = nullptr;
  int status = 0;
  std::string out;
  {
    const std::lock_guard<std::mutex> lock(lib.calls);
    status = c.call(c.user_data, text.c_str(), &result);
    if (result) {
      out = result;
      if (c.free_result) c.free_result(c.user_data, result);
    }
  }
  if (status == LD_PLUGIN_OK) {
    if (out.empty()) return nullptr;
    try {
      return parse_json_text(out, c.name + " result");
    } catch (const ConfigError& e) {
      throw std::runtime_error("plugin " + lib.path +
                               " returned text that is not JSON: " + e.what());
    }
  }
  if (out.empty()) out = "failed (status " + std::to_string(status) + ")";
  if (status == LD_PLUGIN_BAD_INPUT) throw ConfigError(out);
  throw std::runtime_error(out);
}

}  // namespace

Loaded load_into(action::CommandRegistry& r, const std::string& path) {
  const std::shared_ptr<Library> lib = open_library(path);
  Loaded out;
  out.path = lib->path;
  bool here = !lib->commands.empty();
  for (const auto& c : lib->commands) {
    out.commands.push_back(c.name);
    const action::Command* existing = r.find(c.name);
    here = here && existing && existing->origin == lib->path;
  }
  if (here) return out;  // this registry loaded the library before
  for (const auto& c : lib->commands) {
    std::string taken;
    if (const action::Command* existing = r.find(c.name)) {
      taken = existing->origin.empty() ? "a loaddensity command or builtin"
                                       : "a command of plugin " + existing->origin;
    } else if (r.refusal(c.name)) {
      taken = "a refused name";
    }
    if (!taken.empty()) {
      throw ConfigError("plugin '" + path + "': command '" + c.name + "' is already " + taken +
                        "; nothing was registered");
    }
  }
  for (std::size_t i = 0; i < lib->commands.size(); ++i) {
    const PluginCommand& c = lib->commands[i];
    action::Command cmd;
    cmd.name = c.name;
    cmd.summary = c.summary;
    cmd.params = c.params;
    cmd.origin = lib->path;
    cmd.handler = [lib, i](const action::Args& a) { return call(*lib, lib->commands[i], a); };
    r.add(std::move(cmd));
  }
  out.newly_registered = true;
  return out;
}

}  // namespace ld::plugins
