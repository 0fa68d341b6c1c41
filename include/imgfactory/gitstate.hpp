#pragma once
// State that lasts: `--git-commit` / `--git-push`. After a command wrote its state files, the
// files it changed (the fsutil change journal) are committed to the git work tree holding the
// state directory — one commit, those files only — and, with push, pushed to the branch's
// upstream (else <origin>/<branch>), never forced. When another writer pushed first, the
// remote's new tip is fetched, the work tree moved onto it, this run's changes re-applied
// (each command's replay, else a libgit2 3-way merge of each file) and committed again; the
// push is retried a bounded number of times within a bounded time, with jittered backoff.
// libgit2 only: no git child. See docs/git-state.md.
//
// Use (the CLI does this around analyze, build, scan and synth):
//   gitstate::Session s(options);        // before the command writes: checks the tree
//   ... the command writes through fsutil and calls
//   s.record({"build app 1.2.3 sha256:ab12cd34ef56", {}, replay});
//   s.finish();                          // after it succeeded: commit (and push)
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace imgf::gitstate {

// What one command changed, as it describes it. A command may record several changes (a
// build's state fields and its version-file bump): their summaries make the message, their
// replays run in the order recorded.
struct Change {
  // One line naming image(s), version and digest, e.g. "build backstage 0.6.6 sha256:ab12cd34ef56".
  std::string summary;
  // Further lines for the message body (may be empty).
  std::vector<std::string> details;
  // Re-does this change's writes (through fsutil) against the files as they are now: called
  // after the work tree was moved to the remote's new tip. When any change of a run has a
  // replay, the replays are authoritative for all of the run's files: a file none of them
  // rewrites keeps the new tip's content. When no change has one, each file is merged 3-way
  // (this run's base, this run's result, the new tip) and a conflict fails the push.
  // A replay reports failure by throwing imgf::Error.
  std::function<void()> replay;
};

struct Options {
  std::filesystem::path state_dir = ".";
  bool push = false;  // commit always; push too
  // Push attempts in all (the first included) and the whole time allowed for them.
  int max_attempts = 20;
  std::chrono::milliseconds max_time{std::chrono::minutes(5)};
  // Backoff before attempt n+1: uniformly random in [d/2, d], d = min(backoff_max, backoff_base * 2^(n-1)).
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds connect_timeout{15000};
  std::chrono::milliseconds io_timeout{60000};
  // Commit identity; empty: IMGFACTORY_GIT_AUTHOR_NAME/_EMAIL, else git's user.name /
  // user.email, else "imgfactory" <imgfactory@localhost>.
  std::string author_name;
  std::string author_email;
  // Git credentials file in git's `store` format; empty: IMGFACTORY_GIT_CREDENTIALS, else
  // none (~/.git-credentials is read only when IMGFACTORY_GIT_CREDENTIALS names it).
  std::filesystem::path credentials_file;
  // For tests: called before each push attempt (1-based), e.g. to let another writer push first.
  std::function<void(int attempt)> before_push;
};

// Options from the environment: IMGFACTORY_GIT_PUSH_ATTEMPTS (count),
// IMGFACTORY_GIT_PUSH_TIMEOUT (duration, e.g. 5m). Throws imgf::Error (exit 2) on a bad value.
Options options_from_env(std::filesystem::path state_dir, bool push);

struct Result {
  bool committed = false;  // a commit was made (the last one, when the push needed several)
  bool pushed = false;
  std::string commit;      // its id (hex), empty when nothing was committed
  std::string branch;      // refs/heads/<name> of the local branch
  std::string remote;      // "<remote>/<branch>" pushed to (empty without push)
  int attempts = 0;        // push attempts made
  std::chrono::milliseconds elapsed{0};  // commit + push
  std::vector<std::string> files;        // committed paths, relative to the work tree
};

class Session {
 public:
  // Finds the work tree holding options.state_dir, its current branch and (with push) the
  // remote and branch it pushes to, and notes which files have uncommitted changes now;
  // clears the fsutil journal. Throws imgf::Error with exit 2 when the state directory is not
  // in a git work tree, HEAD is detached (push), the remote is missing, or the branch has
  // commits its remote-tracking branch lacks (push).
  explicit Session(Options options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Adds what the command changed. May be called several times.
  void record(Change change);
  [[nodiscard]] bool recorded() const;

  // Commits the files this run changed (none: no commit, Result::committed false) and, with
  // push, pushes the commit, re-applying this run's changes on a newer tip as needed.
  // `fallback_summary` is the message when no change was recorded. Throws imgf::Error: exit 2
  // when a file this run changed had uncommitted changes before it, or moving to the new tip
  // would overwrite uncommitted changes (the files are named); exit 1 when the push fails
  // (authentication, rejected, attempts or time exhausted, a replay or merge that cannot
  // apply); 130/143 when interrupted.
  Result finish(const std::string& fallback_summary = "imgfactory: update state");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Pure helpers, exposed for tests.
// The credentials for `url` in a git `store` file's text (lines
// "https://user:password@host[:port][/path]"): the first line whose scheme, host and port
// match and whose path (if any) is a prefix of url's path; user and password percent-decoded.
struct StoredCredential {
  std::string user;
  std::string password;
};
std::optional<StoredCredential> find_stored_credential(std::string_view store_text, std::string_view url);
// The commit message: the first summary, a blank line, the other summaries and every detail
// line, then the files (at most 20 named, "... and N more").
std::string commit_message(const std::vector<Change>& changes, const std::vector<std::string>& files,
                           const std::string& fallback_summary);

}  // namespace imgf::gitstate
