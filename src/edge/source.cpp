#include "imgfactory/source.hpp"

#include <git2.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>

#include "git_support.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/log.hpp"
#include "imgfactory/process.hpp"

namespace imgf::source {
namespace fs = std::filesystem;
using namespace gitsupport;  // libgit2 set-up, handles and credentials shared with gitstate

namespace {

bool env_true(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return false;
  std::string s(v);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s == "1" || s == "true" || s == "yes" || s == "on";
}

// "url.<base>.insteadof" (any case of section and variable) -> base
std::optional<std::string> instead_of_base(std::string_view key) {
  if (key.size() < 4 + 11) return std::nullopt;
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.rfind("url.", 0) != 0 || !lower.ends_with(".insteadof")) return std::nullopt;
  return std::string(key.substr(4, key.size() - 4 - 10));
}

// host/path of a repository URL, for the cache directory name.
std::string url_path(std::string_view url) {
  std::string s(url);
  if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
  if (auto at = s.find('@'); at != std::string::npos && at < s.find('/')) s = s.substr(at + 1);
  if (s.ends_with(".git")) s.resize(s.size() - 4);
  return s;
}

std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    out += ok ? c : '-';
  }
  while (!out.empty() && (out.front() == '.' || out.front() == '-')) out.erase(out.begin());
  if (out.size() > 100) out.resize(100);
  return out;
}

using FetchPayload = Credentials;

// Whether the tracking ref already points at `tip`.
bool tracking_is(git_repository* repo, const std::string& tracking, const git_oid& tip) {
  git_oid local{};
  return git_reference_name_to_id(&local, repo, tracking.c_str()) == 0 && git_oid_equal(&local, &tip) != 0;
}

// GITHUB_TOKEN / GITLAB_TOKEN for an https fetch of `url` from `effective` (after insteadOf):
// only to the provider's own host, never to a mirror elsewhere.
FetchPayload payload_for(const enrollment::Source& src, const std::string& url, const std::string& effective) {
  FetchPayload payload;
  if (effective.rfind("https://", 0) == 0 || effective.rfind("http://", 0) == 0) {
    const bool same_host = host_of(effective) == host_of(url);
    const char* env = src.provider == "gitlab" ? "GITLAB_TOKEN" : "GITHUB_TOKEN";
    payload.token_env = env;
    if (const char* t = std::getenv(env); t && *t) {
      if (same_host) {
        payload.token = t;
        payload.token_user = src.provider == "gitlab" ? "oauth2" : "x-access-token";
      } else {
        payload.withheld = true;
      }
    }
  }
  return payload;
}

bool is_hex_id(std::string_view s) {
  return s.size() == GIT_OID_HEXSZ &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

[[noreturn]] void throw_interrupted_or(Error e) {
  proc::throw_if_interrupted();
  throw e;
}

}  // namespace

// --- pure helpers ------------------------------------------------------------------------------

std::string apply_instead_of(std::string_view url, const std::vector<Rewrite>& rules) {
  const Rewrite* best = nullptr;
  for (const auto& r : rules)
    if (!r.instead_of.empty() && url.starts_with(r.instead_of) &&
        (best == nullptr || r.instead_of.size() > best->instead_of.size()))
      best = &r;
  if (best == nullptr) return std::string(url);
  return best->base + std::string(url.substr(best->instead_of.size()));
}

std::vector<Rewrite> instead_of_rules() {
  ensure_libgit2();
  Config cfg;
  if (git_config_new(cfg.out()) != 0) throw failure("cannot read the git configuration: " + git_error_text());
  auto add = [&](const std::string& path, git_config_level_t level) {
    std::error_code ec;
    if (path.empty() || !fs::is_regular_file(path, ec)) return;
    if (git_config_add_file_ondisk(cfg.p, path.c_str(), level, nullptr, 0) != 0)
      throw input_error("cannot read git configuration: " + git_error_text(), path);
  };
  auto found = [](int (*finder)(git_buf*)) {
    git_buf buf{};
    std::string out;
    if (finder(&buf) == 0 && buf.ptr) out = buf.ptr;
    git_buf_dispose(&buf);
    return out;
  };
  if (!env_true("GIT_CONFIG_NOSYSTEM")) {
    const char* sys = std::getenv("GIT_CONFIG_SYSTEM");
    add(sys ? std::string(sys) : found(git_config_find_system), GIT_CONFIG_LEVEL_SYSTEM);
  }
  if (const char* global = std::getenv("GIT_CONFIG_GLOBAL")) {
    add(global, GIT_CONFIG_LEVEL_GLOBAL);
  } else {
    add(found(git_config_find_xdg), GIT_CONFIG_LEVEL_XDG);
    add(found(git_config_find_global), GIT_CONFIG_LEVEL_GLOBAL);
  }
  std::vector<Rewrite> rules;
  // Every entry, filtered here: libgit2 1.5's git_config_foreach_match leaks the PCRE match
  // data of each entry that does not match.
  git_config_foreach(
      cfg.p,
      [](const git_config_entry* e, void* payload) -> int {
        auto* out = static_cast<std::vector<Rewrite>*>(payload);
        if (auto base = instead_of_base(e->name); base && e->value) out->push_back({*base, e->value});
        return 0;
      },
      &rules);
  // GIT_CONFIG_COUNT / GIT_CONFIG_KEY_<n> / GIT_CONFIG_VALUE_<n> (git 2.31): highest precedence.
  if (const char* count = std::getenv("GIT_CONFIG_COUNT"); count && *count) {
    int n = std::atoi(count);
    for (int i = 0; i < n && i < 10000; ++i) {
      const char* k = std::getenv(("GIT_CONFIG_KEY_" + std::to_string(i)).c_str());
      const char* v = std::getenv(("GIT_CONFIG_VALUE_" + std::to_string(i)).c_str());
      if (k && v)
        if (auto base = instead_of_base(k)) rules.push_back({*base, v});
    }
  }
  return rules;
}

namespace {

// inside() for a root that is already canonical.
fs::path inside_canonical(const fs::path& root_c, std::string_view relative, std::string_view what) {
  fs::path rel{std::string(relative)};
  auto refuse = [&](const std::string& why) -> Error {
    return input_error(std::string(what) + " '" + std::string(relative) + "' " + why, root_c.string(), 0,
                       "give a relative path inside " + root_c.string());
  };
  if (relative.empty()) throw refuse("is empty");
  if (rel.is_absolute()) throw refuse("is an absolute path");
  for (const auto& part : rel)
    if (part == "..") throw refuse("leaves its root ('..')");
  std::error_code ec;
  fs::path p = fs::weakly_canonical(root_c / rel, ec);
  if (ec) throw failure("cannot resolve " + (root_c / rel).string() + ": " + ec.message(), root_c.string());
  auto r = p.lexically_relative(root_c);
  if (r.empty() || *r.begin() == "..")
    throw refuse("leads out of " + root_c.string() + " (through a symlink to " + p.string() + ")");
  return p;
}

}  // namespace

fs::path inside(const fs::path& root, std::string_view relative, std::string_view what) {
  std::error_code ec;
  fs::path root_c = fs::weakly_canonical(root, ec);
  if (ec) throw failure("cannot resolve " + root.string() + ": " + ec.message(), root.string());
  return inside_canonical(root_c, relative, what);
}

std::string cache_key(std::string_view url, std::string_view branch) {
  std::string hash = fsutil::sha256_hex(std::string(url) + "\n" + std::string(branch)).substr(0, 10);
  return sanitize(url_path(url)) + "@" + sanitize(branch) + "-" + hash;
}

// --- the cache -----------------------------------------------------------------------------------

struct Cache::Fetched {
  fs::path dir;
  std::string revision;
  std::string error;     // set when fetching or checking out failed
  Exit code = Exit::ok;  // of the error
};

Cache::Cache(Options options) : options_(std::move(options)) {
  ensure_libgit2();
  if (options_.cache_dir.empty()) options_.cache_dir = options_.state_dir / ".image-factory-cache";
  set_timeouts(options_.connect_timeout, options_.io_timeout);
  rules_ = instead_of_rules();
  if (const char* v = std::getenv("IMGFACTORY_GIT_SHALLOW"); v && std::string_view(v) == "0") options_.shallow = false;
  for (const char* name : {"GITHUB_TOKEN", "GITLAB_TOKEN"})
    if (const char* v = std::getenv(name); v && *v) log::add_secret(v);
}

Cache::~Cache() = default;

const Cache::Fetched& Cache::fetch(const enrollment::Source& src) {
  const std::string url = src.url();
  const std::string key = cache_key(url, src.branch);
  if (auto it = fetched_.find(key); it != fetched_.end()) return *it->second;
  auto result = std::make_unique<Fetched>();
  Fetched& f = *result;
  fetched_.emplace(key, std::move(result));
  const std::string label = src.repo + " (branch " + src.branch + ")";
  const fs::path dir = options_.cache_dir / key;
  f.dir = dir;

  auto fail = [&](const std::string& msg, Exit code = Exit::failure) -> const Fetched& {
    f.error = msg;
    f.code = code;
    return f;
  };

  std::error_code ec;
  fs::create_directories(options_.cache_dir, ec);
  if (ec) return fail("cannot create the cache directory " + options_.cache_dir.string() + ": " + ec.message());
  fsutil::FileLock lock(options_.cache_dir / (key + ".lock"), 600000);

  const bool cached = fs::is_directory(dir / ".git", ec);
  if (options_.offline && !cached)
    return fail(label + " is not in the cache " + options_.cache_dir.string() + " and --offline was given");

  fs::path work = dir;
  if (!cached) {
    // A first clone goes to a temporary directory and is renamed into place when complete.
    std::random_device rd;
    work = options_.cache_dir / (".tmp-" + key + "-" + std::to_string(rd()));
  }
  auto cleanup = [&] {
    if (work != dir) fs::remove_all(work, ec);
  };

  Repo repo;
  if (cached) {
    if (git_repository_open(repo.out(), dir.c_str()) != 0)
      return fail("cannot open the cached repository " + dir.string() + ": " + git_error_text() +
                  " (remove it to clone again)");
  } else if (git_repository_init(repo.out(), work.c_str(), 0) != 0) {
    std::string why = git_error_text();
    cleanup();
    return fail("cannot create " + work.string() + ": " + why);
  }

  const std::string tracking = "refs/remotes/origin/" + src.branch;
  if (!options_.offline) {
    const std::string effective = apply_instead_of(url, rules_);
    if (effective != url) spdlog::debug("{}: fetching from {} (url.insteadOf)", url, effective);
    spdlog::info("fetching {} branch {}", effective, src.branch);
    FetchPayload payload = payload_for(src, url, effective);
    git_remote_create_options ropts = GIT_REMOTE_CREATE_OPTIONS_INIT;
    ropts.repository = repo.p;
    ropts.name = nullptr;
    ropts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    Remote remote;
    if (git_remote_create_with_opts(remote.out(), effective.c_str(), &ropts) != 0) {
      std::string why = git_error_text();
      cleanup();
      return fail("cannot fetch " + label + " from " + effective + ": " + why);
    }
    git_remote_callbacks cbs = GIT_REMOTE_CALLBACKS_INIT;
    cbs.credentials = credentials_cb;
    cbs.transfer_progress = transfer_cb;
    cbs.payload = &payload;
    git_proxy_options proxy = GIT_PROXY_OPTIONS_INIT;
    proxy.type = GIT_PROXY_AUTO;
    if (git_remote_connect(remote.p, GIT_DIRECTION_FETCH, &cbs, &proxy, nullptr) != 0) {
      std::string why = git_error_text();
      cleanup();
      if (proc::pending_signal() != 0) proc::throw_if_interrupted();
      return fail("cannot fetch " + label + " from " + effective + ": " + why);
    }
    const git_remote_head** heads = nullptr;
    size_t nheads = 0;
    bool has_branch = false;
    git_oid remote_tip{};
    std::string branches;
    if (git_remote_ls(&heads, &nheads, remote.p) == 0) {
      for (size_t i = 0; i < nheads; ++i) {
        std::string_view n = heads[i]->name;
        if (n == "refs/heads/" + src.branch) {
          has_branch = true;
          git_oid_cpy(&remote_tip, &heads[i]->oid);
        }
        if (n.starts_with("refs/heads/") && branches.size() < 300)
          branches += (branches.empty() ? "" : ", ") + std::string(n.substr(11));
      }
    }
    if (!has_branch) {
      git_remote_disconnect(remote.p);
      cleanup();
      return fail("branch '" + src.branch + "' does not exist in " + src.repo + " (" + effective + ")" +
                  (branches.empty() ? std::string(": the repository has no branches")
                                    : "; its branches: " + branches));
    }
    // The branch where the cache has it already: nothing to fetch.
    bool fetched = cached && tracking_is(repo.p, tracking, remote_tip);
    if (fetched) spdlog::debug("{}: up to date", label);
    // A first fetch, or one into a shallow clone: the tip alone, with the git CLI.
    auto git_cli_usable = [&] {
      if (!options_.shallow) return false;
      if (proc::find_executable("git")) return true;
      spdlog::info("{}: git is not on PATH: fetching the whole history with libgit2", label);
      return false;
    };
    const bool shallow_clone = cached && git_repository_is_shallow(repo.p) == 1;
    if (!fetched && (!cached || shallow_clone) && git_cli_usable()) {
      git_remote_disconnect(remote.p);
      ShallowFetch sf{work, effective, src.branch,
                      payload.token.empty() ? std::string() : basic_auth_header(payload.token_user, payload.token),
                      options_.io_timeout};
      proc::SystemRunner system_runner;
      const ShallowOutcome got = shallow_fetch(sf, options_.runner ? *options_.runner : system_runner);
      if (proc::pending_signal() != 0) {
        cleanup();
        proc::throw_if_interrupted();
      }
      if (got.ok) {
        fetched = true;
        remote.reset();
        repo.reset();  // git wrote refs and a pack: read them afresh
        if (git_repository_open(repo.out(), work.c_str()) != 0) {
          std::string why = git_error_text();
          cleanup();
          return fail("cannot open " + work.string() + " after git fetch: " + why);
        }
      } else if (got.stalled || shallow_clone) {
        // A stalled connection would stall libgit2 too; libgit2 1.5 cannot fetch into a shallow clone.
        cleanup();
        return fail("cannot fetch " + label + " from " + effective + ": " + got.error +
                    (shallow_clone && !got.stalled
                         ? " (the cache " + dir.string() + " is a shallow clone: remove it to fetch again)"
                         : std::string()));
      } else {
        spdlog::warn("{}: git fetch --depth 1 failed ({}); fetching the whole history with libgit2", label,
                     got.error);
      }
    }
    if (!fetched) {
      std::string spec = "+refs/heads/" + src.branch + ":" + tracking;
      char* specp = spec.data();
      git_strarray specs{&specp, 1};
      git_fetch_options fopts = GIT_FETCH_OPTIONS_INIT;
      fopts.callbacks = cbs;
      fopts.proxy_opts = proxy;
      fopts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
      fopts.update_fetchhead = 0;
      if (git_remote_fetch(remote.p, &specs, &fopts, "imgfactory: fetch") != 0) {
        std::string why = git_error_text();
        cleanup();
        if (proc::pending_signal() != 0) proc::throw_if_interrupted();
        return fail("cannot fetch " + label + " from " + effective + ": " + why);
      }
    }
  }

  Reference ref;
  if (git_reference_lookup(ref.out(), repo.p, tracking.c_str()) != 0) {
    cleanup();
    return fail("branch '" + src.branch + "' of " + src.repo + " is not in the cache " + dir.string() +
                (options_.offline ? " (--offline: run once without it)" : ""));
  }
  Object commit;
  if (git_reference_peel(commit.out(), ref.p, GIT_OBJECT_COMMIT) != 0) {
    std::string why = git_error_text();
    cleanup();
    return fail("cannot resolve " + label + ": " + why);
  }
  git_checkout_options copts = GIT_CHECKOUT_OPTIONS_INIT;
  copts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
  if (git_checkout_tree(repo.p, commit.p, &copts) != 0 ||
      git_repository_set_head_detached(repo.p, git_object_id(commit.p)) != 0) {
    std::string why = git_error_text();
    cleanup();
    return fail("cannot check out " + label + ": " + why);
  }
  char sha[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(sha, sizeof sha, git_object_id(commit.p));
  f.revision = sha;
  if (work != dir) {
    repo.reset();
    fs::remove_all(dir, ec);
    fs::rename(work, dir, ec);
    if (ec) {
      cleanup();
      return fail("cannot move the clone into " + dir.string() + ": " + ec.message());
    }
  }
  spdlog::debug("{} at {}", label, f.revision);
  return f;
}

Checkout Cache::checkout(const enrollment::Image& image) {
  proc::throw_if_interrupted();
  Checkout c;
  if (image.local && enrollment::build_mode(image) != enrollment::BuildMode::upstream) {
    const auto& l = *image.local;
    if (state_root_.empty()) state_root_ = fs::weakly_canonical(options_.state_dir);
    const fs::path& root = state_root_;
    c.dir = inside_canonical(root, l.dir, "local.dir");
    c.origin = "local dir " + l.dir;
    std::error_code ec;
    if (!fs::is_directory(c.dir, ec))
      throw failure("local.dir '" + l.dir + "' of image '" + image.name + "' is not a directory", c.dir.string());
    c.dockerfile = inside_canonical(root, l.dockerfile_path(), "local.dockerfile");
    if (!fs::is_regular_file(c.dockerfile, ec))
      throw failure("the Dockerfile '" + l.dockerfile + "' of image '" + image.name + "' does not exist in " + l.dir,
                    c.dockerfile.string());
    c.context = c.dir;
    return c;
  }
  if (!image.source) throw input_error("image '" + image.name + "' has no source (it is an external image)");
  const auto& src = *image.source;
  const Fetched& f = fetch(src);
  if (!f.error.empty()) throw_interrupted_or(Error(f.code, f.error));
  c.dir = fs::weakly_canonical(f.dir);
  c.revision = f.revision;
  c.origin = src.repo + " (branch " + src.branch + ")";
  c.dockerfile = inside_canonical(c.dir, src.dockerfile, "source.dockerfile");
  std::error_code ec;
  if (!fs::is_regular_file(c.dockerfile, ec))
    throw failure("the Dockerfile '" + src.dockerfile + "' does not exist in " + src.repo + " (branch " + src.branch +
                  ", commit " + f.revision.substr(0, 12) + ")");
  // The original built with the repository root as context; source.context narrows it.
  c.context = src.context.empty() || src.context == "." ? c.dir : inside_canonical(c.dir, src.context, "source.context");
  return c;
}

std::string Cache::export_source(const enrollment::Source& src, const std::string& revision, const fs::path& target) {
  proc::throw_if_interrupted();
  if (!revision.empty() && !is_hex_id(revision))
    throw input_error("--revision '" + revision + "' is not a full commit id (40 lowercase hex digits)", {}, 0,
                      "give the commit as git rev-parse prints it");
  const Fetched& f = fetch(src);
  if (!f.error.empty()) throw_interrupted_or(Error(f.code, f.error));
  const std::string label = src.repo + " (branch " + src.branch + ")";
  const std::string want = revision.empty() ? f.revision : revision;
  fsutil::FileLock lock(options_.cache_dir / (cache_key(src.url(), src.branch) + ".lock"), 600000);
  Repo repo;
  if (git_repository_open(repo.out(), f.dir.c_str()) != 0)
    throw failure("cannot open the cached repository " + f.dir.string() + ": " + git_error_text());
  git_oid oid{};
  git_oid_fromstr(&oid, want.c_str());
  auto present = [&] {
    git_commit* c = nullptr;
    if (git_commit_lookup(&c, repo.p, &oid) != 0) return false;
    git_commit_free(c);
    return true;
  };
  if (!present()) {
    // A revision the (shallow) cache does not hold: fetched by id, else the branch's whole history.
    if (options_.offline)
      throw failure("commit " + want + " of " + label + " is not in the cache " + f.dir.string() +
                    " and --offline was given");
    if (!proc::find_executable("git"))
      throw failure("commit " + want + " of " + label + " is not in the cache " + f.dir.string() +
                    ", and fetching one commit needs git on PATH");
    const std::string url = src.url();
    const std::string effective = apply_instead_of(url, rules_);
    const FetchPayload payload = payload_for(src, url, effective);
    ShallowFetch sf{f.dir, effective, src.branch,
                    payload.token.empty() ? std::string() : basic_auth_header(payload.token_user, payload.token),
                    options_.io_timeout};
    proc::SystemRunner system_runner;
    proc::Runner& runner = options_.runner ? *options_.runner : system_runner;
    repo.reset();
    sf.revision = want;
    spdlog::info("fetching commit {} of {}", want.substr(0, 12), label);
    ShallowOutcome got = shallow_fetch(sf, runner);
    proc::throw_if_interrupted();
    if (git_repository_open(repo.out(), f.dir.c_str()) != 0)
      throw failure("cannot open the cached repository " + f.dir.string() + ": " + git_error_text());
    if (!got.ok || !present()) {
      // A server that refuses unadvertised objects: the branch's whole history instead.
      spdlog::info("{}: fetching commit by id failed ({}); fetching the history of branch {}", label,
                   got.ok ? "not sent" : got.error, src.branch);
      if (git_repository_is_shallow(repo.p) != 1)  // the whole branch is here already
        throw failure("commit " + want + " is not in " + label, {}, 0,
                      "check --revision: it must be a commit of source.repo");
      repo.reset();
      sf.revision.clear();
      sf.unshallow = true;
      got = shallow_fetch(sf, runner);
      proc::throw_if_interrupted();
      if (git_repository_open(repo.out(), f.dir.c_str()) != 0)
        throw failure("cannot open the cached repository " + f.dir.string() + ": " + git_error_text());
      if (!got.ok) throw failure("cannot fetch the history of " + label + " from " + effective + ": " + got.error);
      if (!present())
        throw failure("commit " + want + " is not in " + label, {}, 0,
                      "check --revision: it must be a commit of source.repo");
    }
  }
  Object commit;
  if (git_object_lookup(commit.out(), repo.p, &oid, GIT_OBJECT_COMMIT) != 0)
    throw failure("cannot read commit " + want + " of " + label + ": " + git_error_text());
  std::error_code ec;
  fs::create_directories(target, ec);
  if (ec) throw failure("cannot create " + target.string() + ": " + ec.message());
  git_checkout_options copts = GIT_CHECKOUT_OPTIONS_INIT;
  // Into the build workspace, leaving the cache's own work tree and index alone.
  copts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
  const std::string target_s = target.string();
  copts.target_directory = target_s.c_str();
  if (git_checkout_tree(repo.p, commit.p, &copts) != 0)
    throw failure("cannot write commit " + want + " of " + label + " into " + target_s + ": " + git_error_text());
  spdlog::info("{} at {} checked out into the build workspace", label, want.substr(0, 12));
  return want;
}

fs::path Cache::repository_dir(const enrollment::Source& src) const {
  return options_.cache_dir / cache_key(src.url(), src.branch);
}

Checkout checkout(const enrollment::Image& image, const Options& options) {
  Cache cache(options);
  return cache.checkout(image);
}

}  // namespace imgf::source
