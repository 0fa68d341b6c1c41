// The source module: insteadOf rewriting, the user's git configuration, paths that must stay
// inside their root, and the git cache (clone, fetch, checkout, offline) against real
// repositories reached through file:// (the git daemon runs in tests/e2e/analyze_*.sh).
#include "imgfactory/source.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "imgfactory/error.hpp"
#include "testutil.hpp"

using namespace imgf::source;
namespace fs = std::filesystem;

namespace {

using Env = imgf::test::ScopedEnv;

int run(const std::vector<std::string>& argv, const fs::path& cwd) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(cwd.c_str()) != 0) ::_exit(127);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A bare repository <root>/srv/<owner>/<name>.git with one commit on `branch`.
struct Upstream {
  fs::path bare;
  fs::path work;
  void commit(const std::string& file, const std::string& content, const std::string& branch = "main") {
    fs::create_directories((work / file).parent_path());
    {
      std::ofstream out(work / file);
      out << content;
    }
    ASSERT_EQ(run({"git", "add", "-A"}, work), 0);
    ASSERT_EQ(run({"git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "c"}, work), 0);
    ASSERT_EQ(run({"git", "push", "-q", "origin", "HEAD:refs/heads/" + branch}, work), 0);
  }
};

Upstream make_upstream(const fs::path& root, const std::string& owner_name) {
  Upstream u;
  u.bare = root / "srv" / (owner_name + ".git");
  u.work = root / "work" / owner_name;
  fs::create_directories(u.bare);
  fs::create_directories(u.work);
  EXPECT_EQ(run({"git", "init", "-q", "--bare", u.bare.string()}, root), 0);
  EXPECT_EQ(run({"git", "init", "-q", u.work.string()}, root), 0);
  EXPECT_EQ(run({"git", "remote", "add", "origin", u.bare.string()}, u.work), 0);
  return u;
}

imgf::enrollment::Image git_image(const std::string& repo, const std::string& branch, const std::string& dockerfile) {
  auto e = imgf::enrollment::parse("- name: app\n  repository: team/app\n  source:\n    provider: github\n    repo: " +
                                       repo + "\n    branch: " + branch + "\n    dockerfile: " + dockerfile + "\n",
                                   "images.yaml");
  return e.images[0];
}

}  // namespace

TEST(SourceUrl, InsteadOfLongestPrefixWins) {
  std::vector<Rewrite> rules = {{"git://mirror/", "https://github.com/"},
                                {"git://mirror/special/", "https://github.com/org/"},
                                {"ssh://other/", "https://github.com/org/"}};
  EXPECT_EQ(apply_instead_of("https://github.com/org/repo.git", rules), "git://mirror/special/repo.git");
  EXPECT_EQ(apply_instead_of("https://github.com/x/y.git", rules), "git://mirror/x/y.git");
  EXPECT_EQ(apply_instead_of("https://gitlab.com/x/y.git", rules), "https://gitlab.com/x/y.git");
  EXPECT_EQ(apply_instead_of("https://github.com/x", {}), "https://github.com/x");
}

TEST(SourceUrl, RulesComeFromTheUsersGitConfiguration) {
  imgf::test::TempDir tmp;
  fs::path global = tmp.write("gitconfig", "[url \"git://127.0.0.1:9/\"]\n\tinsteadOf = https://github.com/\n"
                                           "[url \"git://127.0.0.1:9/Team/\"]\n\tinsteadOf = https://github.com/team/\n");
  Env g("GIT_CONFIG_GLOBAL", global.string());
  Env nosys("GIT_CONFIG_NOSYSTEM", "1");
  Env count("GIT_CONFIG_COUNT", "1");
  Env key("GIT_CONFIG_KEY_0", "url.file:///srv/.insteadOf");
  Env value("GIT_CONFIG_VALUE_0", "https://gitlab.com/");
  auto rules = instead_of_rules();
  EXPECT_EQ(apply_instead_of("https://github.com/a/b.git", rules), "git://127.0.0.1:9/a/b.git");
  EXPECT_EQ(apply_instead_of("https://github.com/team/b.git", rules), "git://127.0.0.1:9/Team/b.git");
  EXPECT_EQ(apply_instead_of("https://gitlab.com/a/b.git", rules), "file:///srv/a/b.git");
}

TEST(SourceUrl, CacheKeyIsAReadableSafeName) {
  std::string k = cache_key("https://github.com/craigedmunds/argocd-eda.git", "feature/x");
  EXPECT_EQ(k.rfind("github.com-craigedmunds-argocd-eda@feature-x-", 0), 0u) << k;
  EXPECT_NE(k, cache_key("https://github.com/craigedmunds/argocd-eda.git", "feature-x"));
  EXPECT_EQ(cache_key("https://user:secret@host/a.git", "main").find("secret"), std::string::npos);
}

TEST(SourcePaths, InsideRefusesEscapes) {
  imgf::test::TempDir tmp;
  fs::path root = tmp.path() / "root";
  fs::create_directories(root / "app");
  tmp.write("root/app/Dockerfile", "FROM alpine\n");
  tmp.write("outside/Dockerfile", "FROM alpine\n");
  fs::create_symlink(tmp.path() / "outside", root / "escape");
  fs::create_symlink("app", root / "alias");
  EXPECT_EQ(inside(root, "app/Dockerfile", "x"), fs::canonical(root / "app/Dockerfile"));
  EXPECT_EQ(inside(root, "alias/Dockerfile", "x"), fs::canonical(root / "app/Dockerfile"));  // inside: fine
  for (const char* bad : {"../outside/Dockerfile", "/etc/passwd", "escape/Dockerfile", "app/../../outside", ""}) {
    try {
      inside(root, bad, "local.dir");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const imgf::Error& e) {
      EXPECT_EQ(e.exit_code(), 2) << bad;
      EXPECT_NE(std::string(e.what()).find("local.dir"), std::string::npos);
    }
  }
}

TEST(SourceLocal, ChecksOutALocalDirectory) {
  imgf::test::TempDir tmp;
  tmp.write("apps/web/Containerfile", "FROM alpine\n");
  auto e = imgf::enrollment::parse(
      "- name: web\n  repository: team/web\n  local:\n    dir: apps/web\n    dockerfile: Containerfile\n", "images.yaml");
  Options o;
  o.state_dir = tmp.path();
  Checkout c = checkout(e.images[0], o);
  EXPECT_EQ(c.dockerfile, fs::canonical(tmp.path() / "apps/web/Containerfile"));
  EXPECT_EQ(c.context, fs::canonical(tmp.path() / "apps/web"));
  EXPECT_TRUE(c.revision.empty());
  // A Dockerfile symlinked out of the state repository is refused.
  fs::remove(tmp.path() / "apps/web/Containerfile");
  tmp.write("elsewhere/Containerfile", "FROM alpine\n");
  fs::create_symlink(tmp.path() / "elsewhere/Containerfile", tmp.path() / "apps/web/Containerfile");
  o.state_dir = tmp.path() / "apps";
  auto e2 = imgf::enrollment::parse(
      "- name: web\n  repository: team/web\n  local:\n    dir: web\n    dockerfile: Containerfile\n", "images.yaml");
  EXPECT_THROW(checkout(e2.images[0], o), imgf::Error);
}

TEST(SourceGit, ClonesFetchesChecksOutAndWorksOffline) {
  imgf::test::TempDir tmp;
  Upstream up = make_upstream(tmp.path(), "team/app");
  up.commit("docker/Dockerfile", "FROM alpine:3.19\n");
  Env count("GIT_CONFIG_COUNT", "1");
  Env key("GIT_CONFIG_KEY_0", "url.file://" + (tmp.path() / "srv").string() + "/.insteadOf");
  Env value("GIT_CONFIG_VALUE_0", "https://github.com/");
  Options o;
  o.state_dir = tmp.path() / "state";
  fs::create_directories(o.state_dir);
  auto image = git_image("team/app", "main", "docker/Dockerfile");

  Checkout first = checkout(image, o);
  EXPECT_EQ(imgf::test::read_file(first.dockerfile), "FROM alpine:3.19\n");
  EXPECT_EQ(first.revision.size(), 40u);
  EXPECT_EQ(first.dir.parent_path(), fs::canonical(o.state_dir / ".image-factory-cache"));
  EXPECT_EQ(first.context, first.dir) << "no source.context: the repository root, as the original";
  // A marker proves the next run fetches into the same clone instead of cloning again.
  fs::path marker = first.dir / ".git" / "imgf-marker";
  { std::ofstream(marker) << "x"; }

  up.commit("docker/Dockerfile", "FROM alpine:3.20\n");
  Checkout second = checkout(image, o);
  EXPECT_EQ(second.dir, first.dir);
  EXPECT_TRUE(fs::exists(marker));
  EXPECT_NE(second.revision, first.revision);
  EXPECT_EQ(imgf::test::read_file(second.dockerfile), "FROM alpine:3.20\n");

  // Offline: the cache alone, even when the upstream moved on or vanished.
  up.commit("docker/Dockerfile", "FROM alpine:3.21\n");
  fs::rename(up.bare, tmp.path() / "gone.git");
  o.offline = true;
  Checkout offline = checkout(image, o);
  EXPECT_EQ(offline.revision, second.revision);
  EXPECT_EQ(imgf::test::read_file(offline.dockerfile), "FROM alpine:3.20\n");
  // Offline without a cache entry fails and says why.
  try {
    checkout(git_image("team/other", "main", "Dockerfile"), o);
    FAIL() << "no error";
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_NE(std::string(e.what()).find("--offline"), std::string::npos) << e.what();
  }
}

TEST(SourceGit, MissingBranchAndDockerfileAreNamed) {
  imgf::test::TempDir tmp;
  Upstream up = make_upstream(tmp.path(), "team/app");
  up.commit("Dockerfile", "FROM alpine\n");
  up.commit("Dockerfile", "FROM alpine\n# dev\n", "dev");
  Env count("GIT_CONFIG_COUNT", "1");
  Env key("GIT_CONFIG_KEY_0", "url.file://" + (tmp.path() / "srv").string() + "/.insteadOf");
  Env value("GIT_CONFIG_VALUE_0", "https://github.com/");
  Options o;
  o.state_dir = tmp.path();
  Cache cache(o);
  try {
    cache.checkout(git_image("team/app", "release", "Dockerfile"));
    FAIL() << "no error";
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 1);
    std::string m = e.what();
    EXPECT_NE(m.find("branch 'release' does not exist in team/app"), std::string::npos) << m;
    EXPECT_NE(m.find("dev, main"), std::string::npos) << m;
  }
  try {
    cache.checkout(git_image("team/app", "dev", "build/Dockerfile"));
    FAIL() << "no error";
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_NE(std::string(e.what()).find("'build/Dockerfile' does not exist in team/app (branch dev"),
              std::string::npos)
        << e.what();
  }
  // A failed clone leaves no half-made cache entry behind.
  for (const auto& entry : fs::directory_iterator(tmp.path() / ".image-factory-cache"))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}

// --- the shallow first fetch through the git CLI ---------------------------------------------

TEST(SourceShallow, TheTokenTravelsInTheEnvironmentNeverInArgv) {
  EXPECT_EQ(basic_auth_header("x-access-token", "abc"), "Authorization: Basic eC1hY2Nlc3MtdG9rZW46YWJj");
  Env count("GIT_CONFIG_COUNT", "2");  // the caller's own entries (insteadOf rules) come first
  ShallowFetch f{"/cache/repo", "https://github.com/team/app.git", "main",
                 basic_auth_header("x-access-token", "ghp_secret"), std::chrono::milliseconds(30000)};
  const imgf::proc::Spec s = shallow_fetch_spec(f);
  EXPECT_EQ(s.argv, (std::vector<std::string>{"git", "-C", "/cache/repo", "-c", "gc.auto=0", "-c",
                                               "maintenance.auto=false", "-c", "protocol.ext.allow=never", "fetch",
                                               "--depth=1", "--no-tags", "--no-recurse-submodules",
                                               "--no-write-fetch-head", "--progress", "--",
                                               "https://github.com/team/app.git",
                                               "+refs/heads/main:refs/remotes/origin/main"}));
  for (const auto& a : s.argv) EXPECT_EQ(a.find("ghp_secret"), std::string::npos) << a;
  auto env = [&](const std::string& k) -> std::string {
    for (const auto& [key, v] : s.env_set)
      if (key == k) return v;
    return "<unset>";
  };
  EXPECT_EQ(env("GIT_CONFIG_KEY_2"), "http.https://github.com/team/app.git.extraHeader");
  EXPECT_EQ(env("GIT_CONFIG_VALUE_2"), f.auth_header);
  EXPECT_EQ(env("GIT_CONFIG_COUNT"), "3");
  EXPECT_EQ(env("GIT_TERMINAL_PROMPT"), "0");
  EXPECT_EQ(s.idle_timeout, std::chrono::milliseconds(30000));
  // Without a token nothing is added to the caller's configuration.
  f.auth_header.clear();
  EXPECT_EQ(shallow_fetch_spec(f).env_set.size(), 3u);
}

namespace {

// Runs the real git, recording each call; `fail` answers every call with git's failure instead.
imgf::proc::RecordingRunner recording_git(bool fail = false) {
  return imgf::proc::RecordingRunner([fail](const imgf::proc::Spec& spec) {
    if (fail) {
      imgf::proc::Result r;
      r.exit_code = 128;
      if (spec.on_stderr_line) spec.on_stderr_line("fatal: the remote end hung up unexpectedly");
      return r;
    }
    imgf::proc::SystemRunner real;
    return real.run(spec);
  });
}

int commits_in(const fs::path& dir) {
  return run({"sh", "-c", "test $(git rev-list --count HEAD) -ge 0 && exit $(git rev-list --count HEAD)"}, dir);
}

}  // namespace

TEST(SourceShallow, FirstFetchTakesTheTipAloneAndStaysShallow) {
  imgf::test::TempDir tmp;
  Upstream up = make_upstream(tmp.path(), "team/app");
  for (int i = 0; i < 5; ++i) up.commit("history.txt", "revision " + std::to_string(i) + "\n");
  up.commit("Dockerfile", "FROM alpine:3.19\n");
  Env count("GIT_CONFIG_COUNT", "1");
  Env key("GIT_CONFIG_KEY_0", "url.file://" + (tmp.path() / "srv").string() + "/.insteadOf");
  Env value("GIT_CONFIG_VALUE_0", "https://github.com/");
  auto runner = recording_git();
  Options o;
  o.state_dir = tmp.path();
  o.runner = &runner;
  auto image = git_image("team/app", "main", "Dockerfile");

  Checkout first = Cache(o).checkout(image);
  EXPECT_EQ(imgf::test::read_file(first.dockerfile), "FROM alpine:3.19\n");
  EXPECT_TRUE(fs::exists(first.dir / ".git" / "shallow"));
  EXPECT_EQ(commits_in(first.dir), 1);  // the tip, not its 6 commits
  ASSERT_EQ(runner.argvs().size(), 1u);
  EXPECT_EQ(runner.argvs()[0][10], "--depth=1");

  // Nothing new upstream: no fetch at all.
  Checkout again = Cache(o).checkout(image);
  EXPECT_EQ(again.revision, first.revision);
  EXPECT_EQ(runner.argvs().size(), 1u);

  // A new commit: fetched into the shallow clone, again the tip alone.
  up.commit("Dockerfile", "FROM alpine:3.20\n");
  Checkout second = Cache(o).checkout(image);
  EXPECT_NE(second.revision, first.revision);
  EXPECT_EQ(imgf::test::read_file(second.dockerfile), "FROM alpine:3.20\n");
  EXPECT_EQ(runner.argvs().size(), 2u);
  EXPECT_EQ(commits_in(second.dir), 1);
}

TEST(SourceShallow, OffOrFailingGitFetchesTheWholeHistoryWithLibgit2) {
  imgf::test::TempDir tmp;
  Upstream up = make_upstream(tmp.path(), "team/app");
  for (int i = 0; i < 3; ++i) up.commit("Dockerfile", "FROM alpine:3." + std::to_string(i) + "\n");
  Env count("GIT_CONFIG_COUNT", "1");
  Env key("GIT_CONFIG_KEY_0", "url.file://" + (tmp.path() / "srv").string() + "/.insteadOf");
  Env value("GIT_CONFIG_VALUE_0", "https://github.com/");
  auto image = git_image("team/app", "main", "Dockerfile");

  {  // IMGFACTORY_GIT_SHALLOW=0: libgit2 alone, git never started.
    auto runner = recording_git();
    Env off("IMGFACTORY_GIT_SHALLOW", "0");
    Options o;
    o.state_dir = tmp.path() / "off";
    o.runner = &runner;
    Checkout c = Cache(o).checkout(image);
    EXPECT_EQ(commits_in(c.dir), 3);
    EXPECT_FALSE(fs::exists(c.dir / ".git" / "shallow"));
    EXPECT_TRUE(runner.argvs().empty());
  }
  {  // git fails on a first fetch: libgit2 takes over.
    auto runner = recording_git(true);
    Options o;
    o.state_dir = tmp.path() / "fallback";
    o.runner = &runner;
    Checkout c = Cache(o).checkout(image);
    EXPECT_EQ(imgf::test::read_file(c.dockerfile), "FROM alpine:3.2\n");
    EXPECT_EQ(commits_in(c.dir), 3);
    EXPECT_EQ(runner.argvs().size(), 1u);
  }
  {  // git fails on a shallow clone: an error naming the cache (libgit2 1.5 cannot fetch into it).
    auto good = recording_git();
    Options o;
    o.state_dir = tmp.path() / "shallow";
    o.runner = &good;
    Cache(o).checkout(image);
    up.commit("Dockerfile", "FROM alpine:3.9\n");
    auto bad = recording_git(true);
    o.runner = &bad;
    try {
      Cache(o).checkout(image);
      FAIL() << "no error";
    } catch (const imgf::Error& e) {
      EXPECT_EQ(e.exit_code(), 1);
      const std::string m = e.what();
      EXPECT_NE(m.find("the remote end hung up unexpectedly"), std::string::npos) << m;
      EXPECT_NE(m.find("shallow clone: remove it to fetch again"), std::string::npos) << m;
    }
  }
}
