// Shared pieces of the kargo module: Kargo's URL/branch/interval patterns, small YAML
// builders, semver classification and repository helpers. See kargo_internal.hpp.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>

#include "kargo_internal.hpp"

namespace imgf::kargo::detail {

// The patterns of Kargo v1.11's subscription schemas and CRDs, checked before writing.
const RE2& image_repo_url_re() {
  static const RE2 re(R"(^(\w+([\.-]\w+)*(:[\d]+)?/)?(\w+([\.-]\w+)*)(/\w+([\.-]\w+)*)*$)");
  return re;
}
const RE2& git_repo_url_re() {
  static const RE2 re(
      R"((?:^(ssh|https?)://(?:([\w-]+)(:(.+))?@)?([\w-]+(?:\.[\w-]+)*)(?::(\d{1,5}))?(/.*)$)|(?:^([\w-]+)@([\w+]+(?:\.[\w-]+)*):(/?.*))$)");
  return re;
}
const RE2& branch_re() {
  static const RE2 re(R"(^[a-zA-Z0-9]([a-zA-Z0-9._\/-]*[a-zA-Z0-9_-])?$)");
  return re;
}
const RE2& interval_re() {
  static const RE2 re(R"(^([0-9]+(\.[0-9]+)?(s|m|h))+$)");
  return re;
}

bool matches(const RE2& re, std::string_view s) { return RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), re); }

// ---- small YAML builders --------------------------------------------------------------

using Labels = std::vector<std::pair<std::string, std::string>>;

Node labels_node(Labels labels) {
  std::sort(labels.begin(), labels.end());
  Node n = Node::map();
  for (auto& [k, v] : labels) n.set(k, v);
  return n;
}

Node object(const char* api_version, const char* kind, const std::string& name, const std::string* ns,
            Labels labels) {
  Node doc = Node::map();
  doc.set("apiVersion", api_version);
  doc.set("kind", kind);
  Node& meta = doc.set("metadata", Node::map());
  meta.set("name", name);
  if (ns) meta.set("namespace", *ns);
  labels.emplace_back(kManagedByKey, kManagedBy);
  meta.set("labels", labels_node(std::move(labels)));
  return doc;
}

Node named(const std::string& name) {
  Node n = Node::map();
  n.set("name", name);
  return n;
}

Node env_value(const std::string& name, const std::string& value) {
  Node n = named(name);
  n.set("value", value);
  return n;
}

Node env_secret(const std::string& name, const std::string& secret, const std::string& key, bool optional) {
  Node n = named(name);
  Node& ref = n.set("valueFrom", Node::map()).set("secretKeyRef", Node::map());
  ref.set("name", secret);
  ref.set("key", key);
  if (optional) ref.set("optional", Node::boolean(true));
  return n;
}

Node mount(const std::string& name, const std::string& path, bool read_only) {
  Node n = named(name);
  n.set("mountPath", path);
  if (read_only) n.set("readOnly", Node::boolean(true));
  return n;
}

Node string_seq(const std::vector<std::string>& items) {
  Node n = Node::seq();
  for (const auto& i : items) n.push(i);
  return n;
}

// ---- repositories --------------------------------------------------------------------------

// docker.io/library/x, x and index.docker.io/x name the same repository.
std::string normalize_repo(const std::string& r) {
  const auto slash = r.find('/');
  const std::string first = slash == std::string::npos ? "" : r.substr(0, slash);
  const bool has_registry = slash != std::string::npos && (first.find('.') != std::string::npos ||
                                                           first.find(':') != std::string::npos || first == "localhost");
  std::string reg = has_registry ? first : "docker.io";
  std::string path = has_registry ? r.substr(slash + 1) : r;
  if (reg == "index.docker.io" || reg == "registry-1.docker.io") reg = "docker.io";
  if (reg == "docker.io" && path.find('/') == std::string::npos) path = "library/" + path;
  return reg + "/" + path;
}

std::optional<GitHubRepo> github_repo(const enrollment::Source& s) {
  std::string host = "github.com";
  std::string path = s.repo;
  if (const auto p = s.repo.find("://"); p != std::string::npos) {
    std::string rest = s.repo.substr(p + 3);
    if (const auto at = rest.find('@'); at != std::string::npos && at < rest.find('/')) rest = rest.substr(at + 1);
    const auto slash = rest.find('/');
    if (slash == std::string::npos) return std::nullopt;
    host = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  } else if (s.repo.rfind("git@", 0) == 0) {
    const auto colon = s.repo.find(':');
    if (colon == std::string::npos) return std::nullopt;
    host = s.repo.substr(4, colon - 4);
    path = s.repo.substr(colon + 1);
  }
  if (const auto colon = host.find(':'); colon != std::string::npos) host.resize(colon);
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() > 4 && path.ends_with(".git")) path.resize(path.size() - 4);
  if (std::count(path.begin(), path.end(), '/') != 1) return std::nullopt;
  static const RE2 segment(R"([A-Za-z0-9._-]+/[A-Za-z0-9._-]+)");
  if (!RE2::FullMatch(path, segment)) return std::nullopt;
  if (s.provider != "github") return std::nullopt;
  return GitHubRepo{host == "github.com" ? "https://api.github.com" : "https://" + host + "/api/v3", path};
}

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

// The user-info part of an http(s) URL ("https://user:token@host/..."), or empty.
std::string url_userinfo(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos || url.rfind("http", 0) != 0) return {};
  const auto start = scheme + 3;
  const auto slash = url.find('/', start);
  const auto at = url.rfind('@', slash == std::string::npos ? std::string::npos : slash);
  if (at == std::string::npos || at < start) return {};
  return url.substr(start, at - start + 1);
}

// "a/b/Dockerfile" -> "a/b"; "./x" -> "x"; "Dockerfile" -> "" (the repository root).
std::string clean_dir(std::string p, bool is_file) {
  while (p.starts_with("./")) p.erase(0, 2);
  if (is_file) {
    const auto slash = p.rfind('/');
    p = slash == std::string::npos ? "" : p.substr(0, slash);
  }
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p == ".") p.clear();
  return p;
}

// Paths whose changes should produce new Freight: the given directories, minus those
// inside another; empty when any of them is the repository root (everything counts).
std::vector<std::string> include_paths(std::vector<std::string> dirs) {
  for (const auto& d : dirs)
    if (d.empty()) return {};
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::vector<std::string> out;
  for (const auto& d : dirs) {
    bool inside = false;
    for (const auto& o : out)
      if (d.starts_with(o + "/")) inside = true;
    if (!inside) out.push_back(d);
  }
  return out;
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty() || a == ".") return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

std::vector<std::string> paths_under(const std::vector<std::string>& includes,
                                     const std::vector<std::string>& candidates) {
  std::vector<std::string> out;
  for (const auto& c : candidates) {
    bool inside = includes.empty();
    for (const auto& i : includes)
      if (c == i || c.starts_with(i + "/")) inside = true;
    if (inside && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string normalize_git(std::string url) {
  std::transform(url.begin(), url.end(), url.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.ends_with(".git")) url.resize(url.size() - 4);
  return url;
}

// ---- durations ---------------------------------------------------------------------------------

std::optional<long long> parse_kargo_duration(std::string_view text) {
  if (!matches(interval_re(), text)) return std::nullopt;
  double total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    const double n = std::stod(std::string(text.substr(start, i - start)));
    const char unit = text[i++];
    total += n * (unit == 'h' ? 3600.0 : unit == 'm' ? 60.0 : 1.0);
  }
  if (total > 1e12) return std::nullopt;
  return static_cast<long long>(total);
}

std::string kargo_duration(long long seconds) {
  if (seconds <= 0) return "0s";
  std::string out;
  if (const long long h = seconds / 3600; h > 0) out += std::to_string(h) + "h";
  if (const long long m = seconds % 3600 / 60; m > 0) out += std::to_string(m) + "m";
  if (const long long s = seconds % 60; s > 0) out += std::to_string(s) + "s";
  return out;
}

}  // namespace imgf::kargo::detail
