// The pure parts of the health check: version parsing, durations, lists, rendering and the
// version cache's (de)serialisation.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>

#include "imgfactory/duration.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/health.hpp"

namespace imgf::health {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string format_ms(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

}  // namespace

std::vector<std::string> default_required_tools() {
  return {"task", "podman", "buildah", "skopeo", "trivy", "git"};
}
std::vector<std::string> default_optional_tools() { return {"kubectl", "jq"}; }

std::optional<std::string> parse_version(std::string_view out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!is_digit(out[i])) continue;
    // The token must start a word: nothing alphanumeric before it, except a 'v' that itself
    // starts a word ("v1.30.2"); "jq-1.6" and "Python 3.11" are fine, "h1:abc" is not.
    if (i > 0 && is_alnum(out[i - 1])) {
      bool v_prefix = (out[i - 1] == 'v' || out[i - 1] == 'V') && (i < 2 || !is_alnum(out[i - 2]));
      if (!v_prefix) {
        while (i + 1 < out.size() && is_alnum(out[i + 1])) ++i;  // skip the rest of this word
        continue;
      }
    }
    std::size_t j = i;
    while (j < out.size() && is_digit(out[j])) ++j;
    if (j + 1 >= out.size() || out[j] != '.' || !is_digit(out[j + 1])) {
      i = j;
      continue;
    }
    while (j < out.size() && (is_alnum(out[j]) || out[j] == '.' || out[j] == '-' || out[j] == '+' ||
                              out[j] == '~'))
      ++j;
    std::string_view token = out.substr(i, j - i);
    while (!token.empty() && (token.back() == '.' || token.back() == '-' || token.back() == '+'))
      token.remove_suffix(1);
    return std::string(token);
  }
  return std::nullopt;
}

std::chrono::milliseconds parse_duration(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return input_error("invalid duration '" + std::string(text) + "': " + why, {}, 0,
                       "use e.g. 500ms, 5s, 1m30s");
  };
  std::string why;
  const auto d = duration::parse(text, &why);
  if (!d) throw bad(why);
  if (d->count() <= 0) throw bad("must be positive");
  if (*d > std::chrono::hours(24)) throw bad("longer than a day");
  return *d;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())) != 0) item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back())) != 0) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string render_json(const Report& report) {
  nlohmann::ordered_json checks = nlohmann::ordered_json::array();
  auto opt = [](const std::optional<std::string>& v) -> nlohmann::ordered_json {
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
  };
  for (const auto& c : report.checks) {
    nlohmann::ordered_json j;
    j["name"] = c.name;
    j["kind"] = c.kind;
    j["ok"] = c.ok;
    j["required"] = c.required;
    j["path"] = opt(c.path);
    j["version"] = opt(c.version);
    j["ms"] = c.ms.count();
    j["error"] = opt(c.error);
    j["cached"] = c.cached;
    checks.push_back(std::move(j));
  }
  nlohmann::ordered_json root;
  root["healthy"] = report.healthy;
  root["checks"] = std::move(checks);
  root["ms"] = report.elapsed.count();
  return root.dump() + "\n";
}

std::string render_text(const Report& report) {
  std::size_t required = 0, required_ok = 0, optional_missing = 0;
  std::vector<std::string> failed;
  for (const auto& c : report.checks) {
    if (c.required) {
      ++required;
      if (c.ok) ++required_ok;
      else failed.push_back(c.name);
    } else if (!c.ok) {
      ++optional_missing;
    }
  }
  std::string out = report.healthy ? "healthy" : "UNHEALTHY";
  out += ": " + std::to_string(required_ok) + "/" + std::to_string(required) + " required checks ok";
  if (optional_missing > 0) out += ", " + std::to_string(optional_missing) + " optional missing";
  out += " (" + format_ms(report.elapsed) + ")";
  if (!failed.empty()) {
    out += "; failed:";
    for (const auto& f : failed) out += " " + f;
  }
  out += "\n";

  std::size_t name_w = 4, version_w = 7;
  for (const auto& c : report.checks) {
    name_w = std::max(name_w, c.name.size());
    version_w = std::max(version_w, c.version ? c.version->size() : 1);
  }
  auto pad = [](std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
  };
  for (const auto& c : report.checks) {
    std::string status = c.ok ? "ok" : (c.required ? "FAIL" : "warn");
    std::string line = "  " + pad(status, 5) + pad(c.name, name_w + 2) + pad(c.version.value_or("-"), version_w + 2);
    if (c.path) line += *c.path;
    if (c.error) line += (c.path ? "  " : "") + *c.error;
    else if (c.kind == "storage") line += "  writable";
    if (!c.required) line += " (optional)";
    if (c.cached) line += "  (cached)";
    else if (c.kind == "tool" && c.ok) line += "  " + format_ms(c.ms);
    out += line + "\n";
  }
  return out;
}

// --- version cache ---------------------------------------------------------------------------

std::optional<FileStamp> stamp_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  FileStamp s;
  s.size = static_cast<std::uintmax_t>(st.st_size);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  s.inode = static_cast<std::uint64_t>(st.st_ino);
  return s;
}

VersionCache::VersionCache(std::filesystem::path file) : file_(std::move(file)) {
  if (file_.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(file_, ec)) return;
  try {
    auto j = nlohmann::json::parse(fsutil::read_file(file_));
    if (!j.is_object() || j.value("version", 0) != 1 || !j.contains("tools") || !j["tools"].is_object()) {
      spdlog::debug("health cache {}: unknown format, ignored", file_.string());
      return;
    }
    for (const auto& [path, e] : j["tools"].items()) {
      Entry entry;
      entry.stamp.size = e.at("size").get<std::uintmax_t>();
      entry.stamp.mtime_ns = e.at("mtimeNs").get<std::int64_t>();
      entry.stamp.ctime_ns = e.at("ctimeNs").get<std::int64_t>();
      entry.stamp.inode = e.at("inode").get<std::uint64_t>();
      entry.version = e.at("version").get<std::string>();
      entries_[path] = std::move(entry);
    }
  } catch (const std::exception& e) {
    spdlog::debug("health cache {}: unreadable ({}), ignored", file_.string(), e.what());
    entries_.clear();
  }
}

std::optional<std::string> VersionCache::lookup(const std::string& path, const FileStamp& stamp) const {
  auto it = entries_.find(path);
  if (it == entries_.end() || !(it->second.stamp == stamp)) return std::nullopt;
  return it->second.version;
}

void VersionCache::store(const std::string& path, const FileStamp& stamp, const std::string& version) {
  auto it = entries_.find(path);
  if (it != entries_.end() && it->second.stamp == stamp && it->second.version == version) return;
  entries_[path] = Entry{stamp, version};
  dirty_ = true;
}

std::string VersionCache::serialize() const {
  nlohmann::ordered_json tools = nlohmann::ordered_json::object();
  for (const auto& [path, e] : entries_) {  // std::map: sorted, so the file is deterministic
    nlohmann::ordered_json j;
    j["size"] = e.stamp.size;
    j["mtimeNs"] = e.stamp.mtime_ns;
    j["ctimeNs"] = e.stamp.ctime_ns;
    j["inode"] = e.stamp.inode;
    j["version"] = e.version;
    tools[path] = std::move(j);
  }
  nlohmann::ordered_json root;
  root["version"] = 1;
  root["tools"] = std::move(tools);
  return root.dump(2) + "\n";
}

void VersionCache::save() const {
  if (file_.empty() || !dirty_) return;
  try {
    fsutil::write_if_changed(file_, serialize());
  } catch (const std::exception& e) {
    spdlog::debug("health cache {} not written: {}", file_.string(), e.what());
  }
}

}  // namespace imgf::health
