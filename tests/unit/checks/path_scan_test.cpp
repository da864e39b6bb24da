// The json_path checks read a body in one scan (checks/path_scan) instead of building a
// document. These tests hold the scan to the document walk it replaced: for every body and
// path, the same "is it JSON", the same value found, the same extracted text and the same
// assertion outcome as parsing the body with nlohmann and walking JsonPath::find.
#include "checks/path_scan.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "checks/checks.hpp"

using namespace ld;
using namespace ld::checks;

namespace {

// ---- the reference: what Checks::apply did before the scan, and still does past its limits
// (a document, then JsonPath::find)

std::optional<Json> reference_doc(std::string_view body) {
  Json doc;
  if (!parse_body_json(body, doc)) return std::nullopt;
  return doc;
}

std::optional<std::string> reference_extract(std::string_view body, const std::string& path) {
  const auto doc = reference_doc(body);
  if (!doc) return std::nullopt;
  const Json* got = JsonPath::parse(path).find(*doc);
  if (!got) return std::nullopt;
  return json_display(*got);
}

bool reference_holds(std::string_view body, const std::string& path, const Json& expected) {
  const auto doc = reference_doc(body);
  if (!doc) return false;
  const Json* got = JsonPath::parse(path).find(*doc);
  if (!got) return expected.is_null();
  if (expected.is_string()) {
    return got->is_string() && got->get_ref<const std::string&>() == expected.get<std::string>();
  }
  return *got == expected;
}

// ---- the checks as they run now

params::Resolver& resolver() {
  static params::Resolver r;
  return r;
}

std::optional<std::string> extract(std::string_view body, const std::string& path,
                                   bool* scanned = nullptr) {
  params::ParseContext ctx{resolver()};
  Json task = {{"extract", Json::array({{{"var", "v"}, {"path", path}}})}};
  auto c = Checks::compile(task, ctx);
  if (scanned) *scanned = c->scans_paths();
  params::UserScope scope(1);
  EXPECT_EQ(c->apply(ResponseView{200, body, {}}, scope), nullptr);
  const std::string* v = scope.find("v");
  return v ? std::optional<std::string>(*v) : std::nullopt;
}

bool holds(std::string_view body, const std::string& path, const Json& expected) {
  params::ParseContext ctx{resolver()};
  Json task = {{"assertions",
                Json::array({{{"type", "json_path"}, {"path", path}, {"value", expected}}})}};
  auto c = Checks::compile(task, ctx);
  params::UserScope scope(1);
  return c->apply(ResponseView{200, body, {}}, scope) == nullptr;
}

std::string show(std::string_view body) {
  std::string s;
  for (unsigned char c : body.substr(0, 200)) {
    if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      s += buf;
    } else {
      s += static_cast<char>(c);
    }
  }
  return s;
}

// Every path, extracted and asserted against a spread of expected values, agrees with the DOM.
void expect_same(std::string_view body, const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    const auto want = reference_extract(body, p);
    const auto got = extract(body, p);
    EXPECT_EQ(got, want) << "extract " << p << " from " << show(body);
    std::vector<Json> expected = {nullptr, 0, 1, -1, 1.0, 0.5, "x", "", true, false,
                                  Json::object(), Json::array(), Json{{"a", 1}}, Json::array({1})};
    if (want) expected.push_back(*want);  // the text (a string expected value)
    if (const auto doc = reference_doc(body)) {
      if (const Json* v = JsonPath::parse(p).find(*doc)) expected.push_back(*v);
    }
    for (const Json& e : expected) {
      EXPECT_EQ(holds(body, p, e), reference_holds(body, p, e))
          << "assert " << p << " == " << e.dump() << " on " << show(body);
    }
  }
}

}  // namespace

TEST(PathScan, FindsValuesAndSpans) {
  const std::string body = R"( {"a": {"b": [10, "x\"y", {"c": null}, true]}, "e": -1.5e3} )";
  const scan::Step a{"a", 0, false}, b{"b", 0, false}, i1{"1", 1, true}, last{"-1", -1, true},
      e{"e", 0, false};
  const scan::Step p1[] = {a, b, i1};
  const scan::Step p2[] = {a, b, last};
  const scan::Step p3[] = {e};
  const scan::Step p4[] = {a};
  const scan::Path paths[] = {{p1, 3}, {p2, 3}, {p3, 1}, {p4, 1}, {nullptr, 0}};
  scan::Hit hits[5];
  ASSERT_TRUE(scan::find_paths(body, paths, hits));
  EXPECT_EQ(hits[0].kind, scan::Kind::kString);
  EXPECT_TRUE(hits[0].escaped);
  EXPECT_EQ(body.substr(hits[0].begin, hits[0].end - hits[0].begin), R"(x\"y)");
  EXPECT_EQ(hits[1].kind, scan::Kind::kTrue);
  EXPECT_EQ(hits[2].kind, scan::Kind::kNumber);
  EXPECT_EQ(body.substr(hits[2].begin, hits[2].end - hits[2].begin), "-1.5e3");
  EXPECT_EQ(hits[3].kind, scan::Kind::kObject);
  EXPECT_EQ(body.substr(hits[3].begin, hits[3].end - hits[3].begin),
            R"({"b": [10, "x\"y", {"c": null}, true]})");
  EXPECT_EQ(hits[4].kind, scan::Kind::kObject);  // the root
  EXPECT_FALSE(scan::find_paths(body + ",", paths, hits));
  EXPECT_EQ(hits[0].kind, scan::Kind::kNone);
}

TEST(PathScan, DecodesEscapes) {
  std::string out;
  scan::decode_string(R"(a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u65e5\ud83d\ude00\u0000z)", out);
  EXPECT_EQ(out, std::string("a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80") +
                     std::string(1, '\0') + "z");
}

TEST(PathScanEquivalence, EscapesAndUnicode) {
  const std::vector<std::string> paths = {"a\"b", "A", "k", "\xc3\xa9", "\xe6\x97\xa5", "nul",
                                          "s", "$", "x/y", "u"};
  expect_same(R"({"a\"b": 1, "\u0041": "x\ny", "k": "\ud83d\ude00", "s": "\u00e9t\u00e9",
                  "nul": "a\u0000b", "x\/y": "slash", "u": "\u65E5"})", paths);
  expect_same("{\"\xc3\xa9\": \"\xc3\xbc\", \"\xe6\x97\xa5\": [\"\xf0\x9f\x98\x80\"]}", paths);
  // Member names written differently but equal once decoded.
  expect_same(R"({"\u0041": 1, "A": 2})", {"A"});
  expect_same(R"({"A": 1, "\u0041": {"b": 2}})", {"A", "A.b"});
}

TEST(PathScanEquivalence, Numbers) {
  const std::vector<std::string> paths = {"n", "$"};
  for (const char* n :
       {"0", "-0", "-0.0", "1", "-1", "0.1", "1E5", "1e+5", "1e-5", "2.5E-3", "123.456e7",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "-9223372036854775809", "18446744073709551615", "18446744073709551616",
        "123456789012345678901234567890", "1e308", "1.7976931348623157e308",
        "1.7976931348623158e308", "1.7976931348623159e308", "1.8e308", "1e309", "-1e309",
        "17976931348623157" "0000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000000000000000000000000",
        "0.00000000000000000000001e330", "0.0e999", "0e999", "1e-400", "4.9e-324", "2.5e-324",
        "1e-320", "0.30000000000000004", "1.0", "100", "1e2", "01", "1.", ".5", "-", "+1",
        "1e", "1e+", "--1", "0x10", "NaN", "Infinity", "1.5e0000000000000000000000000003"}) {
    expect_same(std::string(R"({"n": )") + n + "}", paths);
    expect_same(n, paths);
  }
  // Equality across integer and float forms, and the DOM's unsigned/signed comparison.
  EXPECT_TRUE(holds(R"({"n": 1.0})", "n", 1));
  EXPECT_TRUE(holds(R"({"n": 1})", "n", 1.0));
  EXPECT_TRUE(holds(R"({"n": 1e2})", "n", 100));
  EXPECT_EQ(extract(R"({"n": 1e2})", "n"), "100.0");
  EXPECT_EQ(extract(R"({"n": -0})", "n"), "0");
  EXPECT_EQ(extract(R"({"n": 18446744073709551616})", "n"), "1.8446744073709552e+19");
}

TEST(PathScanEquivalence, ArraysIndexesAndMissingPaths) {
  const std::string body = R"({"items": [{"id": 7, "tags": ["a", "b"]}, {"id": 8}, null, [1, [2, 3]]],
    "obj": {"0": "zero", "-1": "minus", "01": "oh-one", " 1": "space"}, "empty": [], "n": null,
    "deep": {"x": {"y": {"z": [0, {"w": "found"}]}}}})";
  expect_same(body, {"items.0.id", "items[1].id", "$.items[0].tags[1]", "items.-1", "items.-1.1.0",
                     "items.-4.id", "items.-5", "items.4", "items.2", "items.2.x", "items.0.tags.-2",
                     "items.-3.id", "obj.0", "obj[0]", "obj.-1", "obj[-1]", "obj.01", "obj[01]",
                     "obj[ 1 ]", "obj. 1", "obj['0']", "obj[\"01\"]", "empty.0", "empty.-1", "n",
                     "n.x", "nope", "nope.x", "items.x", "obj.0.x", "$", "", "$.", "..items..0..id",
                     "deep.x.y.z.-1.w", "deep.x.y.z.1.w", "items[", "items[0", "items.0.id.x",
                     "items.-0.id", "items.+1"});
  expect_same(R"([[1, 2], [3, [4, 5, [6]]]])", {"0.1", "-1.-1.-1.0", "-1.-1.-2", "1.1.2", "-2.-2",
                                                 "[1][1][-1][0]", "$[0]", "$", "3", "-3"});
  expect_same("[]", {"0", "-1", "$"});
  expect_same("null", {"$", "", "a"});
  expect_same("\"text\"", {"$", "0"});
  expect_same("  12  ", {"$"});
}

TEST(PathScanEquivalence, RepeatedNamesKeepTheLastAsTheDocumentDoes) {
  expect_same(R"({"a": 1, "a": 2})", {"a"});
  expect_same(R"({"a": {"b": 1}, "a": {"c": 2}})", {"a.b", "a.c", "a"});
  expect_same(R"({"a": {"b": 1, "b": 2}, "x": 0, "a": {"b": 3, "b": [4]}})", {"a.b", "a.b.0"});
  expect_same(R"({"a": [1, 2, 3], "a": [4]})", {"a.-1", "a.-3", "a.0", "a.2"});
  expect_same(R"({"a": [1, 2, 3], "a": null})", {"a.-1", "a"});
}

TEST(PathScanEquivalence, InvalidJson) {
  const std::vector<std::string> paths = {"a", "$", "a.0"};
  for (std::string body : {"", " ", "{", "}", "{\"a\": 1,}", "[1,]", "{'a': 1}", "{\"a\" 1}",
                           "{\"a\": 1} x", "{\"a\": 1}{}", "[1 2]", "{\"a\": tru}",
                           "{\"a\": truex}", "{\"a\": nul}", "{\"a\": \"x}", "{\"a\": \"\\x\"}",
                           "{\"a\": \"\\u12\"}", "{\"a\": \"\\u12G4\"}", "{\"a\": \"\\ud800\"}",
                           "{\"a\": \"\\ud800\\u0041\"}", "{\"a\": \"\\udc00\"}",
                           "{\"a\": \"\\ud800\\udc00\"}", "{\"a\": \"\\uDBFF\\uDFFF\"}",
                           "{a: 1}", "[1] // c", "/* c */ [1]", "<html>", "{\"a\": [1}",
                           "{\"a\": {]}", "[\"a\":1]", "{1: 2}", "{\"a\": 1 \"b\": 2}",
                           "\xef\xbb\xbf{\"a\": 1}", "\xef\xbb{\"a\": 1}", " \xef\xbb\xbf[1]",
                           "\xef\xbb\xbf", "{\"a\": 1}\n\r\t ", "\n{\"a\":[1]}\n",
                           "{\"a\": 1}\v", "\f[1]"}) {
    expect_same(body, paths);
  }
  // Control characters, and well- and ill-formed UTF-8 inside strings.
  for (int c = 0; c < 0x20; ++c) expect_same("{\"a\": \"x" + std::string(1, char(c)) + "\"}", paths);
  for (const char* s : {"\xc2\x80", "\xc1\xbf", "\xdf\xbf", "\xe0\xa0\x80", "\xe0\x9f\xbf",
                        "\xed\x9f\xbf", "\xed\xa0\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
                        "\xf0\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                        "\x80", "\xbf", "\xc2", "\xe1\x80", "\xf1\x80\x80", "\xff", "\xc3\xa9"}) {
    expect_same(std::string("{\"a\": \"x") + s + "y\", \"" + s + "\": 1}", {"a", s});
    expect_same(std::string("{\"a\": \"") + s, {"a"});
  }
  // Bytes outside strings; the DOM parser stops at a NUL byte after the document.
  expect_same(std::string("{\"a\": 1\0}", 9), paths);
  expect_same(std::string("{\"a\": 1}\0", 9), paths);
  expect_same(std::string("{\"a\": 1} \0 x", 12), paths);
  expect_same(std::string("\0{\"a\": 1}", 9), paths);
  expect_same(std::string("{\"a\": \"1\0\"}", 11), paths);
}

TEST(PathScanEquivalence, EveryTruncationOfABody) {
  const std::string body = R"({"slideshow": {"author": "Yours \"Truly\"", "date": "d\u00e9",
    "slides": [{"title": "Wake up", "type": "all"}, {"items": ["Why", "Who"], "n": -12.5e-1,
    "ok": true, "no": false, "nil": null}], "title": "Sample"}} )";
  const std::vector<std::string> paths = {"slideshow.author", "slideshow.slides.1.items.-1",
                                          "slideshow.slides.-1.n", "slideshow.date", "$",
                                          "slideshow.slides.0"};
  for (std::size_t n = 0; n <= body.size(); ++n) expect_same(body.substr(0, n), paths);
}

TEST(PathScanEquivalence, NestingLimit) {
  auto nested = [](std::size_t depth) {
    return "{\"a\": " + std::string(depth - 1, '[') + "1" + std::string(depth - 1, ']') + "}";
  };
  expect_same(nested(512), {"a", "a.0.0.0"});
  expect_same(nested(513), {"a", "a.0.0.0"});
  EXPECT_NE(extract(nested(512), "a.0.0.0"), std::nullopt);
  EXPECT_EQ(extract(nested(513), "a.0.0.0"), std::nullopt) << "513 levels do not count as JSON";
  // Brackets inside strings do not count.
  expect_same("{\"a\": \"" + std::string(1000, '[') + "\"}", {"a"});
}

TEST(PathScanEquivalence, RandomEditsOfABody) {
  const std::string seed = R"({"data": {"token": "t\u00f6k\"en", "items": [{"id": 7, "v": [1.5, -2e3, true]},
    {"id": 18446744073709551615, "v": null}], "n": 2, "s": "caf\u00e9 \ud83d\ude00", "e": {}, "a": []},
    "data": {"token": "last", "items": [{"id": 9}]}, "list": [[0], [1, [2]], "x"]})";
  const std::vector<std::string> paths = {"data.token", "data.items.0.id", "data.items.-1.id",
                                          "data.items.0.v.-1", "data.n", "data.s", "data.e",
                                          "list.-1", "list.1.1.0", "list.-2.-1", "$", "data.a"};
  const char* alphabet_text = "{}[]\",:\\ 0123456789.-+eEtrufalsn\xc3\xa9\x80u\x01";
  const std::string alphabet = std::string(alphabet_text) + '\0';
  std::mt19937 rng(12345);
  for (int round = 0; round < 1500; ++round) {
    std::string body = seed;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !body.empty(); ++k) {
      const std::size_t at = rng() % body.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: body.erase(at, 1); break;
        case 1: body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        default: body[at] = c; break;
      }
    }
    // Every path in one set of extractors (one scan for all of them) ...
    params::ParseContext ctx{resolver()};
    Json task = {{"extract", Json::array()}};
    for (std::size_t i = 0; i < paths.size(); ++i) {
      task["extract"].push_back({{"var", "v" + std::to_string(i)}, {"path", paths[i]}});
    }
    auto c = Checks::compile(task, ctx);
    params::UserScope scope(1);
    ASSERT_EQ(c->apply(ResponseView{200, body, {}}, scope), nullptr);
    for (std::size_t i = 0; i < paths.size(); ++i) {
      const std::string* v = scope.find("v" + std::to_string(i));
      const auto want = reference_extract(body, paths[i]);
      EXPECT_EQ(v ? std::optional<std::string>(*v) : std::nullopt, want)
          << paths[i] << " in " << show(body);
    }
    // ... and an assertion on one of them.
    const std::string& p = paths[rng() % paths.size()];
    const auto doc = reference_doc(body);
    const Json* v = doc ? JsonPath::parse(p).find(*doc) : nullptr;
    const Json expected = v ? *v : Json(nullptr);
    EXPECT_EQ(holds(body, p, expected), reference_holds(body, p, expected)) << p << " in " << show(body);
  }
}

TEST(PathScanEquivalence, TooManyPathsForOneScanParseADocument) {
  params::ParseContext ctx{resolver()};
  Json task = {{"extract", Json::array()}};
  for (std::size_t i = 0; i <= scan::kMaxPaths; ++i) {
    task["extract"].push_back({{"var", "v" + std::to_string(i)}, {"path", "a." + std::to_string(i)}});
  }
  auto c = Checks::compile(task, ctx);
  EXPECT_FALSE(c->scans_paths());
  params::UserScope scope(1);
  ASSERT_EQ(c->apply(ResponseView{200, R"({"a": [0, {"b": 1}, 2.50]})", {}}, scope), nullptr);
  EXPECT_EQ(*scope.find("v1"), R"({"b":1})");
  EXPECT_EQ(*scope.find("v2"), "2.5");
  EXPECT_EQ(scope.find("v3"), nullptr);
  bool scanned = true;
  const std::string long_path = "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a";  // 17 steps
  EXPECT_EQ(extract("{}", long_path, &scanned), std::nullopt);
  EXPECT_FALSE(scanned) << "a path longer than a scan follows is walked in a document";
  expect_same(R"({"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": 5}}}}}}}}}}}}}}}}})",
              {long_path});
}
