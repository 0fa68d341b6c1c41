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
//
// A first fetch takes the tip alone: libgit2 1.5 has no shallow fetch, so once libgit2 has
// connected, listed the branches and authenticated, `git fetch --depth 1` (the git CLI, when on
// PATH) downloads the commit, and libgit2 checks it out. Later fetches into that shallow
// clone use git the same way; an unchanged branch is not fetched at all.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imgfactory/enrollment.hpp"
#include "imgfactory/process.hpp"

namespace imgf::source {

struct Options {
  std::filesystem::path state_dir = ".";  // local sources live inside it
  std::filesystem::path cache_dir;        // git cache; empty: <state_dir>/.image-factory-cache
  bool offline = false;                   // use the cache alone, never the network
  std::chrono::milliseconds connect_timeout{15000};
  std::chrono::milliseconds io_timeout{60000};  // a connection silent this long fails
  // A first fetch takes the tip alone through the git CLI (when `git` is on PATH). Off, or
  // IMGFACTORY_GIT_SHALLOW=0: libgit2 fetches the whole history.
  bool shallow = true;
  proc::Runner* runner = nullptr;  // for the git CLI; null: a SystemRunner
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

  // `build`: the files of `revision` (a full commit id; empty: the branch's tip) of a git
  // source written into `target` (created), the cache's own work tree left alone. A revision
  // the cache lacks (a shallow cache, an older commit) is fetched by id with the git CLI, else
  // the branch's whole history (unshallow). Returns the revision. Throws imgf::Error: exit 2
  // for a revision that is no full commit id, exit 1 when it cannot be fetched.
  std::string export_source(const enrollment::Source& source, const std::string& revision,
                            const std::filesystem::path& target);
  // The cache's repository of a git source (its commits: times, history).
  [[nodiscard]] std::filesystem::path repository_dir(const enrollment::Source& source) const;

  [[nodiscard]] const Options& options() const { return options_; }

 private:
  struct Fetched;
  const Fetched& fetch(const enrollment::Source& source);
  Options options_;
  std::filesystem::path state_root_;  // canonical state_dir, once known
  std::vector<Rewrite> rules_;
  std::map<std::string, std::unique_ptr<Fetched>> fetched_;
};

// --- the shallow fetch through the git CLI ---------------------------------------------------
struct ShallowFetch {
  std::filesystem::path repo;  // an initialised repository
  std::string url;             // the effective URL (url.insteadOf already applied)
  std::string branch;
  std::string auth_header;     // "Authorization: ..." for url, or empty
  std::chrono::milliseconds idle_timeout{60000};  // stopped when git writes nothing this long
  std::string revision{};  // set: fetch this commit by id (depth 1) instead of the branch
  bool unshallow = false; // fetch the branch's whole history into a shallow repository
};
// "Authorization: Basic base64(user:token)"
std::string basic_auth_header(std::string_view user, std::string_view token);
// `git fetch --depth=1 ... -- <url> +refs/heads/<b>:refs/remotes/origin/<b>` in `repo` (with
// `revision`: `... --depth=1 -- <url> <revision>`; with `unshallow`: `--unshallow` instead of
// --depth=1); the
// header travels in GIT_CONFIG_KEY_n/VALUE_n (after the caller's own GIT_CONFIG_COUNT ones).
proc::Spec shallow_fetch_spec(const ShallowFetch& f);
struct ShallowOutcome {
  bool ok = false;
  bool stalled = false;  // stopped after idle_timeout without output: the connection, not git
  std::string error;     // git's own error lines, or why it was stopped
};
ShallowOutcome shallow_fetch(const ShallowFetch& f, proc::Runner& runner);

// Cache(options).checkout(image): what `imgfactory build` uses to get one image's source.
Checkout checkout(const enrollment::Image& image, const Options& options);

}  // namespace imgf::source
