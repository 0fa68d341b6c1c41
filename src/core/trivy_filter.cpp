// Severities, ignore files (.trivyignore and .trivyignore.yaml), globs and package URLs.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <functional>
#include <map>

#include <spdlog/spdlog.h>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/text.hpp"
#include "imgfactory/trivy.hpp"

namespace imgf::trivy {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// "YYYY-MM-DD", or an RFC 3339 date-time ("YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)"), as UTC.
// system_clock counts nanoseconds: dates past 2262 (Trivy's "exp:9999-12-31") are clamped.
std::chrono::system_clock::time_point clamp_time(std::chrono::sys_seconds t) {
  using namespace std::chrono;
  const auto max_s = duration_cast<seconds>(system_clock::time_point::max().time_since_epoch());
  const auto min_s = duration_cast<seconds>(system_clock::time_point::min().time_since_epoch());
  if (t.time_since_epoch() >= max_s) return system_clock::time_point::max();
  if (t.time_since_epoch() <= min_s) return system_clock::time_point::min();
  return system_clock::time_point{duration_cast<system_clock::duration>(t.time_since_epoch())};
}

std::optional<std::chrono::system_clock::time_point> parse_date(std::string_view text) {
  using namespace std::chrono;
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  std::string_view y = text.substr(0, 4), m = text.substr(5, 2), d = text.substr(8, 2);
  if (!all_digits(y) || !all_digits(m) || !all_digits(d)) return std::nullopt;
  year_month_day ymd{year{to_int(y)}, month{static_cast<unsigned>(to_int(m))}, day{static_cast<unsigned>(to_int(d))}};
  if (!ymd.ok()) return std::nullopt;
  sys_seconds t = sys_days{ymd};
  if (text.size() == 10) return clamp_time(t);
  // Time part.
  std::string_view rest = text.substr(10);
  if (rest.size() < 9 || (rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ') || rest[3] != ':' || rest[6] != ':')
    return std::nullopt;
  std::string_view hh = rest.substr(1, 2), mm = rest.substr(4, 2), ss = rest.substr(7, 2);
  if (!all_digits(hh) || !all_digits(mm) || !all_digits(ss)) return std::nullopt;
  int h = to_int(hh), mi = to_int(mm), se = to_int(ss);
  if (h > 23 || mi > 59 || se > 60) return std::nullopt;
  t += hours{h} + minutes{mi} + seconds{se};
  rest = rest.substr(9);
  if (!rest.empty() && rest[0] == '.') {
    std::size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    if (i == 1) return std::nullopt;
    rest = rest.substr(i);
  }
  if (rest == "Z" || rest == "z") return clamp_time(t);
  if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' && all_digits(rest.substr(1, 2)) &&
      all_digits(rest.substr(4, 2))) {
    auto off = hours{to_int(rest.substr(1, 2))} + minutes{to_int(rest.substr(4, 2))};
    return clamp_time(rest[0] == '+' ? t - off : t + off);
  }
  return std::nullopt;
}

// ---- glob -------------------------------------------------------------------------------------
constexpr std::size_t kMaxBraceExpansions = 1024;

// Expands {a,b} alternatives (nested), honouring `\` escapes. Unbalanced braces are literal.
void expand_braces(const std::string& pattern, std::vector<std::string>& out) {
  if (out.size() >= kMaxBraceExpansions) return;
  std::size_t open = std::string::npos;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      ++i;
      continue;
    }
    if (pattern[i] == '{') {
      open = i;
      break;
    }
  }
  if (open == std::string::npos) {
    out.push_back(pattern);
    return;
  }
  // Find the matching close and the top-level commas.
  int depth = 0;
  std::vector<std::size_t> commas;
  std::size_t close = std::string::npos;
  for (std::size_t i = open; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '{') ++depth;
    else if (c == '}') {
      if (--depth == 0) {
        close = i;
        break;
      }
    } else if (c == ',' && depth == 1) {
      commas.push_back(i);
    }
  }
  if (close == std::string::npos) {
    out.push_back(pattern);  // literal brace
    return;
  }
  std::string prefix = pattern.substr(0, open), suffix = pattern.substr(close + 1);
  std::size_t start = open + 1;
  commas.push_back(close);
  for (std::size_t c : commas) {
    expand_braces(prefix + pattern.substr(start, c - start) + suffix, out);
    start = c + 1;
  }
}

std::size_t utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xe) return 3;
  if ((c >> 3) == 0x1e) return 4;
  return 1;
}

// The code point at s[i] (bytes of invalid UTF-8 stand for themselves); `len` its byte length.
char32_t decode(std::string_view s, std::size_t i, std::size_t& len) {
  auto c = static_cast<unsigned char>(s[i]);
  len = utf8_len(c);
  if (i + len > s.size()) len = 1;
  if (len == 1) return c;
  char32_t cp = c & (0x7fu >> len);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3fu);
  return cp;
}

// Matches one class "[...]" starting at p[pi] == '['; on success sets `next` past the class
// and `consumed` to the bytes of s it matched. An unterminated class matches nothing.
bool match_class(std::string_view p, std::size_t pi, std::string_view s, std::size_t si, std::size_t& next,
                 std::size_t& consumed) {
  std::size_t i = pi + 1;
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
    negate = true;
    ++i;
  }
  std::size_t clen = 0;
  const char32_t ch = decode(s, si, clen);
  bool matched = false;
  bool first = true;  // a ']' right after '[' (or '[!') is literal
  while (i < p.size() && (p[i] != ']' || first)) {
    first = false;
    if (p[i] == '\\' && i + 1 < p.size()) ++i;
    std::size_t l = 0;
    const char32_t lo = decode(p, i, l);
    i += l;
    char32_t hi = lo;
    if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
      ++i;
      if (p[i] == '\\' && i + 1 < p.size()) ++i;
      hi = decode(p, i, l);
      i += l;
    }
    if (lo <= ch && ch <= hi) matched = true;
  }
  if (i >= p.size()) return false;
  next = i + 1;
  consumed = clen;
  return matched != negate;
}

// One path segment against one pattern segment (no '/'): `*`, `?`, classes, escapes.
bool match_segment(std::string_view p, std::string_view s) {
  std::size_t pi = 0, si = 0;
  std::size_t star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size()) {
      char c = p[pi];
      if (c == '*') {
        star_p = ++pi;
        star_s = si;
        continue;
      }
      if (c == '?') {
        ++pi;
        si += utf8_len(static_cast<unsigned char>(s[si]));
        continue;
      }
      if (c == '[') {
        std::size_t next = 0, consumed = 0;
        if (match_class(p, pi, s, si, next, consumed)) {
          pi = next;
          si += consumed;
          continue;
        }
      } else {
        if (c == '\\' && pi + 1 < p.size()) c = p[++pi];
        if (c == s[si]) {
          ++pi;
          ++si;
          continue;
        }
      }
    }
    if (star_p != std::string_view::npos) {
      pi = star_p;
      si = ++star_s;
      continue;
    }
    return false;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::vector<std::string_view> split_slash(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

bool match_expanded(std::string_view pattern, std::string_view path) {
  auto ps = split_slash(pattern);
  auto ss = split_slash(path);
  // reach[j]: pattern prefix matched the first j path segments.
  std::vector<char> reach(ss.size() + 1, 0), next(ss.size() + 1, 0);
  reach[0] = 1;
  for (std::string_view seg : ps) {
    std::fill(next.begin(), next.end(), 0);
    if (seg == "**") {
      // Zero or more segments.
      char any = 0;
      for (std::size_t j = 0; j <= ss.size(); ++j) {
        any = static_cast<char>(any | reach[j]);
        next[j] = any;
      }
    } else {
      for (std::size_t j = 0; j < ss.size(); ++j)
        if (reach[j] && match_segment(seg, ss[j])) next[j + 1] = 1;
    }
    reach.swap(next);
  }
  return reach[ss.size()] != 0;
}

// ---- package URLs -----------------------------------------------------------------------------
struct Purl {
  std::string type, ns, name, version;
  std::map<std::string, std::string> qualifiers;
};

using text::percent_decode;

std::optional<Purl> parse_purl(std::string_view s) {
  if (s.size() < 4 || upper(s.substr(0, 4)) != "PKG:") return std::nullopt;
  s.remove_prefix(4);
  while (!s.empty() && s.front() == '/') s.remove_prefix(1);
  if (auto h = s.find('#'); h != std::string_view::npos) s = s.substr(0, h);
  Purl p;
  if (auto q = s.find('?'); q != std::string_view::npos) {
    std::string_view qs = s.substr(q + 1);
    s = s.substr(0, q);
    std::size_t start = 0;
    while (start <= qs.size()) {
      std::size_t amp = qs.find('&', start);
      std::string_view kv = qs.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
      if (auto eq = kv.find('='); eq != std::string_view::npos) {
        std::string k(kv.substr(0, eq));
        for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string v = percent_decode(kv.substr(eq + 1));
        if (!v.empty()) p.qualifiers[k] = v;
      }
      if (amp == std::string_view::npos) break;
      start = amp + 1;
    }
  }
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  p.type = s.substr(0, slash);
  for (auto& c : p.type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = s.substr(slash + 1);
  auto last_slash = rest.rfind('/');
  std::string_view name_ver = last_slash == std::string_view::npos ? rest : rest.substr(last_slash + 1);
  if (last_slash != std::string_view::npos) p.ns = percent_decode(rest.substr(0, last_slash));
  if (auto at = name_ver.rfind('@'); at != std::string_view::npos) {
    p.version = percent_decode(name_ver.substr(at + 1));
    name_ver = name_ver.substr(0, at);
  }
  p.name = percent_decode(name_ver);
  if (p.type.empty() || p.name.empty()) return std::nullopt;
  return p;
}

// ---- ignore files -----------------------------------------------------------------------------
std::string yaml_str(const YAML::Node& n, const std::string& what, const std::string& file) {
  if (!n.IsScalar())
    throw input_error(what + " must be a string", file, n.Mark().line + 1, "see Trivy's .trivyignore.yaml format");
  return n.Scalar();
}

std::vector<std::string> yaml_list(const YAML::Node& n, const std::string& what, const std::string& file) {
  std::vector<std::string> out;
  if (n.IsNull()) return out;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
    return out;
  }
  if (!n.IsSequence())
    throw input_error(what + " must be a list of strings", file, n.Mark().line + 1);
  for (const auto& item : n) out.push_back(yaml_str(item, what, file));
  return out;
}

std::vector<IgnoreEntry> yaml_entries(const YAML::Node& list, const std::string& section, const std::string& file) {
  std::vector<IgnoreEntry> out;
  if (!list || list.IsNull()) return out;
  if (!list.IsSequence())
    throw input_error("'" + section + "' must be a list of entries (- id: ...)", file, list.Mark().line + 1,
                      "see Trivy's .trivyignore.yaml format");
  for (const auto& item : list) {
    const int line = item.Mark().line + 1;
    if (!item.IsMap())
      throw input_error("an entry of '" + section + "' must be a mapping with 'id'", file, line,
                        "write '- id: CVE-2024-1234'");
    IgnoreEntry e;
    e.file = file;
    e.line = line;
    for (const auto& kv : item) {
      const std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "id") {
        e.id = yaml_str(v, "id", file);
      } else if (key == "paths") {
        e.paths = yaml_list(v, "paths", file);
      } else if (key == "purls") {
        e.purls = yaml_list(v, "purls", file);
        for (const auto& p : e.purls)
          if (!parse_purl(p))
            throw input_error("'" + p + "' is not a package URL", file, v.Mark().line + 1,
                              "write it as pkg:type/namespace/name@version");
      } else if (key == "statement" || key == "reason") {
        e.statement = v.IsNull() ? "" : yaml_str(v, key, file);
      } else if (key == "expired_at" || key == "expires") {
        if (v.IsNull()) continue;
        e.expires_text = yaml_str(v, key, file);
        e.expires = parse_date(e.expires_text);
        if (!e.expires)
          throw input_error(key + " '" + e.expires_text + "' is not a date", file, v.Mark().line + 1,
                            "write it as YYYY-MM-DD (or an RFC 3339 timestamp)");
      } else {
        spdlog::warn("{}:{}: unknown key '{}' in an ignore entry (ignored)", file, kv.first.Mark().line + 1, key);
      }
    }
    if (e.id.empty() && e.paths.empty() && e.purls.empty())
      throw input_error("an entry of '" + section + "' has no id (nor paths or purls)", file, line,
                        "write '- id: CVE-2024-1234'");
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

// ---- public -----------------------------------------------------------------------------------
std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::critical: return "CRITICAL";
    case Severity::high: return "HIGH";
    case Severity::medium: return "MEDIUM";
    case Severity::low: return "LOW";
    case Severity::unknown: break;
  }
  return "UNKNOWN";
}

std::optional<Severity> parse_severity(std::string_view text) {
  std::string u = upper(text);
  if (u == "CRITICAL") return Severity::critical;
  if (u == "HIGH") return Severity::high;
  if (u == "MEDIUM") return Severity::medium;
  if (u == "LOW") return Severity::low;
  if (u == "UNKNOWN") return Severity::unknown;
  return std::nullopt;
}

std::array<bool, kSeverityCount> parse_severity_list(std::string_view list, std::string_view option) {
  std::array<bool, kSeverityCount> out{};
  bool any = false;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find_first_of(", ", start);
    std::string_view word = list.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!word.empty()) {
      auto s = parse_severity(word);
      if (!s)
        throw input_error(std::string(option) + ": unknown severity '" + std::string(word) + "'", {}, 0,
                          "use a comma-separated list of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN");
      out[static_cast<std::size_t>(*s)] = true;
      any = true;
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (!any)
    throw input_error(std::string(option) + ": empty severity list", {}, 0,
                      "use a comma-separated list of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN");
  return out;
}

bool glob_match(std::string_view pattern, std::string_view path) {
  std::vector<std::string> expanded;
  expand_braces(std::string(pattern), expanded);
  return std::any_of(expanded.begin(), expanded.end(),
                     [&](const std::string& p) { return match_expanded(p, path); });
}

bool purl_match(std::string_view pattern, std::string_view purl) {
  auto p = parse_purl(pattern);
  auto t = parse_purl(purl);
  if (!p || !t) return false;
  if (p->type != t->type || p->ns != t->ns || p->name != t->name) return false;
  if (!p->version.empty() && p->version != t->version) return false;
  for (const auto& [k, v] : p->qualifiers) {
    auto it = t->qualifiers.find(k);
    if (it == t->qualifiers.end() || it->second != v) return false;
  }
  return true;
}

IgnoreRules parse_trivyignore(std::string_view text, const std::string& file) {
  IgnoreRules rules;
  rules.file = file;
  int line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    // Fields separated by white space; a field starting with '#' starts a comment.
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i >= line.size() || line[i] == '#') break;
      std::size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      fields.push_back(line.substr(i, j - i));
      i = j;
    }
    if (fields.empty()) continue;
    IgnoreEntry e;
    e.id = std::string(fields[0]);
    e.file = file;
    e.line = line_no;
    for (std::size_t f = 1; f < fields.size(); ++f) {
      if (fields[f].substr(0, 4) != "exp:") continue;
      e.expires_text = std::string(fields[f].substr(4));
      e.expires = e.expires_text.size() == 10 ? parse_date(e.expires_text) : std::nullopt;
      if (!e.expires)
        throw input_error("'" + std::string(fields[f]) + "' is not an expiry date", file, line_no,
                          "write it as exp:YYYY-MM-DD");
    }
    // IDs in .trivyignore apply to every kind of finding, as in Trivy.
    rules.vulnerabilities.push_back(e);
    rules.misconfigurations.push_back(e);
    rules.secrets.push_back(std::move(e));
  }
  return rules;
}

IgnoreRules parse_ignore_yaml(std::string_view text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    throw input_error("invalid YAML: " + e.msg, file, e.mark.line + 1);
  }
  IgnoreRules rules;
  rules.file = file;
  if (!root || root.IsNull()) return rules;
  if (!root.IsMap())
    throw input_error("an ignore file in YAML must be a mapping with vulnerabilities, misconfigurations, secrets",
                      file, root.Mark().line + 1);
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (key == "vulnerabilities") rules.vulnerabilities = yaml_entries(kv.second, key, file);
    else if (key == "misconfigurations") rules.misconfigurations = yaml_entries(kv.second, key, file);
    else if (key == "secrets") rules.secrets = yaml_entries(kv.second, key, file);
    else if (key == "licenses") (void)yaml_entries(kv.second, key, file);  // validated; licenses are not scanned
    else
      spdlog::warn("{}:{}: unknown section '{}' in the ignore file (ignored)", file, kv.first.Mark().line + 1, key);
  }
  return rules;
}

IgnoreRules load_ignore_file(const std::filesystem::path& path) {
  std::string text = fsutil::read_file(path);
  std::string ext = path.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".yaml" || ext == ".yml") return parse_ignore_yaml(text, path.string());
  return parse_trivyignore(text, path.string());
}

}  // namespace imgf::trivy
