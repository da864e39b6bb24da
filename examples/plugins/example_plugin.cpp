// An example loaddensity plugin: two commands that make test data.
//
//   example_slugify {"text": "Hello, World!", "separator": "-"}  -> "hello-world"
//   example_word_stats {"text": "one two\nthree"}                -> {"words": 3, "lines": 2,
//                                                                    "longest": "three"}
//
// Build: the top-level CMakeLists.txt builds it as build/<preset>/plugins/libld_example_plugin.so;
// alone, `c++ -std=c++17 -shared -fPIC -fvisibility=hidden -I include example_plugin.cpp
// -o libld_example_plugin.so`. Load it with `loaddensity --plugin PATH` or
// ["LD_load_plugin", {"path": "PATH"}] (docs/plugins.md).
#include <loaddensity/plugin.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace {

using nlohmann::json;

// Results cross the boundary as a malloc'd copy, released by free_result.
char* copy_out(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

void free_result(void*, char* result) { std::free(result); }

// Runs `fn` on the parsed arguments; an exception becomes the command's error message. No
// exception may leave a plugin: the host calls it through a C function pointer.
template <class Fn>
int run(const char* args_json, char** result, Fn fn) {
  try {
    const json args = json::parse(args_json);
    *result = copy_out(fn(args).dump());
    return LD_PLUGIN_OK;
  } catch (const std::exception& e) {
    *result = copy_out(e.what());
    return LD_PLUGIN_FAILED;
  }
}

int slugify(void*, const char* args_json, char** result) {
  return run(args_json, result, [](const json& args) {
    const std::string text = args.at("text").get<std::string>();
    const std::string sep = args.at("separator").get<std::string>();
    std::string out;
    bool pending = false;  // a separator is due before the next letter or digit
    for (const unsigned char c : text) {
      if (std::isalnum(c)) {
        if (pending && !out.empty()) out += sep;
        pending = false;
        out += static_cast<char>(std::tolower(c));
      } else {
        pending = true;
      }
    }
    return json(out);
  });
}

int word_stats(void*, const char* args_json, char** result) {
  return run(args_json, result, [](const json& args) {
    const std::string text = args.at("text").get<std::string>();
    std::istringstream in(text);
    std::string word, longest;
    long words = 0;
    while (in >> word) {
      ++words;
      if (word.size() > longest.size()) longest = word;
    }
    long lines = text.empty() ? 0 : 1;
    for (std::size_t i = 0; i + 1 < text.size(); ++i) lines += text[i] == '\n';
    return json{{"words", words}, {"lines", lines}, {"longest", longest}};
  });
}

const ld_plugin_param kSlugifyParams[] = {
    {"text", LD_PLUGIN_STRING, 1, nullptr, "the text to turn into a slug"},
    {"separator", LD_PLUGIN_STRING, 0, "\"-\"", "between words"},
};
const ld_plugin_param kWordStatsParams[] = {
    {"text", LD_PLUGIN_STRING, 1, nullptr, "the text to count"},
};

}  // namespace

LD_PLUGIN_DECLARE_ABI_VERSION

LD_PLUGIN_EXPORT int ld_plugin_init(ld_plugin_host* host) {
  const ld_plugin_command commands[] = {
      {"example_slugify", "Lower-case letters and digits of a text, words joined by a separator.",
       kSlugifyParams, 2, &slugify, &free_result, nullptr},
      {"example_word_stats", "Words, lines and the longest word of a text.", kWordStatsParams, 1,
       &word_stats, &free_result, nullptr},
  };
  for (const auto& c : commands) {
    if (host->add_command(host, &c) != 0) return 1;  // the host names the reason
  }
  return 0;
}
