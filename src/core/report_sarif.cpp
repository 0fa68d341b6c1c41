// SARIF 2.1.0 as Trivy writes it (pkg/report/sarif.go with owenrumney/go-sarif): the same
// rules (one per ID, in order of first appearance, described by the last finding with that
// ID), levels, messages and locations, pretty-printed as Go's json.MarshalIndent does.
// Written in two passes over the collected findings (rules, then results), streaming.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <variant>

#include "imgfactory/report.hpp"

namespace imgf::report {
namespace {

using trivy::Severity;

constexpr std::string_view kBuiltinSecretRules =
    "https://github.com/aquasecurity/trivy/blob/main/pkg/fanal/secret/builtin-rules.go";

// ---- Go-style pretty JSON writer --------------------------------------------------------------
class GoJson {
 public:
  explicit GoJson(std::ostream& os) : os_(os) {}
  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  void key(std::string_view k) {
    element();
    os_ << go_json_string(k) << ": ";
    after_key_ = true;
  }
  void string(std::string_view s) {
    element();
    os_ << go_json_string(s);
  }
  void number(double d) {
    element();
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    os_.write(buf, r.ptr - buf);
  }
  void integer(long long v) {
    element();
    os_ << v;
  }
  void null() {
    element();
    os_ << "null";
  }
  // Convenience: "key": "value".
  void field(std::string_view k, std::string_view v) {
    key(k);
    string(v);
  }

 private:
  void element() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (stack_.empty()) return;
    os_ << (stack_.back() ? ",\n" : "\n");
    stack_.back() = true;
    indent(stack_.size());
  }
  void open(char c) {
    element();
    os_ << c;
    stack_.push_back(false);
  }
  void close(char c) {
    bool had = stack_.back();
    stack_.pop_back();
    if (had) {
      os_ << '\n';
      indent(stack_.size());
    }
    os_ << c;
  }
  void indent(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) os_ << "  ";
  }
  std::ostream& os_;
  std::vector<bool> stack_;  // per open container: has it an element yet
  bool after_key_ = false;
};

// ---- Trivy's helpers --------------------------------------------------------------------------
std::string_view level(Severity s) {
  switch (s) {
    case Severity::critical:
    case Severity::high: return "error";
    case Severity::medium: return "warning";
    case Severity::low:
    case Severity::unknown: break;
  }
  return "note";
}

std::string_view severity_score(Severity s) {
  switch (s) {
    case Severity::critical: return "9.5";
    case Severity::high: return "8.0";
    case Severity::medium: return "5.5";
    case Severity::low: return "2.0";
    case Severity::unknown: break;
  }
  return "0.0";
}

std::string_view rule_name(std::string_view klass) {
  if (klass == "os-pkgs") return "OsPackageVulnerability";
  if (klass == "lang-pkgs") return "LanguageSpecificPackageVulnerability";
  if (klass == "config") return "Misconfiguration";
  if (klass == "secret") return "Secret";
  if (klass == "license" || klass == "license-file") return "License";
  return "UnknownIssue";
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

// Trivy's clearURI: backslashes to slashes, module source prefixes (git::, hg::, s3::, gcs::)
// turned into plain locations.
std::string clear_uri(std::string_view in) {
  std::string s(in);
  replace_all(s, "\\", "/");
  if (starts_with(s, "git@github.com:")) {
    replace_all(s, "git@github.com:", "github.com/");
    replace_all(s, ".git", "");
    replace_all(s, "?ref=", "/tree/");
  } else if (starts_with(s, "git::https:/") && !starts_with(s, "git::https://")) {
    s = s.substr(12);
    replace_all(s, ".git", "");
  } else if (starts_with(s, "git::ssh://")) {
    if (auto at = s.find('@'); at != std::string::npos) s = s.substr(at + 1);
    replace_all(s, ".git", "");
  } else if (starts_with(s, "git::")) {
    s = s.substr(5);
    replace_all(s, ".git", "");
  } else if (starts_with(s, "hg::")) {
    s = s.substr(4);
    replace_all(s, ".hg", "");
  } else if (starts_with(s, "s3::")) {
    s = s.substr(4);
  } else if (starts_with(s, "gcs::")) {
    s = s.substr(5);
  }
  return s;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Trivy's pathRegex `(?P<path>.+?)(?:\s*\((?:.*?)\).*?)?$`: the shortest non-empty prefix
// followed by nothing or by "(...)...".
std::string_view strip_distro(std::string_view s) {
  if (s.find('\n') != std::string_view::npos) return s;  // `.` does not match newlines: no match
  for (std::size_t i = 1; i < s.size(); ++i) {
    std::size_t j = i;
    while (j < s.size() && is_space(s[j])) ++j;
    if (j < s.size() && s[j] == '(' && s.find(')', j + 1) != std::string_view::npos) return s.substr(0, i);
  }
  return s;
}

bool all_of_chars(std::string_view s, std::string_view allowed) {
  return std::all_of(s.begin(), s.end(), [&](char c) { return allowed.find(c) != std::string_view::npos; });
}

// go-containerregistry's name.ParseReference(s).Context().RepositoryStr(), or nullopt when it
// does not parse as a reference.
std::optional<std::string> repository_of_reference(std::string_view s) {
  static constexpr std::string_view kRepoChars = "abcdefghijklmnopqrstuvwxyz0123456789_-./";
  static constexpr std::string_view kTagChars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";
  std::string_view name = s;
  if (auto at = s.find('@'); at != std::string_view::npos) {
    std::string_view digest = s.substr(at + 1);
    name = s.substr(0, at);
    if (digest.size() != 71 || !starts_with(digest, "sha256:") ||
        !all_of_chars(digest.substr(7), "0123456789abcdef"))
      return std::nullopt;
  } else {
    auto colon = s.rfind(':');
    auto slash = s.rfind('/');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
      std::string_view tag = s.substr(colon + 1);
      if (tag.empty() || tag.size() > 128 || !all_of_chars(tag, kTagChars)) return std::nullopt;
      name = s.substr(0, colon);
    }
  }
  std::string_view registry, repo = name;
  if (auto slash = name.find('/'); slash != std::string_view::npos) {
    std::string_view first = name.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost") {
      registry = first;
      repo = name.substr(slash + 1);
      if (registry.find_first_of(" \t/?#@") != std::string_view::npos) return std::nullopt;
    }
  }
  if (repo.size() < 2 || repo.size() > 255 || !all_of_chars(repo, kRepoChars)) return std::nullopt;
  bool docker_hub = registry.empty() || registry == "docker.io" || registry == "index.docker.io";
  if (docker_hub && repo.find('/') == std::string_view::npos) return "library/" + std::string(repo);
  return std::string(repo);
}

// A property value: string or number.
using Prop = std::variant<std::string, double>;

struct SarifFinding {
  std::string rule_id;
  std::string_view rule_name;
  std::string short_desc, full_desc, help_uri, help_text, help_markdown, message;
  std::string artifact_uri, location_message;
  Severity severity = Severity::unknown;
  std::map<std::string, Prop> properties;
  std::vector<trivy::PackageLocation> locations;
};

std::string sev_str(Severity s) { return std::string(trivy::to_string(s)); }

std::string format_score(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

void base_properties(SarifFinding& f, const char* title, std::string_view score) {
  f.properties["tags"] = std::string(title);  // placeholder, written specially
  f.properties["precision"] = std::string("very-high");
  f.properties["security-severity"] = std::string(score);
}

SarifFinding from_vulnerability(const trivy::Result& r, const trivy::Vulnerability& v) {
  SarifFinding f;
  std::string path = sarif_target_path(r.target, r.klass);
  if (!v.pkg_path.empty()) path = sarif_target_path(v.pkg_path, r.klass);
  f.rule_id = v.id;
  f.rule_name = rule_name(r.klass);
  f.severity = v.severity;
  f.short_desc = v.title;
  f.full_desc = v.description.empty() ? v.title : v.description;
  f.help_uri = go_url_string(v.primary_url);
  const std::string sev = sev_str(v.severity);
  f.help_text = "Vulnerability " + v.id + "\nSeverity: " + sev + "\nPackage: " + v.pkg_name +
                "\nFixed Version: " + v.fixed_version + "\nLink: [" + v.id + "](" + v.primary_url + ")\n" +
                v.description;
  f.help_markdown = "**Vulnerability " + v.id +
                    "**\n| Severity | Package | Fixed Version | Link |\n| --- | --- | --- | --- |\n|" + sev + "|" +
                    v.pkg_name + "|" + v.fixed_version + "|[" + v.id + "](" + v.primary_url + ")|\n\n" +
                    v.description;
  f.message = "Package: " + v.pkg_name + "\nInstalled Version: " + v.installed_version + "\nVulnerability " + v.id +
              "\nSeverity: " + sev + "\nFixed Version: " + v.fixed_version + "\nLink: [" + v.id + "](" +
              v.primary_url + ")";
  f.artifact_uri = go_url_string(path);
  f.location_message = path + ": " + v.pkg_name + "@" + v.installed_version;
  if (auto it = r.package_locations.find(v.pkg_name + "@" + v.installed_version); it != r.package_locations.end())
    f.locations = it->second;
  std::string score(severity_score(v.severity));
  if (v.cvss) {
    const auto& c = *v.cvss;
    if (!c.v2_vector.empty()) f.properties["cvssv2_vector"] = c.v2_vector;
    if (c.v2_score != 0) f.properties["cvssv2_score"] = c.v2_score;
    if (!c.v3_vector.empty()) f.properties["cvssv3_vector"] = c.v3_vector;
    if (c.v3_score != 0) f.properties["cvssv3_baseScore"] = c.v3_score;
    if (!c.v40_vector.empty()) f.properties["cvssv40_vector"] = c.v40_vector;
    if (c.v40_score != 0) f.properties["cvssv40_baseScore"] = c.v40_score;
    if (c.v3_score != 0) score = format_score(c.v3_score);
  }
  base_properties(f, "vulnerability", score);
  return f;
}

SarifFinding from_misconfiguration(const trivy::Result& r, const trivy::Misconfiguration& m) {
  SarifFinding f;
  const std::string location = clear_uri(r.target);
  const std::string sev = sev_str(m.severity);
  f.rule_id = m.id;
  f.rule_name = rule_name(r.klass);
  f.severity = m.severity;
  f.short_desc = m.title;
  f.full_desc = m.description;
  f.help_uri = go_url_string(m.primary_url);
  f.help_text = "Misconfiguration " + m.id + "\nType: " + m.type + "\nSeverity: " + sev + "\nCheck: " + m.title +
                "\nMessage: " + m.message + "\nLink: [" + m.id + "](" + m.primary_url + ")\n" + m.description;
  f.help_markdown = "**Misconfiguration " + m.id +
                    "**\n| Type | Severity | Check | Message | Link |\n| --- | --- | --- | --- | --- |\n|" + m.type +
                    "|" + sev + "|" + m.title + "|" + m.message + "|[" + m.id + "](" + m.primary_url + ")|\n\n" +
                    m.description;
  f.message = "Artifact: " + location + "\nType: " + r.type + "\nVulnerability " + m.id + "\nSeverity: " + sev +
              "\nMessage: " + m.message + "\nLink: [" + m.id + "](" + m.primary_url + ")";
  f.artifact_uri = go_url_string(location);
  f.location_message = location;
  f.locations.push_back({m.start_line, m.end_line});
  base_properties(f, "misconfiguration", severity_score(m.severity));
  return f;
}

SarifFinding from_secret(const trivy::Result& r, const trivy::Secret& s) {
  SarifFinding f;
  const std::string target = sarif_target_path(r.target, r.klass);
  const std::string sev = sev_str(s.severity);
  f.rule_id = s.rule_id;
  f.rule_name = rule_name(r.klass);
  f.severity = s.severity;
  f.short_desc = s.title;
  f.full_desc = s.match;
  f.help_uri = std::string(kBuiltinSecretRules);
  f.help_text = "Secret " + s.title + "\nSeverity: " + sev + "\nMatch: " + s.match;
  f.help_markdown = "**Secret " + s.title + "**\n| Severity | Match |\n| --- | --- |\n|" + sev + "|" + s.match + "|";
  f.message = "Artifact: " + r.target + "\nType: " + r.type + "\nSecret " + s.title + "\nSeverity: " + sev +
              "\nMatch: " + s.match;
  f.artifact_uri = go_url_string(target);
  f.location_message = target;
  f.locations.push_back({s.start_line, s.end_line});
  base_properties(f, "secret", severity_score(s.severity));
  return f;
}

// Calls fn(result, finding) for every finding in Trivy's order: per Result, vulnerabilities,
// failed misconfigurations, secrets.
template <typename Fn>
void each_finding(const trivy::ScanOutcome& scan, Fn&& fn) {
  for (const auto& r : scan.results) {
    for (const auto& v : r.vulnerabilities) fn(from_vulnerability(r, v));
    for (const auto& m : r.misconfigurations)
      if (m.failed()) fn(from_misconfiguration(r, m));
    for (const auto& s : r.secrets) fn(from_secret(r, s));
  }
}

void write_rule(GoJson& j, const SarifFinding& f) {
  j.begin_object();
  j.field("id", f.rule_id);
  j.field("name", f.rule_name);
  j.key("shortDescription");
  j.begin_object();
  j.field("text", f.short_desc);
  j.end_object();
  j.key("fullDescription");
  j.begin_object();
  j.field("text", f.full_desc);
  j.end_object();
  j.key("defaultConfiguration");
  j.begin_object();
  j.field("level", level(f.severity));
  j.end_object();
  if (!f.help_uri.empty()) j.field("helpUri", f.help_uri);
  j.key("help");
  j.begin_object();
  j.field("text", f.help_text);
  j.field("markdown", f.help_markdown);
  j.end_object();
  j.key("properties");
  j.begin_object();
  for (const auto& [k, v] : f.properties) {  // std::map: sorted keys, as Go writes a map
    j.key(k);
    if (k == "tags") {
      j.begin_array();
      j.string(std::get<std::string>(v));
      j.string("security");
      j.string(trivy::to_string(f.severity));
      j.end_array();
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      j.string(*s);
    } else {
      j.number(std::get<double>(v));
    }
  }
  j.end_object();
  j.end_object();
}

void write_result(GoJson& j, const SarifFinding& f, std::size_t rule_index) {
  j.begin_object();
  j.field("ruleId", f.rule_id);
  j.key("ruleIndex");
  j.integer(static_cast<long long>(rule_index));
  j.field("level", level(f.severity));
  j.key("message");
  j.begin_object();
  j.field("text", f.message);
  j.end_object();
  j.key("locations");
  j.begin_array();
  std::vector<trivy::PackageLocation> locs = f.locations;
  if (locs.empty()) locs.push_back({1, 1});
  for (auto l : locs) {
    if (l.start_line == 0 && l.end_line == 0) l = {1, 1};
    j.begin_object();
    j.key("physicalLocation");
    j.begin_object();
    j.key("artifactLocation");
    j.begin_object();
    j.field("uri", f.artifact_uri);
    j.field("uriBaseId", "ROOTPATH");
    j.end_object();
    j.key("region");
    j.begin_object();
    j.key("startLine");
    j.integer(l.start_line);
    j.key("startColumn");
    j.integer(1);
    j.key("endLine");
    j.integer(l.end_line);
    j.key("endColumn");
    j.integer(1);
    j.end_object();
    j.end_object();
    j.key("message");
    j.begin_object();
    j.field("text", f.location_message);
    j.end_object();
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

void string_list(GoJson& j, const std::vector<std::string>& v) {
  j.begin_array();
  for (const auto& s : v) j.string(s);
  j.end_array();
}

}  // namespace

std::string go_json_string(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 0xf];
      continue;
    }
    // U+2028 and U+2029 (E2 80 A8 / E2 80 A9) are escaped by Go as well.
    if (c == 0xe2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) == 0xa8 || static_cast<unsigned char>(s[i + 2]) == 0xa9)) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
      i += 2;
      continue;
    }
    out += static_cast<char>(c);
  }
  out += '"';
  return out;
}

std::string sarif_target_path(std::string_view target, std::string_view klass) {
  if (klass != "os-pkgs") return std::string(target);
  std::string_view path = strip_distro(target);
  if (auto repo = repository_of_reference(path)) return clear_uri(*repo);
  return clear_uri(path);
}

std::string go_url_string(std::string_view s) {
  if (s.empty()) return {};
  // An absolute URL ("scheme:..."): kept as written.
  if (std::isalpha(static_cast<unsigned char>(s[0]))) {
    std::size_t i = 1;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
      ++i;
    if (i < s.size() && s[i] == ':') return std::string(s);
  }
  // Query and fragment are kept as written; the path is what Go escapes.
  std::size_t cut = s.find_first_of("?#");
  std::string_view path = s.substr(0, cut);
  std::string_view rest = cut == std::string_view::npos ? std::string_view{} : s.substr(cut);
  // "first path segment in URL cannot contain colon"
  if (path.substr(0, path.find('/')).find(':') != std::string_view::npos) return {};
  // Invalid percent escapes make url.Parse fail.
  for (std::size_t i = 0; i < path.size(); ++i)
    if (path[i] == '%' && (i + 2 >= path.size() || !std::isxdigit(static_cast<unsigned char>(path[i + 1])) ||
                           !std::isxdigit(static_cast<unsigned char>(path[i + 2]))))
      return {};
  auto unreserved = [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~'; };
  constexpr std::string_view kValidEncoded = "!$&'()*+,;=:@[]/%";
  bool valid = std::all_of(path.begin(), path.end(), [&](char c) {
    return unreserved(static_cast<unsigned char>(c)) || kValidEncoded.find(c) != std::string_view::npos;
  });
  if (valid) return std::string(s);
  // Re-escape the decoded path as Go's EscapedPath does.
  std::string decoded;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') {
      decoded += static_cast<char>(std::stoi(std::string(path.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      decoded += path[i];
    }
  }
  static const char* hex = "0123456789ABCDEF";
  constexpr std::string_view kPathKeep = "$&+,/:;=@";
  std::string out;
  for (char ch : decoded) {
    auto c = static_cast<unsigned char>(ch);
    if (unreserved(c) || kPathKeep.find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out + std::string(rest);
}

void render_sarif(const trivy::ScanOutcome& scan, std::ostream& os) {
  // Pass 1: the rules, in order of first appearance; the last finding of an ID describes it
  // (go-sarif's AddRule returns the existing rule, which Trivy then overwrites).
  std::vector<SarifFinding> rules;
  std::unordered_map<std::string, std::size_t> index;
  each_finding(scan, [&](SarifFinding&& f) {
    f.message.clear();
    f.location_message.clear();
    f.locations.clear();
    auto [it, inserted] = index.try_emplace(f.rule_id, rules.size());
    if (inserted) rules.push_back(std::move(f));
    else rules[it->second] = std::move(f);
  });

  GoJson j(os);
  j.begin_object();
  j.field("version", "2.1.0");
  j.field("$schema", "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json");
  j.key("runs");
  j.begin_array();
  j.begin_object();
  j.key("tool");
  j.begin_object();
  j.key("driver");
  j.begin_object();
  j.field("fullName", "Trivy Vulnerability Scanner");
  j.field("informationUri", "https://github.com/aquasecurity/trivy");
  j.field("name", "Trivy");
  j.key("rules");
  j.begin_array();
  for (const auto& r : rules) write_rule(j, r);
  j.end_array();
  j.field("version", scan.header.trivy_version);
  j.end_object();
  j.end_object();
  // Pass 2: the results.
  j.key("results");
  j.begin_array();
  each_finding(scan, [&](SarifFinding&& f) { write_result(j, f, index.at(f.rule_id)); });
  j.end_array();
  j.field("columnKind", "utf16CodeUnits");
  if (scan.header.artifact_type == "container_image") {
    j.key("properties");
    j.begin_object();
    j.field("imageID", scan.header.image_id);
    j.field("imageName", scan.header.artifact_name);
    j.key("repoDigests");
    if (scan.header.repo_digests) string_list(j, *scan.header.repo_digests);
    else j.null();
    j.key("repoTags");
    if (scan.header.has_repo_tags) string_list(j, scan.header.repo_tags);
    else j.null();
    j.end_object();
  }
  j.end_object();
  j.end_array();
  j.end_object();
  os << '\n';
}

}  // namespace imgf::report
