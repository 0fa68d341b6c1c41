#pragma once
// The sources of enrolled images: git repositories fetched with libgit2 into a cache, and
// local directories inside the state repository.
//
// Git: one working tree per repository and branch under the cache directory, cloned on first
// use and updated by fetch + forced checkout of the branch afterwards (never cloned again).
// The user's git configuration is honoured the way git does it: url.<base>.insteadOf (longest
// matching prefix wins) from the system, XDG and global files, GIT_CONFIG_GLOBAL,
// GIT_CONFIG_SYSTEM, GIT_CONFIG_NOSYSTEM and GIT_CONFIG_COUNT/KEY_n/VALUE_n; proxies and TLS
// settings as libgit2 reads them. GITHUB_TOKEN / GITLAB_TOKEN authenticate https fetches from
// the provider's host (never a mirror on another host) and are registered as log secrets.
// Connecting and every read and write on the connection are bounded in time (libgit2 1.5 has
// no such option: a timed socket stream is registered with libgit2), and SIGINT/SIGTERM abort
// a fetch.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "imgfactory/enrollment.hpp"

namespace imgf::source {

struct Options {
  std::filesystem::path state_dir = ".";  // local sources live inside it
  std::filesystem::path cache_dir;        // git cache; empty: <state_dir>/.image-factory-cache
  bool offline = false;                   // use the cache alone, never the network
  std::chrono::milliseconds connect_timeout{15000};
  std::chrono::milliseconds io_timeout{60000};  // a connection silent this long fails
};

struct Checkout {
  std::filesystem::path dir;         // root of the source: the git working tree, or local.dir
  std::filesystem::path dockerfile;  // absolute, inside the source root
  std::filesystem::path context;     // absolute, inside the source root
  std::string revision;              // the commit checked out; empty for local sources
  std::string origin;                // for messages: "<repo> (branch <b>)" or "local dir <d>"
};

// url.<base>.insteadOf = <instead_of>
struct Rewrite {
  std::string base;
  std::string instead_of;
};
// Rewrites `url` as git does: of the rules whose instead_of is a prefix of url, the longest
// wins (the first of equally long ones); no match leaves url as it is.
std::string apply_instead_of(std::string_view url, const std::vector<Rewrite>& rules);
// The url.<base>.insteadOf rules of the user's git configuration (see above).
std::vector<Rewrite> instead_of_rules();

// `relative` resolved inside `root`: an absolute path, a ".." component or a symlink that
// leads out of root is refused with imgf::Error (exit 2) naming `what`.
std::filesystem::path inside(const std::filesystem::path& root, std::string_view relative, std::string_view what);

// The cache directory of a repository and branch: <cache>/<host-path>@<branch>-<hash>.
std::string cache_key(std::string_view url, std::string_view branch);

class Cache {
 public:
  explicit Cache(Options options);
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // The image's source, checked out: a git source is fetched at most once per repository and
  // branch for the lifetime of this Cache (a failure is remembered as well). Throws
  // imgf::Error — exit 1 when the repository cannot be fetched, the branch does not exist or
  // the Dockerfile is missing (the message names repository, branch and path), exit 2 when a
  // path leaves its root — and with exit 130/143 when interrupted.
  Checkout checkout(const enrollment::Image& image);

  [[nodiscard]] const Options& options() const { return options_; }

 private:
  struct Fetched;
  const Fetched& fetch(const enrollment::Source& source);
  Options options_;
  std::filesystem::path state_root_;  // canonical state_dir, once known
  std::vector<Rewrite> rules_;
  std::map<std::string, std::unique_ptr<Fetched>> fetched_;
};

// Cache(options).checkout(image): what `imgfactory build` uses to get one image's source.
Checkout checkout(const enrollment::Image& image, const Options& options);

}  // namespace imgf::source
