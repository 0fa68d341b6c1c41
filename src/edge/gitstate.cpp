#include "imgfactory/gitstate.hpp"

#include <git2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "git_support.hpp"
#include "imgfactory/duration.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/log.hpp"
#include "imgfactory/process.hpp"
#include "imgfactory/source.hpp"
#include "imgfactory/text.hpp"

namespace imgf::gitstate {
namespace fs = std::filesystem;
using namespace gitsupport;
using Clock = std::chrono::steady_clock;

namespace {

std::string env_or(const char* name, std::string fallback = {}) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string hex(const git_oid& id) {
  char buf[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(buf, sizeof buf, &id);
  return buf;
}
std::string short_hex(const git_oid& id) { return hex(id).substr(0, 12); }

std::string ms_text(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

std::string list_text(const std::vector<std::string>& items, std::size_t max = 10) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < max; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max) out += " and " + std::to_string(items.size() - max) + " more";
  return out;
}

// --- URLs and the credentials file ------------------------------------------------------------

struct Url {
  std::string scheme, user, password, host, port, path;
};

std::optional<Url> parse_url(std::string_view text) {
  auto p = text.find("://");
  if (p == std::string_view::npos) return std::nullopt;
  Url u;
  u.scheme = lower(std::string(text.substr(0, p)));
  std::string_view rest = text.substr(p + 3);
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    u.user = text::percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) u.password = text::percent_decode(userinfo.substr(colon + 1));
  }
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    u.host = std::string(authority.substr(0, close + 1));
    if (close != std::string_view::npos && close + 1 < authority.size() && authority[close + 1] == ':')
      u.port = std::string(authority.substr(close + 2));
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
  }
  u.host = lower(u.host);
  if (u.host.empty()) return std::nullopt;
  return u;
}

// --- the changes of this run ------------------------------------------------------------------

struct PushOutcome {
  enum class Kind { ok, race, network, fatal } kind = Kind::ok;
  std::string message;
};

struct PushPayload : Credentials {
  std::vector<std::string> rejected;  // "refname: status" reported by the server
};

int push_update_reference_cb(const char* refname, const char* status, void* data) {
  auto* p = static_cast<PushPayload*>(static_cast<Credentials*>(data));
  if (status != nullptr) p->rejected.push_back(std::string(refname) + ": " + status);
  return 0;
}

int push_transfer_cb(unsigned int /*current*/, unsigned int /*total*/, size_t /*bytes*/, void* /*payload*/) {
  return proc::pending_signal() != 0 ? -1 : 0;
}

// A server's refusal that means "someone updated the branch since you looked".
bool is_race_status(std::string_view status) {
  const std::string s = lower(std::string(status));
  for (const char* needle : {"non-fast-forward", "fetch first", "failed to lock", "cannot lock", "failed to update ref",
                             "stale info", "incorrect old value", "reference already exists"})
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

int checkout_notify_cb(git_checkout_notify_t /*why*/, const char* path, const git_diff_file* /*baseline*/,
                       const git_diff_file* /*target*/, const git_diff_file* /*workdir*/, void* payload) {
  static_cast<std::vector<std::string>*>(payload)->push_back(path);
  return 0;
}

}  // namespace

// --- pure helpers -------------------------------------------------------------------------------

std::optional<StoredCredential> find_stored_credential(std::string_view store_text, std::string_view url) {
  auto want = parse_url(url);
  if (!want) return std::nullopt;
  std::size_t start = 0;
  while (start <= store_text.size()) {
    std::size_t nl = store_text.find('\n', start);
    std::string_view line = store_text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? store_text.size() + 1 : nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    auto have = parse_url(line);
    if (!have || have->user.empty()) continue;
    if (have->scheme != want->scheme || have->host != want->host || have->port != want->port) continue;
    if (!want->user.empty() && want->user != have->user) continue;
    // As git's credential matching without credential.useHttpPath: the path is not compared.
    return StoredCredential{have->user, have->password};
  }
  return std::nullopt;
}

std::string commit_message(const std::vector<Change>& changes, const std::vector<std::string>& files,
                           const std::string& fallback_summary) {
  std::string subject;
  std::vector<std::string> body;
  for (const auto& c : changes) {
    if (c.summary.empty()) continue;
    if (subject.empty()) subject = c.summary;
    else body.push_back(c.summary);
  }
  if (subject.empty()) subject = fallback_summary;
  for (const auto& c : changes)
    for (const auto& d : c.details) body.push_back(d);
  std::string msg = subject + "\n";
  if (!body.empty() || !files.empty()) msg += "\n";
  for (const auto& line : body) msg += line + "\n";
  if (!files.empty()) {
    if (!body.empty()) msg += "\n";
    msg += files.size() == 1 ? "File:\n" : "Files:\n";
    const std::size_t shown = files.size() > 20 ? 20 : files.size();
    for (std::size_t i = 0; i < shown; ++i) msg += "  " + files[i] + "\n";
    if (files.size() > shown) msg += "  ... and " + std::to_string(files.size() - shown) + " more\n";
  }
  return msg;
}

Options options_from_env(std::filesystem::path state_dir, bool push) {
  Options o;
  o.state_dir = std::move(state_dir);
  o.push = push;
  if (std::string a = env_or("IMGFACTORY_GIT_PUSH_ATTEMPTS"); !a.empty()) {
    char* end = nullptr;
    long n = std::strtol(a.c_str(), &end, 10);
    if (end == nullptr || *end != '\0' || n < 1 || n > 1000)
      throw input_error("IMGFACTORY_GIT_PUSH_ATTEMPTS must be a number from 1 to 1000, not '" + a + "'");
    o.max_attempts = static_cast<int>(n);
  }
  if (std::string t = env_or("IMGFACTORY_GIT_PUSH_TIMEOUT"); !t.empty()) {
    std::string why;
    auto d = duration::parse(t, &why);
    if (!d || d->count() <= 0)
      throw input_error("IMGFACTORY_GIT_PUSH_TIMEOUT must be a duration such as 90s or 5m, not '" + t + "'" +
                        (why.empty() ? std::string() : " (" + why + ")"));
    o.max_time = *d;
  }
  return o;
}

// --- the session ----------------------------------------------------------------------------------

struct Session::Impl {
  Options o;
  Repo repo;
  fs::path workdir;          // canonical
  std::string branch_ref;    // refs/heads/<name>; empty when HEAD is detached
  std::string remote_name;   // with push
  std::string remote_branch; // the branch's name on the remote
  std::string tracking_ref;  // refs/remotes/<remote>/<remote_branch>
  git_oid start{};           // HEAD when the run began
  bool unborn = false;       // no commit yet
  std::set<std::string> dirty;          // files with uncommitted changes when the run began
  std::vector<std::string> dirty_dirs;  // untracked directories then ("dir/")
  std::vector<Change> changes;

  [[nodiscard]] std::string where() const { return remote_name + "/" + remote_branch; }
  [[nodiscard]] std::string branch_name() const {
    return branch_ref.starts_with("refs/heads/") ? branch_ref.substr(11) : branch_ref;
  }

  void open();
  void snapshot_dirty();
  [[nodiscard]] bool was_dirty(const std::string& rel) const;
  std::optional<std::string> relative(const fs::path& p) const;
  void tree_of(const git_oid* commit, Tree& out) const;
  std::vector<std::string> changed_files(const git_oid* base) const;
  std::optional<git_oid> commit_files(const git_oid* parent, const std::vector<std::string>& files);
  void advance(const git_oid* from, const git_oid& to, const std::vector<std::string>& files, const std::string& why);
  void signature(Signature& sig) const;
  Credentials credentials_for(const std::string& url) const;
  struct Urls {
    std::string fetch, push;
  };
  Urls remote_urls() const;
  void anonymous_remote(const std::string& url, Remote& out) const;
  PushOutcome push(const git_oid& head);
  git_oid fetch();
  std::optional<std::pair<git_oid, std::vector<std::string>>> rebase(const git_oid& tip, const git_oid& ours,
                                                                     const std::vector<std::string>& our_files);
  void merge_file(const std::string& rel, const git_oid* base, const git_oid& ours, const git_oid& tip);
};

void Session::Impl::open() {
  ensure_libgit2();
  set_timeouts(o.connect_timeout, o.io_timeout);
  std::error_code ec;
  const fs::path sd = fs::absolute(o.state_dir, ec);
  if (!fs::is_directory(sd, ec))
    throw input_error("--git-commit: the state directory does not exist", sd.string(), 0,
                      "give --state-dir the directory of a clone of the state repository");
  if (git_repository_open_ext(repo.out(), sd.c_str(), 0, nullptr) != 0)
    throw input_error("--git-commit: the state directory is not inside a git work tree", sd.string(), 0,
                      "clone the state repository and run there, or leave out --git-commit / --git-push");
  const char* wd = git_repository_workdir(repo.p);
  if (wd == nullptr)
    throw input_error("--git-commit: the state directory is in a bare repository (no work tree)", sd.string());
  workdir = fs::weakly_canonical(fs::path(wd), ec);
  if (workdir.filename().empty()) workdir = workdir.parent_path();

  Reference head;
  if (git_reference_lookup(head.out(), repo.p, "HEAD") != 0)
    throw failure("--git-commit: cannot read HEAD: " + git_error_text(), workdir.string());
  if (git_reference_type(head.p) == GIT_REFERENCE_SYMBOLIC) branch_ref = git_reference_symbolic_target(head.p);
  unborn = git_repository_head_unborn(repo.p) == 1;
  if (!unborn && git_reference_name_to_id(&start, repo.p, "HEAD") != 0)
    throw failure("--git-commit: cannot resolve HEAD: " + git_error_text(), workdir.string());
  if (!branch_ref.empty() && !branch_ref.starts_with("refs/heads/"))
    throw input_error("--git-commit: HEAD points at " + branch_ref + ", not at a branch", workdir.string());

  if (o.push) {
    if (git_repository_is_shallow(repo.p) == 1)
      throw input_error("--git-push: the state repository is a shallow clone; libgit2 1.5 cannot push from one "
                            "(its history ends in a commit whose parents are missing)",
                        workdir.string(), 0,
                        "clone it without --depth (git clone --single-branch --branch BRANCH URL), or "
                        "git fetch --unshallow");
    if (branch_ref.empty())
      throw input_error("--git-push: HEAD is detached; the state is pushed to the current branch", workdir.string(), 0,
                        "check out the state branch (git switch main)");
    git_buf buf{};
    if (git_branch_upstream_remote(&buf, repo.p, branch_ref.c_str()) == 0 && buf.ptr) remote_name = buf.ptr;
    git_buf_dispose(&buf);
    if (git_branch_upstream_merge(&buf, repo.p, branch_ref.c_str()) == 0 && buf.ptr) {
      std::string merge = buf.ptr;
      remote_branch = merge.starts_with("refs/heads/") ? merge.substr(11) : merge;
    }
    git_buf_dispose(&buf);
    git_error_clear();
    if (remote_name.empty() || remote_name == ".") remote_name = "origin";
    if (remote_branch.empty()) remote_branch = branch_name();
    remote_urls();  // the remote must exist
    tracking_ref = "refs/remotes/" + remote_name + "/" + remote_branch;
    git_oid tracking{};
    if (!unborn && git_reference_name_to_id(&tracking, repo.p, tracking_ref.c_str()) == 0 &&
        !git_oid_equal(&tracking, &start)) {
      size_t ahead = 0, behind = 0;
      if (git_graph_ahead_behind(&ahead, &behind, repo.p, &start, &tracking) == 0 && ahead > 0)
        throw input_error("--git-push: branch " + branch_name() + " has " + std::to_string(ahead) + " commit" +
                              (ahead == 1 ? "" : "s") + " that " + where() +
                              " does not have; imgfactory pushes only the commit of its own run",
                          workdir.string(), 0, "push or drop them first (git push / git reset), then run again");
    }
    git_error_clear();
  }
  snapshot_dirty();
  fsutil::journal::clear();
  spdlog::debug("--git-commit: work tree {}, branch {}{}", workdir.string(), branch_ref.empty() ? "(detached)" : branch_name(),
                o.push ? ", pushing to " + where() : "");
}

void Session::Impl::snapshot_dirty() {
  git_status_options so = GIT_STATUS_OPTIONS_INIT;
  so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  // Untracked directories are reported as "dir/", not walked: a source cache inside the state
  // directory holds whole repositories.
  so.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
  StatusList list;
  if (git_status_list_new(list.out(), repo.p, &so) != 0)
    throw failure("--git-commit: cannot read the status of the work tree: " + git_error_text(), workdir.string());
  const std::size_t n = git_status_list_entrycount(list.p);
  for (std::size_t i = 0; i < n; ++i) {
    const git_status_entry* e = git_status_byindex(list.p, i);
    const git_diff_delta* d = e->index_to_workdir ? e->index_to_workdir : e->head_to_index;
    if (d == nullptr) continue;
    std::string path = d->new_file.path ? d->new_file.path : d->old_file.path;
    if (path.ends_with("/")) dirty_dirs.push_back(path);
    else dirty.insert(path);
    if (e->head_to_index && e->head_to_index->old_file.path) dirty.insert(e->head_to_index->old_file.path);
  }
}

bool Session::Impl::was_dirty(const std::string& rel) const {
  if (dirty.contains(rel)) return true;
  return std::any_of(dirty_dirs.begin(), dirty_dirs.end(), [&](const std::string& d) { return rel.starts_with(d); });
}

std::optional<std::string> Session::Impl::relative(const fs::path& p) const {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  if (ec) return std::nullopt;
  fs::path r = c.lexically_relative(workdir);
  if (r.empty() || r == "." || *r.begin() == ".." || *r.begin() == ".git") return std::nullopt;
  return r.generic_string();
}

void Session::Impl::tree_of(const git_oid* commit, Tree& out) const {
  out.reset();
  if (commit == nullptr) return;
  Commit c;
  if (git_commit_lookup(c.out(), repo.p, commit) != 0 || git_commit_tree(out.out(), c.p) != 0)
    throw failure("--git-commit: cannot read commit " + short_hex(*commit) + ": " + git_error_text(), workdir.string());
}

std::vector<std::string> Session::Impl::changed_files(const git_oid* base) const {
  Tree tree;
  tree_of(base, tree);
  std::vector<std::string> out;
  for (const fs::path& p : fsutil::journal::paths()) {
    auto rel = relative(p);
    if (!rel) continue;
    TreeEntry entry;
    const bool tracked = tree.p && git_tree_entry_bypath(entry.out(), tree.p, rel->c_str()) == 0;
    git_error_clear();
    const fs::path abs = workdir / *rel;
    struct stat st {};
    if (::lstat(abs.c_str(), &st) != 0) {
      if (tracked) out.push_back(*rel);  // removed
      continue;
    }
    if (!S_ISREG(st.st_mode)) continue;
    if (!tracked) {
      int ignored = 0;
      if (git_ignore_path_is_ignored(&ignored, repo.p, rel->c_str()) == 0 && ignored) {
        spdlog::debug("--git-commit: {} is ignored by git; not committed", *rel);
        continue;
      }
      out.push_back(*rel);
      continue;
    }
    git_oid id{};
    if (git_repository_hashfile(&id, repo.p, abs.c_str(), GIT_OBJECT_BLOB, rel->c_str()) != 0)
      throw failure("--git-commit: cannot read " + *rel + ": " + git_error_text(), abs.string());
    const git_filemode_t mode = (st.st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
    if (!git_oid_equal(&id, git_tree_entry_id(entry.p)) || git_tree_entry_filemode(entry.p) != mode)
      out.push_back(*rel);
  }
  return out;
}

void Session::Impl::signature(Signature& sig) const {
  std::string name = o.author_name.empty() ? env_or("IMGFACTORY_GIT_AUTHOR_NAME") : o.author_name;
  std::string email = o.author_email.empty() ? env_or("IMGFACTORY_GIT_AUTHOR_EMAIL") : o.author_email;
  if (name.empty() || email.empty()) {
    Config cfg;
    if (git_repository_config_snapshot(cfg.out(), repo.p) == 0) {
      const char* v = nullptr;
      if (name.empty() && git_config_get_string(&v, cfg.p, "user.name") == 0 && v) name = v;
      if (email.empty() && git_config_get_string(&v, cfg.p, "user.email") == 0 && v) email = v;
    }
    git_error_clear();
  }
  if (name.empty()) name = "imgfactory";
  if (email.empty()) email = "imgfactory@localhost";
  if (git_signature_now(sig.out(), name.c_str(), email.c_str()) != 0)
    throw input_error("--git-commit: invalid author '" + name + " <" + email + ">': " + git_error_text(), {}, 0,
                      "set IMGFACTORY_GIT_AUTHOR_NAME and IMGFACTORY_GIT_AUTHOR_EMAIL");
}

std::optional<git_oid> Session::Impl::commit_files(const git_oid* parent, const std::vector<std::string>& files) {
  Index idx;
  if (git_index_new(idx.out()) != 0) throw failure("--git-commit: " + git_error_text());
  Tree parent_tree;
  tree_of(parent, parent_tree);
  if (parent_tree.p && git_index_read_tree(idx.p, parent_tree.p) != 0)
    throw failure("--git-commit: cannot read the tree of " + short_hex(*parent) + ": " + git_error_text());
  for (const auto& rel : files) {
    const fs::path abs = workdir / rel;
    struct stat st {};
    if (::lstat(abs.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      git_oid blob{};
      if (git_blob_create_from_workdir(&blob, repo.p, rel.c_str()) != 0)
        throw failure("--git-commit: cannot store " + rel + ": " + git_error_text(), abs.string());
      git_index_entry e{};
      e.mode = (st.st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
      e.id = blob;
      e.path = rel.c_str();
      if (git_index_add(idx.p, &e) != 0) throw failure("--git-commit: cannot stage " + rel + ": " + git_error_text());
    } else {
      git_index_remove(idx.p, rel.c_str(), 0);
      git_error_clear();
    }
  }
  git_oid tree_id{};
  if (git_index_write_tree_to(&tree_id, idx.p, repo.p) != 0)
    throw failure("--git-commit: cannot write the tree: " + git_error_text());
  if (parent_tree.p && git_oid_equal(&tree_id, git_tree_id(parent_tree.p))) return std::nullopt;
  Tree tree;
  if (git_tree_lookup(tree.out(), repo.p, &tree_id) != 0) throw failure("--git-commit: " + git_error_text());
  Signature sig;
  signature(sig);
  Commit parent_commit;
  if (parent && git_commit_lookup(parent_commit.out(), repo.p, parent) != 0)
    throw failure("--git-commit: " + git_error_text());
  const git_commit* parents[1] = {parent_commit.p};
  const std::string msg = commit_message(changes, files, "imgfactory: update state");
  git_oid id{};
  if (git_commit_create(&id, repo.p, nullptr, sig.p, sig.p, nullptr, msg.c_str(), tree.p, parent ? 1 : 0,
                        parent ? parents : nullptr) != 0)
    throw failure("--git-commit: cannot create the commit: " + git_error_text(), workdir.string());
  return id;
}

void Session::Impl::advance(const git_oid* from, const git_oid& to, const std::vector<std::string>& files,
                            const std::string& why) {
  Reference ref;
  int rc = 0;
  const std::string log_msg = "imgfactory: " + why;
  if (branch_ref.empty()) rc = git_repository_set_head_detached(repo.p, &to);
  else if (from == nullptr) rc = git_reference_create(ref.out(), repo.p, branch_ref.c_str(), &to, 0, log_msg.c_str());
  else rc = git_reference_create_matching(ref.out(), repo.p, branch_ref.c_str(), &to, 1, from, log_msg.c_str());
  if (rc != 0)
    throw failure("--git-commit: cannot move " + (branch_ref.empty() ? std::string("HEAD") : branch_name()) + " to " +
                      short_hex(to) + ": " + git_error_text(),
                  workdir.string(), 0, "another process changed the branch during this run; commit by hand");
  if (files.empty()) return;
  Index idx;
  if (git_repository_index(idx.out(), repo.p) != 0 || git_index_read(idx.p, 0) != 0)
    throw failure("--git-commit: cannot read the index: " + git_error_text(), workdir.string());
  for (const auto& rel : files) {
    std::error_code ec;
    if (fs::is_regular_file(workdir / rel, ec)) git_index_add_bypath(idx.p, rel.c_str());
    else git_index_remove_bypath(idx.p, rel.c_str());
  }
  if (git_index_write(idx.p) != 0)
    throw failure("--git-commit: cannot write the index: " + git_error_text(), workdir.string(), 0,
                  "is another git process running in this work tree?");
}

Credentials Session::Impl::credentials_for(const std::string& url) const {
  Credentials c;
  c.missing_hint =
      "set GITHUB_TOKEN (github.com or GH_HOST), GITLAB_TOKEN (gitlab.com or GITLAB_HOST), or "
      "IMGFACTORY_GIT_CREDENTIALS to a git-credentials file";
  auto u = parse_url(url);
  if (!u || (u->scheme != "https" && u->scheme != "http")) return c;
  fs::path file = o.credentials_file.empty() ? fs::path(env_or("IMGFACTORY_GIT_CREDENTIALS")) : o.credentials_file;
  if (!file.empty()) {
    std::error_code ec;
    if (fs::exists(file, ec)) {
      if (auto found = find_stored_credential(fsutil::read_file(file), url)) {
        log::add_secret(found->password);
        c.token = found->password;
        c.token_user = found->user;
        spdlog::debug("--git-push: credentials for {} from {}", u->host, file.string());
        return c;
      }
    } else {
      spdlog::warn("--git-push: the credentials file {} does not exist", file.string());
    }
  }
  auto host_is = [&](const char* fixed, const char* env) {
    return u->host == fixed || (!env_or(env).empty() && u->host == lower(env_or(env)));
  };
  if (host_is("github.com", "GH_HOST") && !env_or("GITHUB_TOKEN").empty()) {
    c.token = env_or("GITHUB_TOKEN");
    c.token_user = "x-access-token";
    c.token_env = "GITHUB_TOKEN";
  } else if (host_is("gitlab.com", "GITLAB_HOST") && !env_or("GITLAB_TOKEN").empty()) {
    c.token = env_or("GITLAB_TOKEN");
    c.token_user = "oauth2";
    c.token_env = "GITLAB_TOKEN";
  }
  if (!c.token.empty()) log::add_secret(c.token);
  return c;
}

// The remote's fetch and push URLs as git computes them: remote.<name>.url and .pushurl, with
// url.<base>.insteadOf (and, for a push without pushurl, url.<base>.pushInsteadOf) applied,
// the longest matching prefix winning. Read here rather than by git_remote_lookup, whose
// globbing over the configuration leaks PCRE match data in libgit2 1.5 (seen under ASan).
Session::Impl::Urls Session::Impl::remote_urls() const {
  Config cfg;
  if (git_repository_config_snapshot(cfg.out(), repo.p) != 0)
    throw failure("--git-push: cannot read the repository's configuration: " + git_error_text(), workdir.string());
  auto get = [&](const std::string& key) -> std::string {
    const char* v = nullptr;
    if (git_config_get_string(&v, cfg.p, key.c_str()) == 0 && v) return v;
    git_error_clear();
    return {};
  };
  const std::string url = get("remote." + remote_name + ".url");
  const std::string pushurl = get("remote." + remote_name + ".pushurl");
  if (url.empty() && pushurl.empty())
    throw input_error("--git-push: the state repository has no remote '" + remote_name + "'", workdir.string(), 0,
                      "add it (git remote add origin URL) or set the branch's upstream");
  struct Rules {
    std::vector<source::Rewrite> instead_of, push_instead_of;
  } rules;
  git_config_foreach(
      cfg.p,
      [](const git_config_entry* e, void* payload) -> int {
        auto* r = static_cast<Rules*>(payload);
        const std::string key = lower(e->name);
        if (!e->value || !key.starts_with("url.")) return 0;
        const std::string name = e->name;
        if (key.ends_with(".pushinsteadof"))
          r->push_instead_of.push_back({name.substr(4, name.size() - 4 - 14), e->value});
        else if (key.ends_with(".insteadof"))
          r->instead_of.push_back({name.substr(4, name.size() - 4 - 10), e->value});
        return 0;
      },
      &rules);
  Urls out;
  out.fetch = source::apply_instead_of(url.empty() ? pushurl : url, rules.instead_of);
  if (!pushurl.empty()) out.push = source::apply_instead_of(pushurl, rules.instead_of);
  else if (std::string p = source::apply_instead_of(url, rules.push_instead_of); p != url) out.push = p;
  else out.push = out.fetch;
  return out;
}

void Session::Impl::anonymous_remote(const std::string& url, Remote& out) const {
  git_remote_create_options ropts = GIT_REMOTE_CREATE_OPTIONS_INIT;
  ropts.repository = repo.p;
  ropts.name = nullptr;
  ropts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  if (git_remote_create_with_opts(out.out(), url.c_str(), &ropts) != 0)
    throw failure("--git-push: cannot use the remote " + url + ": " + git_error_text(), workdir.string());
}

PushOutcome Session::Impl::push(const git_oid& head) {
  set_timeouts(o.connect_timeout, o.io_timeout);  // a command may have set its own meanwhile
  const std::string url = remote_urls().push;
  Remote remote;
  anonymous_remote(url, remote);
  PushPayload payload;
  static_cast<Credentials&>(payload) = credentials_for(url);
  std::string spec = branch_ref + ":refs/heads/" + remote_branch;
  char* specp = spec.data();
  git_strarray specs{&specp, 1};
  git_push_options po = GIT_PUSH_OPTIONS_INIT;
  po.callbacks.credentials = credentials_cb;
  po.callbacks.push_update_reference = push_update_reference_cb;
  po.callbacks.push_transfer_progress = push_transfer_cb;
  po.callbacks.transfer_progress = transfer_cb;
  po.callbacks.payload = static_cast<Credentials*>(&payload);
  po.proxy_opts.type = GIT_PROXY_AUTO;
  spdlog::debug("--git-push: pushing {} to {} ({})", short_hex(head), where(), url);
  int rc = git_remote_push(remote.p, &specs, &po);
  if (rc != 0) {
    std::string why = git_error_text();
    proc::throw_if_interrupted();
    if (rc == GIT_ENONFASTFORWARD) return {PushOutcome::Kind::race, why};
    if (payload.refused || rc == GIT_EAUTH) return {PushOutcome::Kind::fatal, why};
    return {PushOutcome::Kind::network, why};
  }
  if (!payload.rejected.empty()) {
    std::string all = list_text(payload.rejected);
    for (const auto& r : payload.rejected)
      if (!is_race_status(r)) return {PushOutcome::Kind::fatal, "the server refused the update: " + all};
    return {PushOutcome::Kind::race, all};
  }
  // The remote-tracking branch follows, as git push does.
  Reference tracking;
  if (git_reference_create(tracking.out(), repo.p, tracking_ref.c_str(), &head, 1, "imgfactory: push") != 0)
    git_error_clear();
  return {};
}

git_oid Session::Impl::fetch() {
  set_timeouts(o.connect_timeout, o.io_timeout);
  const std::string url = remote_urls().fetch;
  Remote remote;
  anonymous_remote(url, remote);
  Credentials creds = credentials_for(url);
  std::string spec = "+refs/heads/" + remote_branch + ":" + tracking_ref;
  char* specp = spec.data();
  git_strarray specs{&specp, 1};
  git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
  fo.callbacks.credentials = credentials_cb;
  fo.callbacks.transfer_progress = transfer_cb;
  fo.callbacks.payload = &creds;
  fo.proxy_opts.type = GIT_PROXY_AUTO;
  fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  fo.update_fetchhead = 0;
  if (git_remote_fetch(remote.p, &specs, &fo, "imgfactory: fetch the state branch") != 0) {
    std::string why = git_error_text();
    proc::throw_if_interrupted();
    throw failure("--git-push: cannot fetch " + where() + ": " + why, workdir.string(), 0,
                  "this run's commit stays on the local branch; push it by hand");
  }
  git_oid tip{};
  if (git_reference_name_to_id(&tip, repo.p, tracking_ref.c_str()) != 0)
    throw failure("--git-push: " + where() + " does not exist after the fetch: " + git_error_text(), workdir.string());
  return tip;
}

void Session::Impl::merge_file(const std::string& rel, const git_oid* base_commit, const git_oid& ours_commit,
                               const git_oid& tip) {
  // Contents of rel in the parent of this run's commit, in this run's commit and in the new
  // tip (nullopt: absent).
  auto content = [&](const git_oid* commit) -> std::optional<std::pair<std::string, git_oid>> {
    Tree t;
    tree_of(commit, t);
    if (!t.p) return std::nullopt;
    TreeEntry e;
    if (git_tree_entry_bypath(e.out(), t.p, rel.c_str()) != 0) {
      git_error_clear();
      return std::nullopt;
    }
    Blob b;
    if (git_blob_lookup(b.out(), repo.p, git_tree_entry_id(e.p)) != 0) return std::nullopt;
    return std::make_pair(std::string(static_cast<const char*>(git_blob_rawcontent(b.p)),
                                      static_cast<std::size_t>(git_blob_rawsize(b.p))),
                          *git_tree_entry_id(e.p));
  };
  auto base = content(base_commit);
  auto ours = content(&ours_commit);
  auto theirs = content(&tip);
  auto same = [](const auto& a, const auto& b) {
    return (!a && !b) || (a && b && git_oid_equal(&a->second, &b->second));
  };
  const fs::path abs = workdir / rel;
  auto conflict = [&]() -> Error {
    return failure("--git-push: cannot re-apply this run's change of " + rel + " on " + where() + " (" +
                       short_hex(tip) + "): another writer changed the same lines",
                   abs.string(), 0, "nothing was pushed; run the command again on the new tip");
  };
  if (same(ours, theirs) || same(base, ours)) return;  // the tip already has it / we changed nothing
  if (same(base, theirs)) {
    if (ours) fsutil::atomic_write(abs, ours->first);
    else fsutil::remove_file(abs);
    return;
  }
  if (!ours || !theirs) throw conflict();
  git_merge_file_input in_base = GIT_MERGE_FILE_INPUT_INIT, in_ours = GIT_MERGE_FILE_INPUT_INIT,
                       in_theirs = GIT_MERGE_FILE_INPUT_INIT;
  const std::string empty;
  in_base.ptr = base ? base->first.data() : empty.data();
  in_base.size = base ? base->first.size() : 0;
  in_base.path = rel.c_str();
  in_ours.ptr = ours->first.data();
  in_ours.size = ours->first.size();
  in_ours.path = rel.c_str();
  in_theirs.ptr = theirs->first.data();
  in_theirs.size = theirs->first.size();
  in_theirs.path = rel.c_str();
  git_merge_file_options mo = GIT_MERGE_FILE_OPTIONS_INIT;
  git_merge_file_result res{};
  if (git_merge_file(&res, &in_base, &in_ours, &in_theirs, &mo) != 0)
    throw failure("--git-push: cannot merge " + rel + ": " + git_error_text(), abs.string());
  const bool clean = res.automergeable != 0;
  std::string merged = res.ptr ? std::string(res.ptr, res.len) : std::string();
  git_merge_file_result_free(&res);
  if (!clean) throw conflict();
  fsutil::atomic_write(abs, merged);
}

std::optional<std::pair<git_oid, std::vector<std::string>>> Session::Impl::rebase(
    const git_oid& tip, const git_oid& ours, const std::vector<std::string>& our_files) {
  // The commit this run's commit was made on: the tip must contain it (never drop a commit).
  std::optional<git_oid> parent;
  {
    Commit c;
    if (git_commit_lookup(c.out(), repo.p, &ours) != 0) throw failure("--git-push: " + git_error_text());
    if (git_commit_parentcount(c.p) > 0) parent = *git_commit_parent_id(c.p, 0);
  }
  if (parent && !git_oid_equal(&tip, &*parent) && git_graph_descendant_of(repo.p, &tip, &*parent) != 1)
    throw failure("--git-push: " + where() + " (" + short_hex(tip) + ") does not contain " + short_hex(*parent) +
                      ", the commit this run's change was made on: the branch was rewritten",
                  workdir.string(), 0, "nothing was pushed; this run's commit stays on the local branch");
  git_error_clear();
  // Move the work tree from this run's commit (HEAD) to the tip; never over uncommitted changes.
  Object target;
  if (git_object_lookup(target.out(), repo.p, &tip, GIT_OBJECT_COMMIT) != 0)
    throw failure("--git-push: " + git_error_text(), workdir.string());
  std::vector<std::string> conflicts;
  git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
  co.checkout_strategy = GIT_CHECKOUT_SAFE;
  co.notify_flags = GIT_CHECKOUT_NOTIFY_CONFLICT;
  co.notify_cb = checkout_notify_cb;
  co.notify_payload = &conflicts;
  const int rc = git_checkout_tree(repo.p, target.p, &co);
  if (!conflicts.empty() || rc == GIT_ECONFLICT)
    throw input_error("--git-push: moving " + branch_name() + " to " + where() + "'s new tip " + short_hex(tip) +
                          " would overwrite uncommitted changes to " + list_text(conflicts),
                      workdir.string(), 0,
                      "commit or stash them; this run's commit " + short_hex(ours) + " stays on the local branch");
  if (rc != 0) throw failure("--git-push: cannot check out " + short_hex(tip) + ": " + git_error_text(), workdir.string());
  advance(&ours, tip, {}, "move to " + where());

  // Re-apply this run's changes on the tip.
  fsutil::journal::clear();
  const bool replays = std::any_of(changes.begin(), changes.end(), [](const Change& c) { return bool(c.replay); });
  if (replays) {
    for (const auto& c : changes) {
      if (!c.replay) continue;
      try {
        c.replay();
      } catch (const Error& e) {
        if (e.code() == Exit::sigint || e.code() == Exit::sigterm) throw;
        throw Error(e.code() == Exit::usage ? Exit::failure : e.code(),
                    "--git-push: cannot re-apply '" + (c.summary.empty() ? std::string("this run") : c.summary) +
                        "' on " + where() + " (" + short_hex(tip) + "): " + e.message(),
                    e.file(), e.line(), "nothing was pushed; run the command again on the new tip");
      }
    }
  } else {
    for (const auto& rel : our_files) merge_file(rel, parent ? &*parent : nullptr, ours, tip);
  }
  proc::throw_if_interrupted();
  std::vector<std::string> files = changed_files(&tip);
  if (files.empty()) return std::nullopt;
  auto commit = commit_files(&tip, files);
  if (!commit) return std::nullopt;
  advance(&tip, *commit, files, "commit (re-applied on " + short_hex(tip) + ")");
  return std::make_pair(*commit, files);
}

// --- Session --------------------------------------------------------------------------------------

Session::Session(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->o = std::move(options);
  impl_->open();
}

Session::~Session() = default;

void Session::record(Change change) { impl_->changes.push_back(std::move(change)); }
bool Session::recorded() const { return !impl_->changes.empty(); }

Result Session::finish(const std::string& fallback_summary) {
  Impl& s = *impl_;
  proc::throw_if_interrupted();
  const auto t0 = Clock::now();
  auto elapsed = [&] { return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0); };
  Result res;
  res.branch = s.branch_ref;
  if (s.changes.empty() && !fallback_summary.empty()) s.changes.push_back(Change{fallback_summary, {}, {}});

  const git_oid* base = s.unborn ? nullptr : &s.start;
  std::vector<std::string> files = s.changed_files(base);
  if (files.empty()) {
    spdlog::info("--git-commit: nothing to commit: this run changed no file of {}", s.workdir.string());
    return res;
  }
  std::vector<std::string> mixed;
  for (const auto& f : files)
    if (s.was_dirty(f)) mixed.push_back(f);
  if (!mixed.empty())
    throw input_error("--git-commit: " + list_text(mixed) + (mixed.size() == 1 ? " has" : " have") +
                          " uncommitted changes from before this run; a commit would include them",
                      s.workdir.string(), 0,
                      "commit or stash your own changes first; this run's writes are in the work tree, uncommitted");

  git_oid head{};
  {
    auto c = s.commit_files(base, files);
    if (!c) {
      spdlog::info("--git-commit: nothing to commit");
      return res;
    }
    head = *c;
  }
  s.advance(base, head, files, "commit");
  res.committed = true;
  res.commit = hex(head);
  res.files = files;
  std::string subject = commit_message(s.changes, {}, fallback_summary);
  subject.resize(subject.find('\n'));
  spdlog::info("committed {} on {}: {} ({} file{})", short_hex(head), s.branch_ref.empty() ? "HEAD" : s.branch_name(),
               subject, files.size(), files.size() == 1 ? "" : "s");
  if (!s.o.push) {
    res.elapsed = elapsed();
    return res;
  }

  res.remote = s.where();
  std::mt19937_64 rng(std::random_device{}());
  int network_failures = 0;
  std::string last_reason;
  for (int attempt = 1;; ++attempt) {
    proc::throw_if_interrupted();
    res.attempts = attempt;
    if (s.o.before_push) s.o.before_push(attempt);
    PushOutcome out = s.push(head);
    if (out.kind == PushOutcome::Kind::ok) {
      res.pushed = true;
      res.commit = hex(head);
      res.elapsed = elapsed();
      spdlog::info("pushed {} to {} (attempt {}, {})", short_hex(head), s.where(), attempt, ms_text(res.elapsed));
      return res;
    }
    proc::throw_if_interrupted();
    if (out.kind == PushOutcome::Kind::fatal)
      throw failure("--git-push: cannot push to " + s.where() + ": " + out.message, s.workdir.string(), 0,
                    "check the credentials (GITHUB_TOKEN, GITLAB_TOKEN, IMGFACTORY_GIT_CREDENTIALS) and that the "
                    "branch accepts pushes; the commit " + short_hex(head) + " stays on the local branch");
    last_reason = out.message;
    if (out.kind == PushOutcome::Kind::network) ++network_failures;
    const bool out_of_attempts = attempt >= s.o.max_attempts || network_failures >= 3;
    // Backoff: uniformly random in [d/2, d], d doubling from backoff_base up to backoff_max.
    const auto cap = std::min<long long>(s.o.backoff_max.count(),
                                         s.o.backoff_base.count() << std::min(attempt - 1, 20));
    std::uniform_int_distribution<long long> dist(cap / 2, std::max<long long>(cap, 1));
    const std::chrono::milliseconds wait{dist(rng)};
    if (out_of_attempts || elapsed() + wait >= s.o.max_time)
      throw failure("--git-push: gave up pushing to " + s.where() + " after " + std::to_string(attempt) + " attempt" +
                        (attempt == 1 ? "" : "s") + " in " + ms_text(elapsed()) +
                        (out.kind == PushOutcome::Kind::race ? ": the branch kept moving" : "") + " (last: " +
                        last_reason + ")",
                    s.workdir.string(), 0,
                    "nothing of this run is on the remote; the commit " + short_hex(head) +
                        " stays on the local branch. Run again, or raise IMGFACTORY_GIT_PUSH_ATTEMPTS / "
                        "IMGFACTORY_GIT_PUSH_TIMEOUT");
    if (out.kind == PushOutcome::Kind::race)
      spdlog::info("--git-push: attempt {}: another writer pushed first ({}); re-applying on the new tip in {}", attempt,
                   out.message, ms_text(wait));
    else
      spdlog::warn("--git-push: attempt {} failed ({}); retrying in {}", attempt, out.message, ms_text(wait));
    for (auto until = Clock::now() + wait; Clock::now() < until;) {
      proc::throw_if_interrupted();
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(until - Clock::now(), std::chrono::milliseconds(50)));
    }
    if (out.kind == PushOutcome::Kind::network) continue;
    const git_oid tip = s.fetch();
    auto next = s.rebase(tip, head, res.files);
    if (!next) {
      res.committed = false;
      res.commit.clear();
      res.files.clear();
      res.elapsed = elapsed();
      spdlog::info("--git-push: {} ({}) already holds this run's changes; nothing to push", s.where(), short_hex(tip));
      return res;
    }
    head = next->first;
    res.commit = hex(head);
    res.files = next->second;
    spdlog::info("--git-push: re-applied this run's changes on {} ({}) as {}", s.where(), short_hex(tip), short_hex(head));
  }
}

}  // namespace imgf::gitstate
