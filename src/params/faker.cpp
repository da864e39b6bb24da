#include "params/faker.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "core/text.hpp"
#include "params/resolver.hpp"

namespace ld::params::faker {

namespace {

constexpr const char* kFirst[] = {"James", "Mary", "Robert", "Patricia", "John", "Jennifer",
                                  "Michael", "Linda", "David", "Elizabeth", "William", "Barbara",
                                  "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
                                  "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa",
                                  "Anthony", "Betty", "Mark", "Margaret", "Wei", "Yuki", "Amara",
                                  "Mateo", "Sofia", "Lucas", "Aisha", "Noah"};
constexpr const char* kLast[] = {"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia",
                                 "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez",
                                 "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
                                 "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson",
                                 "White", "Harris", "Sanchez", "Clark", "Lewis", "Chen", "Tanaka",
                                 "Okafor", "Silva", "Kim", "Nguyen"};
constexpr const char* kWords[] = {
    "alpha", "bravo", "charlie", "delta", "echo", "quick", "brown", "fox", "jumps", "over",
    "lazy", "dog", "lorem", "ipsum", "dolor", "sit", "amet", "network", "latency", "server",
    "client", "request", "stream", "packet", "signal", "market", "river", "mountain", "garden",
    "window", "system", "update", "value", "simple", "bright", "silent", "rapid", "golden",
    "future", "history", "science", "culture", "energy", "health", "policy", "travel"};
constexpr const char* kDomains[] = {"example.com", "example.org", "example.net", "test.example"};
constexpr const char* kStreets[] = {"Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Lake",
                                    "Hill", "Park", "Sunset", "River", "Washington"};
constexpr const char* kStreetSuffix[] = {"Street", "Avenue", "Road", "Lane", "Drive", "Court"};
constexpr const char* kCities[] = {"Springfield", "Riverside", "Franklin", "Greenville",
                                   "Bristol", "Clinton", "Fairview", "Salem", "Madison",
                                   "Georgetown", "Arlington", "Ashland", "Dover", "Oxford"};
constexpr const char* kCountries[] = {"Japan", "Brazil", "Canada", "Germany", "Kenya", "India",
                                      "France", "Mexico", "Norway", "Australia", "Chile",
                                      "Vietnam", "Portugal", "Egypt", "Taiwan", "Spain"};
constexpr const char* kCompanySuffix[] = {"Inc", "LLC", "Group", "Ltd", "and Sons", "PLC"};

enum Method {
  kName, kFirstName, kLastName, kEmail, kUserName, kPhone, kAddress, kStreetAddress, kCity,
  kCountry, kPostcode, kCompany, kWord, kSentence, kText, kIpv4, kUrl, kDate, kIso8601, kUuid4,
  kPassword, kBoolean, kCount
};
const std::vector<std::string> kNames = {
    "name", "first_name", "last_name", "email", "user_name", "phone_number", "address",
    "street_address", "city", "country", "postcode", "company", "word", "sentence", "text",
    "ipv4", "url", "date", "iso8601", "uuid4", "password", "boolean"};

template <std::size_t N>
const char* pick(const char* const (&list)[N], UserScope& s) {
  return list[s.next_random() % N];
}

void digits(std::string& out, int n, UserScope& s) {
  for (int i = 0; i < n; ++i) out += static_cast<char>('0' + s.next_random() % 10);
}

void append_lower(std::string& out, const char* s) {
  for (; *s; ++s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(*s)));
}

void sentence(std::string& out, UserScope& s) {
  const int n = 4 + static_cast<int>(s.next_random() % 6);
  for (int i = 0; i < n; ++i) {
    const char* w = pick(kWords, s);
    if (i) out += ' ';
    out += i == 0 ? static_cast<char>(std::toupper(static_cast<unsigned char>(w[0]))) : w[0];
    out += w + 1;
  }
  out += '.';
}

}  // namespace

void uuid4(std::string& out, UserScope& s) {
  const std::uint64_t a = s.next_random(), b = s.next_random();
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(a >> (8 * i));
  for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<unsigned char>(b >> (8 * i));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  static constexpr char kHex[] = "0123456789abcdef";
  char text[36];
  char* t = text;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *t++ = '-';
    *t++ = kHex[bytes[i] >> 4];
    *t++ = kHex[bytes[i] & 15];
  }
  out.append(text, sizeof text);
}

const std::vector<std::string>& method_names() { return kNames; }

int method_id(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (text::iequals(kNames[i], name)) return static_cast<int>(i);
  }
  if (text::iequals(name, "uuid")) return kUuid4;
  if (text::iequals(name, "username")) return kUserName;
  if (text::iequals(name, "phone")) return kPhone;
  return -1;
}

void generate(int method, std::string& out, UserScope& s) {
  char buf[64];
  switch (method) {
    case kName:
      out += pick(kFirst, s);
      out += ' ';
      out += pick(kLast, s);
      break;
    case kFirstName: out += pick(kFirst, s); break;
    case kLastName: out += pick(kLast, s); break;
    case kEmail:
      append_lower(out, pick(kFirst, s));
      out += '.';
      append_lower(out, pick(kLast, s));
      digits(out, 2, s);
      out += '@';
      out += pick(kDomains, s);
      break;
    case kUserName:
      append_lower(out, pick(kFirst, s));
      out += '_';
      out += pick(kWords, s);
      digits(out, 2, s);
      break;
    case kPhone:
      out += "+1-";
      digits(out, 3, s);
      out += '-';
      digits(out, 3, s);
      out += '-';
      digits(out, 4, s);
      break;
    case kAddress:
    case kStreetAddress:
      {
        char num[8];
        out.append(num, std::to_chars(num, num + sizeof num, 1 + s.next_random() % 9999).ptr);
      }
      out += ' ';
      out += pick(kStreets, s);
      out += ' ';
      out += pick(kStreetSuffix, s);
      if (method == kAddress) {
        out += ", ";
        out += pick(kCities, s);
        out += ' ';
        digits(out, 5, s);
      }
      break;
    case kCity: out += pick(kCities, s); break;
    case kCountry: out += pick(kCountries, s); break;
    case kPostcode: digits(out, 5, s); break;
    case kCompany:
      out += pick(kLast, s);
      out += ' ';
      out += pick(kCompanySuffix, s);
      break;
    case kWord: out += pick(kWords, s); break;
    case kSentence: sentence(out, s); break;
    case kText:
      for (int i = 0, n = 2 + static_cast<int>(s.next_random() % 3); i < n; ++i) {
        if (i) out += ' ';
        sentence(out, s);
      }
      break;
    case kIpv4: {
      const std::uint64_t r = s.next_random();
      std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", 1 + unsigned(r % 223), unsigned((r >> 8) & 255),
                    unsigned((r >> 16) & 255), 1 + unsigned((r >> 24) % 254));
      out += buf;
      break;
    }
    case kUrl:
      out += "https://www.";
      out += pick(kDomains, s);
      out += '/';
      out += pick(kWords, s);
      break;
    case kDate:
    case kIso8601: {
      // A moment in the last ten years.
      const std::time_t t = std::time(nullptr) - static_cast<std::time_t>(s.next_random() % (10ull * 365 * 86400));
      std::tm tm{};
      gmtime_r(&t, &tm);
      std::strftime(buf, sizeof buf, method == kDate ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%S", &tm);
      out += buf;
      break;
    }
    case kUuid4: uuid4(out, s); break;
    case kPassword: {
      static constexpr char kChars[] =
          "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!@#$%^&*";
      for (int i = 0; i < 12; ++i) out += kChars[s.next_random() % (sizeof kChars - 1)];
      break;
    }
    case kBoolean: out += (s.next_random() & 1) ? "True" : "False"; break;
    default: break;
  }
}

}  // namespace ld::params::faker
