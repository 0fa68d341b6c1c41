#pragma once
// `imgfactory healthcheck`: the builder image's HEALTHCHECK. Probes run in parallel, each
// bounded by a timeout:
//   - tools: resolved on PATH, their version read from `<tool> --version` (through a
//     proc::Runner). A tool's version is remembered in a small cache file keyed by the
//     executable's path, size, mtime, ctime and inode, so a healthy container that runs the
//     check every 30 s spawns nothing until a tool is replaced.
//   - inside the builder image only: the containers storage is writable by the current user,
//     and the containers configuration files are in place and well-formed.
// The report is rendered as text or as the JSON object of CLI.md.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imgfactory/process.hpp"

namespace imgf::health {

// Default tool sets of CLI.md.
std::vector<std::string> default_required_tools();  // task, podman, buildah, skopeo, trivy, git
std::vector<std::string> default_optional_tools();  // kubectl, jq

struct Check {
  std::string name;
  std::string kind;  // "tool", "storage" or "config"
  bool ok = false;
  bool required = true;
  std::optional<std::string> path;
  std::optional<std::string> version;
  std::chrono::milliseconds ms{0};
  std::optional<std::string> error;
  bool cached = false;  // tool version answered from the cache, nothing was run
};

struct Report {
  bool healthy = false;  // every required check is ok
  std::vector<Check> checks;
  std::chrono::milliseconds elapsed{0};
};

struct Options {
  std::vector<std::string> required = default_required_tools();
  std::vector<std::string> optional = default_optional_tools();
  std::chrono::milliseconds timeout{5000};  // per probe
  // Inside the builder image: also check storage and configuration. nullopt: detect
  // (detect_in_image()).
  std::optional<bool> in_image;
  // Version cache file; empty: no cache.
  std::filesystem::path cache_file;
  // PATH to resolve tools on; nullopt: the process's $PATH.
  std::optional<std::string> path_env;
  // Where the containers configuration lives (containers-storage.conf(5) etc.).
  std::filesystem::path containers_dir = "/etc/containers";
  // Environment overrides of the configuration files, as podman/buildah honour them.
  std::optional<std::filesystem::path> storage_conf;     // CONTAINERS_STORAGE_CONF
  std::optional<std::filesystem::path> registries_conf;  // CONTAINERS_REGISTRIES_CONF
  // The storage directory to probe; nullopt: resolved by storage_root().
  std::optional<std::filesystem::path> storage_dir;
};

// Reads the environment into the Options fields that come from it: CONTAINERS_STORAGE_CONF,
// CONTAINERS_REGISTRIES_CONF, IMGFACTORY_CONTAINERS_DIR (default /etc/containers) and the cache
// file (default_cache_file()).
Options options_from_environment();

// IMGFACTORY_IN_IMAGE=1/0 decides; otherwise inside when /run/.containerenv exists (podman,
// buildah) and `containers_dir` exists.
bool detect_in_image(const std::filesystem::path& containers_dir = "/etc/containers");

// $IMGFACTORY_HEALTH_CACHE, else $XDG_CACHE_HOME/imgfactory/health.json, else
// $HOME/.cache/imgfactory/health.json, else /tmp/imgfactory-health-<uid>.json.
std::filesystem::path default_cache_file();

// Runs every probe in parallel and collects the report (checks in a stable order: required
// tools, optional tools, then storage and config).
Report run(const Options& options, proc::Runner& runner);

// The argv that asks `tool` (a resolved path) for its version.
std::vector<std::string> version_argv(const std::filesystem::path& tool);
// The first version-looking token of a tool's output ("podman version 4.3.1" -> "4.3.1",
// "Client Version: v1.30.2" -> "1.30.2", "jq-1.6" -> "1.6"); nullopt when there is none.
std::optional<std::string> parse_version(std::string_view output);

// "5s", "500ms", "1m30s", "2.5s", "1h", a bare number of seconds. Throws imgf::Error (exit 2).
std::chrono::milliseconds parse_duration(std::string_view text);

// Splits "a,b, c" into {"a","b","c"} (empty items dropped).
std::vector<std::string> split_list(std::string_view text);

std::string render_text(const Report& report);
std::string render_json(const Report& report);  // one line, with a trailing newline

// --- the version cache ----------------------------------------------------------------------
// What identifies one build of an executable: replacing or touching it changes one of these.
struct FileStamp {
  std::uintmax_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};
// stat(2) of the file (following symlinks); nullopt when it cannot be read.
std::optional<FileStamp> stamp_of(const std::filesystem::path& path);

class VersionCache {
 public:
  // Loads `file`; a missing, unreadable or corrupt file is an empty cache.
  explicit VersionCache(std::filesystem::path file);
  [[nodiscard]] std::optional<std::string> lookup(const std::string& path, const FileStamp& stamp) const;
  void store(const std::string& path, const FileStamp& stamp, const std::string& version);
  // Writes the file atomically when its content changed. Failure (read-only file system) is
  // logged at debug level and otherwise ignored: the cache is an optimisation.
  void save() const;
  [[nodiscard]] std::string serialize() const;

 private:
  struct Entry {
    FileStamp stamp;
    std::string version;
  };
  std::filesystem::path file_;
  std::map<std::string, Entry> entries_;
  bool dirty_ = false;
};

// --- storage and configuration probes (public for tests) -------------------------------------
// The graph root the current user's podman/buildah would use (containers-storage.conf(5)): for
// root the `graphroot` of storage.conf (default /var/lib/containers/storage); rootless the
// `graphroot` of the user's own file (`user_conf`: ~/.config/containers/storage.conf or
// CONTAINERS_STORAGE_CONF), else `rootless_storage_path` ($HOME, $UID, $USER expanded), else
// $XDG_DATA_HOME/containers/storage, else ~/.local/share/containers/storage.
std::filesystem::path storage_root(const std::filesystem::path& storage_conf, bool rootless,
                                   bool user_conf = false);
// Creates and removes a file in `dir` (or, when it does not exist yet, checks that its nearest
// existing ancestor is writable, since the tools create it). nullopt when writable, else why.
std::optional<std::string> probe_writable(const std::filesystem::path& dir);
// Checks that a configuration file is in place and well-formed for its kind (storage.conf has
// a [storage] table with a driver, registries.conf is readable TOML-ish text, policy.json is a
// JSON object with a "default" array). nullopt when fine, else why.
std::optional<std::string> check_config_file(const std::filesystem::path& file);

}  // namespace imgf::health
