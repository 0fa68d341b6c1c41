// The health check's probes: tools on PATH and their versions (cached by file stamp), the
// containers storage and configuration. Every probe runs on its own thread, bounded by the
// probe timeout.
#include "imgfactory/health.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"

namespace imgf::health {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

std::string home_dir() {
  if (auto h = env("HOME")) return *h;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return "/";
}

std::string first_line(std::string_view text) {
  while (!text.empty() && (text.front() == '\n' || text.front() == '\r' || text.front() == ' '))
    text.remove_prefix(1);
  std::string_view line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.size() > 120) line = line.substr(0, 120);
  return std::string(line);
}

// Starts `fn` on a detached thread. Used for the file-system probes, so that one stuck in a
// system call (a hung network file system) cannot hold the health check past its deadline.
std::future<Check> launch(std::function<Check()> fn) {
  auto task = std::make_shared<std::packaged_task<Check()>>(std::move(fn));
  std::future<Check> result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  return result;
}

// --- minimal TOML reading: `key = "value"` lines of one table ---------------------------------
std::optional<std::string> toml_string(const std::string& text, std::string_view table, std::string_view key) {
  std::string current;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    std::string_view line(text.data() + pos, (eol == std::string::npos ? text.size() : eol) - pos);
    pos = eol == std::string::npos ? text.size() : eol + 1;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[') {
      std::size_t close = line.find(']');
      current = std::string(line.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
      continue;
    }
    if (current != table) continue;
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = line.substr(0, eq);
    while (!k.empty() && (k.back() == ' ' || k.back() == '\t')) k.remove_suffix(1);
    if (k != key) continue;
    std::string_view v = line.substr(eq + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) {
      char q = v.front();
      std::size_t end = v.find(q, 1);
      if (end != std::string_view::npos) return std::string(v.substr(1, end - 1));
    }
    return std::nullopt;
  }
  return std::nullopt;
}

bool toml_has_table(const std::string& text, std::string_view table) {
  std::string header = "[" + std::string(table) + "]";
  std::size_t pos = 0;
  while ((pos = text.find(header, pos)) != std::string::npos) {
    std::size_t bol = text.rfind('\n', pos);
    std::string_view before(text.data() + (bol == std::string::npos ? 0 : bol + 1),
                            pos - (bol == std::string::npos ? 0 : bol + 1));
    if (before.find_first_not_of(" \t") == std::string_view::npos) return true;
    pos += header.size();
  }
  return false;
}

std::string expand_storage_vars(std::string path) {
  auto replace_all = [&](const std::string& var, const std::string& value) {
    for (std::size_t p; (p = path.find(var)) != std::string::npos;) path.replace(p, var.size(), value);
  };
  replace_all("$HOME", home_dir());
  replace_all("$UID", std::to_string(::getuid()));
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_name != nullptr)
    replace_all("$USER", pw->pw_name);
  return path;
}

// The storage.conf podman/buildah would read (containers-storage.conf(5)).
fs::path effective_storage_conf(const Options& o, bool rootless, bool& user_conf) {
  user_conf = false;
  if (o.storage_conf) {
    user_conf = true;
    return *o.storage_conf;
  }
  std::error_code ec;
  if (rootless) {
    fs::path config_home = env("XDG_CONFIG_HOME").value_or(home_dir() + "/.config");
    fs::path user = config_home / "containers" / "storage.conf";
    if (fs::exists(user, ec)) {
      user_conf = true;
      return user;
    }
  }
  fs::path system = o.containers_dir / "storage.conf";
  if (fs::exists(system, ec)) return system;
  return "/usr/share/containers/storage.conf";
}

Check probe_tool(const std::string& name, const fs::path& path, milliseconds timeout, proc::Runner& runner) {
  auto start = Clock::now();
  Check c;
  c.name = name;
  c.kind = "tool";
  c.path = path.string();
  proc::Spec spec;
  spec.argv = version_argv(path);
  spec.timeout = timeout;
  spec.kill_grace = milliseconds(200);
  spec.env_set = {{"LC_ALL", "C"}, {"NO_COLOR", "1"}};
  spec.capture_limit = 64 * 1024;
  proc::Result r = runner.run(spec);
  c.ms = since(start);
  if (!r.ok()) {
    std::string detail = first_line(r.err.empty() ? r.out : r.err);
    c.error = "`" + proc::format_argv(spec.argv) + "` " + r.describe() + (detail.empty() ? "" : ": " + detail);
    return c;
  }
  auto version = parse_version(r.out);
  if (!version) version = parse_version(r.err);
  if (!version) {
    std::string line = first_line(r.out.empty() ? r.err : r.out);
    if (!line.empty()) version = line;
  }
  c.version = version;
  c.ok = true;
  return c;
}

Check probe_storage(const Options& o) {
  auto start = Clock::now();
  Check c;
  c.name = "storage";
  c.kind = "storage";
  fs::path dir;
  if (o.storage_dir) {
    dir = *o.storage_dir;
  } else {
    bool rootless = ::geteuid() != 0;
    bool user_conf = false;
    fs::path conf = effective_storage_conf(o, rootless, user_conf);
    dir = storage_root(conf, rootless, user_conf);
  }
  c.path = dir.string();
  c.error = probe_writable(dir);
  c.ok = !c.error;
  c.ms = since(start);
  return c;
}

Check probe_config(const std::string& name, const fs::path& file) {
  auto start = Clock::now();
  Check c;
  c.name = name;
  c.kind = "config";
  c.path = file.string();
  c.error = check_config_file(file);
  c.ok = !c.error;
  c.ms = since(start);
  return c;
}

}  // namespace

Options options_from_environment() {
  Options o;
  if (auto v = env("IMGFACTORY_CONTAINERS_DIR")) o.containers_dir = fs::path(*v);
  if (auto v = env("CONTAINERS_STORAGE_CONF")) o.storage_conf = fs::path(*v);
  if (auto v = env("CONTAINERS_REGISTRIES_CONF")) o.registries_conf = fs::path(*v);
  o.cache_file = default_cache_file();
  return o;
}

bool detect_in_image(const fs::path& containers_dir) {
  // The builder image sets IMGFACTORY_IN_IMAGE=1; podman and buildah create /run/.containerenv.
  if (auto v = env("IMGFACTORY_IN_IMAGE")) return *v != "0" && *v != "false" && *v != "no";
  std::error_code ec;
  return fs::exists("/run/.containerenv", ec) && fs::is_directory(containers_dir, ec);
}

fs::path default_cache_file() {
  if (auto v = env("IMGFACTORY_HEALTH_CACHE")) return *v;
  if (auto v = env("XDG_CACHE_HOME")) return fs::path(*v) / "imgfactory" / "health.json";
  if (auto v = env("HOME"); v && *v != "/") return fs::path(*v) / ".cache" / "imgfactory" / "health.json";
  return fs::path("/tmp") / ("imgfactory-health-" + std::to_string(::getuid()) + ".json");
}

std::vector<std::string> version_argv(const fs::path& tool) {
  std::string base = tool.filename().string();
  if (base == "kubectl") return {tool.string(), "version", "--client"};
  return {tool.string(), "--version"};
}

fs::path storage_root(const fs::path& storage_conf, bool rootless, bool user_conf) {
  std::string text;
  std::error_code ec;
  if (fs::exists(storage_conf, ec)) {
    try {
      text = fsutil::read_file(storage_conf);
    } catch (const Error&) {
      text.clear();
    }
  }
  // A system storage.conf's graphroot is root's; a rootless user's own file may set one.
  if (!rootless || user_conf) {
    if (auto g = toml_string(text, "storage", "graphroot"); g && !g->empty()) return expand_storage_vars(*g);
    if (!rootless) return "/var/lib/containers/storage";
  }
  if (auto r = toml_string(text, "storage", "rootless_storage_path"); r && !r->empty())
    return expand_storage_vars(*r);
  if (auto d = env("XDG_DATA_HOME")) return fs::path(*d) / "containers" / "storage";
  return fs::path(home_dir()) / ".local" / "share" / "containers" / "storage";
}

std::optional<std::string> probe_writable(const fs::path& dir) {
  std::error_code ec;
  fs::path existing = dir;
  while (!existing.empty() && !fs::exists(existing, ec)) {
    if (existing == existing.parent_path()) break;
    existing = existing.parent_path();
  }
  if (existing.empty() || !fs::exists(existing, ec)) return "no existing directory on the path " + dir.string();
  if (!fs::is_directory(existing, ec)) return existing.string() + " is not a directory";
  if (existing != dir) {
    // The tools create the storage directory on first use: its parent must let them.
    if (::access(existing.c_str(), W_OK | X_OK) != 0)
      return "does not exist and " + existing.string() + " is not writable: " + std::strerror(errno);
    return std::nullopt;
  }
  std::string tmpl = (dir / ".imgfactory-health-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkstemp(buf.data());
  if (fd < 0) return std::string("not writable: ") + std::strerror(errno);
  ::close(fd);
  ::unlink(buf.data());
  return std::nullopt;
}

std::optional<std::string> check_config_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return "missing";
  if (!fs::is_regular_file(file, ec)) return "not a regular file";
  std::string text;
  try {
    text = fsutil::read_file(file);
  } catch (const Error& e) {
    return e.message();
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return "empty";
  std::string name = file.filename().string();
  if (name.ends_with(".json")) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return "not valid JSON";
    if (!j.is_object() || !j.contains("default") || !j["default"].is_array() || j["default"].empty())
      return "no \"default\" requirement array (containers-policy.json(5))";
    return std::nullopt;
  }
  if (name.find("storage") != std::string::npos) {
    if (!toml_has_table(text, "storage")) return "no [storage] table (containers-storage.conf(5))";
    if (!toml_string(text, "storage", "driver")) return "[storage] has no driver";
    return std::nullopt;
  }
  return std::nullopt;
}

Report run(const Options& o, proc::Runner& runner) {
  auto start = Clock::now();
  VersionCache cache(o.cache_file);
  const std::string path_env = o.path_env ? *o.path_env : env("PATH").value_or("/usr/local/bin:/usr/bin:/bin");

  // The tool list: required first, then optional ones not also required; no duplicates.
  std::vector<std::pair<std::string, bool>> tools;
  std::set<std::string> seen;
  for (const auto& t : o.required)
    if (seen.insert(t).second) tools.emplace_back(t, true);
  for (const auto& t : o.optional)
    if (seen.insert(t).second) tools.emplace_back(t, false);

  struct Slot {
    Check check;                      // final, or the template a timed-out probe reports
    std::optional<FileStamp> stamp;   // of the executable, for the cache
    std::future<Check> probe;         // valid while the probe runs
    bool bounded_by_deadline = false;  // file-system probes; tool probes are bounded by the runner
  };
  std::vector<Slot> slots;
  slots.reserve(tools.size() + 4);

  for (const auto& [name, required] : tools) {
    auto t0 = Clock::now();
    Slot& s = slots.emplace_back();
    s.check.name = name;
    s.check.kind = "tool";
    s.check.required = required;
    auto found = proc::find_executable(name, path_env.c_str());
    if (!found) {
      s.check.error = name.find('/') == std::string::npos ? "not found on PATH" : "not an executable file";
      s.check.ms = since(t0);
      continue;
    }
    s.check.path = found->string();
    s.stamp = stamp_of(*found);
    if (s.stamp) {
      if (auto v = cache.lookup(*s.check.path, *s.stamp)) {
        s.check.ok = true;
        s.check.version = *v;
        s.check.cached = true;
        s.check.ms = since(t0);
        continue;
      }
    }
    // The runner enforces the timeout (SIGTERM, then SIGKILL after a short grace).
    s.probe = std::async(std::launch::async, [name = name, exe = *found, timeout = o.timeout, &runner] {
      return probe_tool(name, exe, timeout, runner);
    });
  }

  // Storage and configuration, inside the image only.
  if (o.in_image.value_or(detect_in_image(o.containers_dir))) {
    Slot& st = slots.emplace_back();
    st.check.name = "storage";
    st.check.kind = "storage";
    st.bounded_by_deadline = true;
    st.probe = launch([o] { return probe_storage(o); });
    const std::vector<std::pair<std::string, fs::path>> configs = {
        {"storage.conf", o.storage_conf ? *o.storage_conf : o.containers_dir / "storage.conf"},
        {"registries.conf", o.registries_conf ? *o.registries_conf : o.containers_dir / "registries.conf"},
        {"policy.json", o.containers_dir / "policy.json"},
    };
    for (const auto& [name, file] : configs) {
      Slot& s = slots.emplace_back();
      s.check.name = name;
      s.check.kind = "config";
      s.check.path = file.string();
      s.bounded_by_deadline = true;
      s.probe = launch([name = name, file = file] { return probe_config(name, file); });
    }
  }

  // Every probe was started above and runs in parallel; collect them against one deadline.
  const auto deadline = start + o.timeout;
  for (auto& s : slots) {
    if (!s.probe.valid()) continue;
    if (s.bounded_by_deadline && s.probe.wait_until(deadline) != std::future_status::ready) {
      s.check.ok = false;
      s.check.ms = since(start);
      s.check.error = "timed out after " + std::to_string(o.timeout.count()) + " ms";
      continue;
    }
    bool required = s.check.required;
    s.check = s.probe.get();
    s.check.required = required;
    if (s.check.kind == "tool" && s.check.ok && s.check.version && s.check.path && s.stamp)
      cache.store(*s.check.path, *s.stamp, *s.check.version);
  }

  Report report;
  for (auto& s : slots) report.checks.push_back(std::move(s.check));
  report.healthy = std::all_of(report.checks.begin(), report.checks.end(),
                               [](const Check& c) { return c.ok || !c.required; });
  cache.save();
  report.elapsed = since(start);
  return report;
}

}  // namespace imgf::health
