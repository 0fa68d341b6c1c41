#include "imgfactory/health.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>

#include "imgfactory/error.hpp"
#include "testutil.hpp"

namespace fs = std::filesystem;
using imgf::health::Check;
using imgf::health::Options;
using imgf::health::Report;
using imgf::proc::RecordingRunner;
using imgf::proc::Result;
using imgf::proc::Spec;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

namespace {

// An executable file (its content never runs under RecordingRunner).
fs::path make_tool(const imgf::test::TempDir& dir, const std::string& name, const std::string& body = "#!/bin/sh\n") {
  fs::path p = dir.write("bin/" + name, body);
  fs::permissions(p, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
  return p;
}

// Answers `<tool> --version` with "<name> version <versions[name]>".
RecordingRunner::Responder versions(std::map<std::string, std::string> by_name) {
  return [by_name](const Spec& spec) {
    Result r;
    std::string name = fs::path(spec.argv.at(0)).filename().string();
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      r.exit_code = 1;
      r.err = "unknown tool\n";
      return r;
    }
    r.exit_code = 0;
    r.out = name + " version " + it->second + "\n";
    return r;
  };
}

Options tools_only(const imgf::test::TempDir& dir, std::vector<std::string> required,
                   std::vector<std::string> optional = {}) {
  Options o;
  o.required = std::move(required);
  o.optional = std::move(optional);
  o.path_env = (dir.path() / "bin").string();
  o.in_image = false;
  o.cache_file = dir.path() / "cache" / "health.json";
  return o;
}

const Check& find(const Report& r, const std::string& name) {
  for (const auto& c : r.checks)
    if (c.name == name) return c;
  throw std::runtime_error("no check " + name);
}

}  // namespace

TEST(HealthVersion, ParsesTheVersionOutputOfRealTools) {
  using imgf::health::parse_version;
  EXPECT_EQ(parse_version("podman version 4.3.1\n"), "4.3.1");
  EXPECT_EQ(parse_version("buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)\n"), "1.28.2");
  EXPECT_EQ(parse_version("skopeo version 1.9.3\n"), "1.9.3");
  EXPECT_EQ(parse_version("git version 2.39.5\n"), "2.39.5");
  EXPECT_EQ(parse_version("Task version: v3.35.1 (h1:LEw1Qa8hXp1bXxEAu3D5lDmSVKwI6PMAXYtLqPpm9p4=)\n"), "3.35.1");
  EXPECT_EQ(parse_version("Version: 0.50.1\nVulnerability DB:\n  Version: 2\n"), "0.50.1");
  EXPECT_EQ(parse_version("Client Version: v1.32.4-dispatcher\nKustomize Version: v5.5.0\n"), "1.32.4-dispatcher");
  EXPECT_EQ(parse_version("jq-1.6\n"), "1.6");
  EXPECT_EQ(parse_version("Python 3.11.2\n"), "3.11.2");
  EXPECT_EQ(parse_version("v20.20.2\n"), "20.20.2");
  EXPECT_EQ(parse_version("tool 4.3.1+ds1.\n"), "4.3.1+ds1");
  EXPECT_EQ(parse_version("x86_64 build 2 of 1.2.3"), "1.2.3");  // "x86_64" is a word, "2" has no dot
  EXPECT_EQ(parse_version("no version here 12\n"), std::nullopt);
  EXPECT_EQ(parse_version(""), std::nullopt);
}

TEST(HealthVersion, KubectlIsAskedForItsClientVersionOnly) {
  EXPECT_EQ(imgf::health::version_argv("/usr/bin/kubectl"),
            (std::vector<std::string>{"/usr/bin/kubectl", "version", "--client"}));
  EXPECT_EQ(imgf::health::version_argv("/usr/bin/podman"),
            (std::vector<std::string>{"/usr/bin/podman", "--version"}));
}

TEST(HealthDuration, ParsesGoStyleDurations) {
  using imgf::health::parse_duration;
  EXPECT_EQ(parse_duration("5s"), milliseconds(5000));
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("1m30s"), milliseconds(90000));
  EXPECT_EQ(parse_duration("2.5s"), milliseconds(2500));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
  EXPECT_EQ(parse_duration("7"), milliseconds(7000));
  for (const char* bad : {"", "s", "5x", "-1s", "0s", "1.2.3s", "5 s", "48h", "1m5"}) {
    try {
      parse_duration(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const imgf::Error& e) {
      EXPECT_EQ(e.exit_code(), 2) << bad;
      EXPECT_THAT(e.message(), HasSubstr("invalid duration")) << bad;
    }
  }
}

TEST(HealthList, SplitsCommaSeparatedNames) {
  using imgf::health::split_list;
  EXPECT_EQ(split_list("podman,buildah, skopeo ,git"),
            (std::vector<std::string>{"podman", "buildah", "skopeo", "git"}));
  EXPECT_TRUE(split_list("").empty());
  EXPECT_TRUE(split_list(" , ,").empty());
}

TEST(HealthRun, ResolvesToolsOnPathAndReadsTheirVersions) {
  imgf::test::TempDir dir;
  make_tool(dir, "podman");
  make_tool(dir, "buildah");
  make_tool(dir, "jq");
  RecordingRunner runner(versions({{"podman", "4.3.1"}, {"buildah", "1.28.2"}, {"jq", "1.6"}}));
  Report r = imgf::health::run(tools_only(dir, {"podman", "buildah"}, {"jq", "kubectl"}), runner);

  EXPECT_TRUE(r.healthy);
  ASSERT_EQ(r.checks.size(), 4u);
  EXPECT_EQ(r.checks[0].name, "podman");
  EXPECT_EQ(r.checks[1].name, "buildah");
  EXPECT_EQ(r.checks[2].name, "jq");
  EXPECT_EQ(r.checks[3].name, "kubectl");
  EXPECT_TRUE(find(r, "podman").ok);
  EXPECT_EQ(find(r, "podman").version, "4.3.1");
  EXPECT_EQ(find(r, "podman").path, (dir.path() / "bin" / "podman").string());
  EXPECT_TRUE(find(r, "podman").required);
  EXPECT_FALSE(find(r, "jq").required);
  // An optional tool that is missing is reported, but the report stays healthy.
  EXPECT_FALSE(find(r, "kubectl").ok);
  EXPECT_EQ(find(r, "kubectl").error, "not found on PATH");
  EXPECT_EQ(find(r, "kubectl").path, std::nullopt);
  // Every found tool was asked for its version, by its resolved path, never through a shell.
  auto argvs = runner.argvs();
  ASSERT_EQ(argvs.size(), 3u);
  for (const auto& argv : argvs) {
    EXPECT_EQ(argv.size(), 2u);
    EXPECT_EQ(argv[1], "--version");
    EXPECT_TRUE(fs::path(argv[0]).is_absolute()) << argv[0];
  }
}

TEST(HealthRun, AMissingOrFailingRequiredToolMakesItUnhealthy) {
  imgf::test::TempDir dir;
  make_tool(dir, "podman");
  make_tool(dir, "broken");
  RecordingRunner runner([](const Spec& spec) {
    Result r;
    if (fs::path(spec.argv[0]).filename() == "broken") {
      r.exit_code = 3;
      r.err = "error: cannot load configuration\nmore\n";
    } else {
      r.exit_code = 0;
      r.out = "podman version 4.3.1\n";
    }
    return r;
  });
  Report r = imgf::health::run(tools_only(dir, {"podman", "broken", "trivy"}), runner);
  EXPECT_FALSE(r.healthy);
  EXPECT_TRUE(find(r, "podman").ok);
  EXPECT_FALSE(find(r, "broken").ok);
  EXPECT_THAT(*find(r, "broken").error, HasSubstr("exited with status 3: error: cannot load configuration"));
  EXPECT_THAT(*find(r, "broken").error, HasSubstr("--version"));
  EXPECT_EQ(find(r, "trivy").error, "not found on PATH");

  std::string text = imgf::health::render_text(r);
  EXPECT_THAT(text, HasSubstr("UNHEALTHY: 1/3 required checks ok"));
  EXPECT_THAT(text, HasSubstr("failed: broken trivy"));
  EXPECT_THAT(text, HasSubstr("FAIL "));
}

TEST(HealthRun, ARequiredToolListedAsOptionalTooIsRequiredOnce) {
  imgf::test::TempDir dir;
  make_tool(dir, "git");
  RecordingRunner runner(versions({{"git", "2.39.5"}}));
  Report r = imgf::health::run(tools_only(dir, {"git", "git"}, {"git"}), runner);
  ASSERT_EQ(r.checks.size(), 1u);
  EXPECT_TRUE(r.checks[0].required);
  EXPECT_EQ(runner.argvs().size(), 1u);
}

TEST(HealthRun, ProbesRunInParallel) {
  // Every probe waits until all of them have started: that completes only when they run
  // concurrently (sequential probes would each give up after 10 s and report failure).
  imgf::test::TempDir dir;
  const std::vector<std::string> names = {"a", "b", "c", "d", "e"};
  for (const auto& n : names) make_tool(dir, n);
  std::mutex mu;
  std::condition_variable cv;
  std::size_t started = 0;
  RecordingRunner runner([&](const Spec&) {
    std::unique_lock lock(mu);
    ++started;
    cv.notify_all();
    Result r;
    bool all = cv.wait_for(lock, std::chrono::seconds(10), [&] { return started == names.size(); });
    r.exit_code = all ? 0 : 1;
    r.out = "t version 1.0\n";
    return r;
  });
  Options o = tools_only(dir, names);
  o.cache_file.clear();
  Report r = imgf::health::run(o, runner);
  EXPECT_TRUE(r.healthy) << imgf::health::render_text(r);
  EXPECT_EQ(started, names.size());
}

TEST(HealthRun, CachedVersionsSpawnNothingUntilTheToolChanges) {
  imgf::test::TempDir dir;
  fs::path podman = make_tool(dir, "podman", "#!/bin/sh\necho one\n");
  make_tool(dir, "git");
  std::map<std::string, std::string> answers = {{"podman", "4.3.1"}, {"git", "2.39.5"}};
  std::atomic<int> calls{0};
  RecordingRunner runner([&](const Spec& spec) {
    ++calls;
    return versions(answers)(spec);
  });
  Options o = tools_only(dir, {"podman", "git"});

  Report first = imgf::health::run(o, runner);
  EXPECT_TRUE(first.healthy);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_FALSE(find(first, "podman").cached);
  ASSERT_TRUE(fs::exists(o.cache_file));

  Report second = imgf::health::run(o, runner);
  EXPECT_EQ(calls.load(), 2) << "a warm cache must not run any tool";
  EXPECT_TRUE(find(second, "podman").cached);
  EXPECT_EQ(find(second, "podman").version, "4.3.1");
  EXPECT_TRUE(find(second, "git").cached);
  EXPECT_TRUE(second.healthy);

  // Replacing podman (new content, size and mtime) re-probes it, and only it.
  answers["podman"] = "5.0.0";
  fs::remove(podman);
  make_tool(dir, "podman", "#!/bin/sh\necho two, longer\n");
  Report third = imgf::health::run(o, runner);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_FALSE(find(third, "podman").cached);
  EXPECT_EQ(find(third, "podman").version, "5.0.0");
  EXPECT_TRUE(find(third, "git").cached);

  // A failed probe is not cached.
  answers.erase("git");
  fs::last_write_time(dir.path() / "bin" / "git", fs::file_time_type::clock::now() - std::chrono::hours(1));
  Report fourth = imgf::health::run(o, runner);
  EXPECT_FALSE(find(fourth, "git").ok);
  Report fifth = imgf::health::run(o, runner);
  EXPECT_FALSE(find(fifth, "git").cached);
  EXPECT_EQ(calls.load(), 5);
}

TEST(HealthRun, ACorruptCacheFileIsIgnoredAndRewritten) {
  imgf::test::TempDir dir;
  make_tool(dir, "git");
  Options o = tools_only(dir, {"git"});
  dir.write("cache/health.json", "{not json");
  RecordingRunner runner(versions({{"git", "2.39.5"}}));
  Report r = imgf::health::run(o, runner);
  EXPECT_TRUE(r.healthy);
  auto j = nlohmann::json::parse(imgf::test::read_file(o.cache_file));
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["tools"][(dir.path() / "bin" / "git").string()]["version"], "2.39.5");
}

TEST(HealthRun, AnUnwritableCacheIsNotAFailure) {
  imgf::test::TempDir dir;
  make_tool(dir, "git");
  dir.write("file", "x");
  Options o = tools_only(dir, {"git"});
  o.cache_file = dir.path() / "file" / "below-a-file" / "health.json";
  RecordingRunner runner(versions({{"git", "2.39.5"}}));
  EXPECT_TRUE(imgf::health::run(o, runner).healthy);
}

TEST(HealthRun, ARealToolThatHangsIsStoppedAtTheTimeout) {
  imgf::test::TempDir dir;
  make_tool(dir, "hangs", "#!/bin/sh\nsleep 30\n");
  make_tool(dir, "quick", "#!/bin/sh\necho 'quick version 1.2'\n");
  Options o = tools_only(dir, {"hangs", "quick"});
  o.timeout = milliseconds(300);
  imgf::proc::SystemRunner runner;
  Report r = imgf::health::run(o, runner);
  EXPECT_FALSE(r.healthy);
  EXPECT_THAT(*find(r, "hangs").error, HasSubstr("timed out"));
  EXPECT_TRUE(find(r, "quick").ok);
  EXPECT_EQ(find(r, "quick").version, "1.2");
}

TEST(HealthJson, HasTheShapeOfCliMd) {
  imgf::test::TempDir dir;
  make_tool(dir, "podman");
  RecordingRunner runner(versions({{"podman", "4.3.1"}}));
  Report r = imgf::health::run(tools_only(dir, {"podman", "trivy"}), runner);
  auto j = nlohmann::json::parse(imgf::health::render_json(r));
  EXPECT_EQ(j["healthy"], false);
  ASSERT_EQ(j["checks"].size(), 2u);
  for (const auto& c : j["checks"])
    for (const char* key : {"name", "ok", "required", "path", "version", "ms", "error"})
      EXPECT_TRUE(c.contains(key)) << key;
  EXPECT_EQ(j["checks"][0]["name"], "podman");
  EXPECT_EQ(j["checks"][0]["version"], "4.3.1");
  EXPECT_TRUE(j["checks"][0]["error"].is_null());
  EXPECT_TRUE(j["checks"][1]["path"].is_null());
  EXPECT_TRUE(j["checks"][1]["version"].is_null());
  EXPECT_EQ(j["checks"][1]["error"], "not found on PATH");
  EXPECT_TRUE(j["checks"][1]["ms"].is_number_integer());
}

// --- inside the image: storage and configuration --------------------------------------------

TEST(HealthImage, TheRepositorysConfigFilesPass) {
  fs::path config = imgf::test::source_dir() / "config";
  for (const char* f : {"storage.conf", "registries.conf", "policy.json", "policy.strict.json"})
    EXPECT_EQ(imgf::health::check_config_file(config / f), std::nullopt) << f;
}

TEST(HealthImage, BrokenConfigFilesAreReported) {
  imgf::test::TempDir dir;
  using imgf::health::check_config_file;
  EXPECT_EQ(check_config_file(dir.path() / "storage.conf"), "missing");
  EXPECT_EQ(check_config_file(dir.write("empty/registries.conf", "\n  \n")), "empty");
  EXPECT_EQ(check_config_file(dir.write("a/policy.json", "{\"default\": [")), "not valid JSON");
  EXPECT_THAT(*check_config_file(dir.write("b/policy.json", "{\"transports\": {}}")), HasSubstr("\"default\""));
  EXPECT_THAT(*check_config_file(dir.write("c/storage.conf", "[engine]\ndriver = \"overlay\"\n")),
              HasSubstr("no [storage] table"));
  EXPECT_THAT(*check_config_file(dir.write("d/storage.conf", "[storage]\ngraphroot = \"/x\"\n")),
              HasSubstr("no driver"));
  EXPECT_EQ(check_config_file(dir.write("e/storage.conf", "  [storage]\n  driver = 'vfs'\n")), std::nullopt);
  fs::create_directories(dir.path() / "f" / "policy.json");
  EXPECT_EQ(check_config_file(dir.path() / "f" / "policy.json"), "not a regular file");
}

TEST(HealthImage, StorageRootFollowsContainersStorageConf) {
  imgf::test::TempDir dir;
  using imgf::health::storage_root;
  fs::path conf = dir.write("storage.conf",
                            "[storage]\ndriver = \"overlay\"\n# graphroot = \"/commented\"\n"
                            "graphroot = \"/srv/containers\"\n"
                            "rootless_storage_path = \"$HOME/.imgf/storage-$UID\"\n"
                            "[storage.options]\ngraphroot = \"/not/this/table\"\n");
  EXPECT_EQ(storage_root(conf, false), fs::path("/srv/containers"));
  ::setenv("HOME", "/home/tester", 1);
  EXPECT_EQ(storage_root(conf, true), fs::path("/home/tester/.imgf/storage-" + std::to_string(::getuid())));
  // A user's own storage.conf may set graphroot, which then wins.
  EXPECT_EQ(storage_root(conf, true, true), fs::path("/srv/containers"));

  fs::path bare = dir.write("bare/storage.conf", "[storage]\ndriver = \"overlay\"\n");
  EXPECT_EQ(storage_root(bare, false), fs::path("/var/lib/containers/storage"));
  ::unsetenv("XDG_DATA_HOME");
  EXPECT_EQ(storage_root(bare, true), fs::path("/home/tester/.local/share/containers/storage"));
  ::setenv("XDG_DATA_HOME", "/data", 1);
  EXPECT_EQ(storage_root(bare, true), fs::path("/data/containers/storage"));
  ::unsetenv("XDG_DATA_HOME");
}

TEST(HealthImage, WritableProbeCreatesAndRemovesAFile) {
  imgf::test::TempDir dir;
  using imgf::health::probe_writable;
  fs::create_directories(dir.path() / "storage");
  EXPECT_EQ(probe_writable(dir.path() / "storage"), std::nullopt);
  EXPECT_TRUE(fs::is_empty(dir.path() / "storage"));
  // Not created yet: the tools create it, so its nearest existing ancestor must be writable.
  EXPECT_EQ(probe_writable(dir.path() / "not" / "yet"), std::nullopt);
  dir.write("file", "x");
  EXPECT_THAT(*probe_writable(dir.path() / "file"), HasSubstr("is not a directory"));
  EXPECT_THAT(*probe_writable(dir.path() / "file" / "below"), HasSubstr("is not a directory"));
}

TEST(HealthImage, InsideTheImageStorageAndConfigAreRequiredChecks) {
  imgf::test::TempDir dir;
  make_tool(dir, "git");
  fs::path etc = dir.path() / "etc-containers";
  fs::path config = imgf::test::source_dir() / "config";
  fs::create_directories(etc);
  fs::copy_file(config / "storage.conf", etc / "storage.conf");
  fs::copy_file(config / "registries.conf", etc / "registries.conf");
  fs::create_directories(dir.path() / "storage");
  Options o = tools_only(dir, {"git"});
  o.in_image = true;
  o.containers_dir = etc;
  o.storage_dir = dir.path() / "storage";
  RecordingRunner runner(versions({{"git", "2.39.5"}}));

  Report r = imgf::health::run(o, runner);
  ASSERT_EQ(r.checks.size(), 5u);
  EXPECT_EQ(r.checks[1].name, "storage");
  EXPECT_TRUE(find(r, "storage").ok);
  EXPECT_EQ(find(r, "storage").path, (dir.path() / "storage").string());
  EXPECT_TRUE(find(r, "storage.conf").ok);
  EXPECT_TRUE(find(r, "registries.conf").ok);
  EXPECT_FALSE(find(r, "policy.json").ok);  // not copied
  EXPECT_EQ(find(r, "policy.json").error, "missing");
  EXPECT_TRUE(find(r, "policy.json").required);
  EXPECT_FALSE(r.healthy);

  fs::copy_file(config / "policy.json", etc / "policy.json");
  EXPECT_TRUE(imgf::health::run(o, runner).healthy);

  // Outside the image none of these are checked.
  o.in_image = false;
  EXPECT_EQ(imgf::health::run(o, runner).checks.size(), 1u);
}

TEST(HealthImage, DetectionFollowsImgfactoryInImage) {
  ::setenv("IMGFACTORY_IN_IMAGE", "1", 1);
  EXPECT_TRUE(imgf::health::detect_in_image("/nonexistent"));
  ::setenv("IMGFACTORY_IN_IMAGE", "0", 1);
  EXPECT_FALSE(imgf::health::detect_in_image("/"));
  ::unsetenv("IMGFACTORY_IN_IMAGE");
}

TEST(HealthCache, DefaultLocationFollowsXdg) {
  ::unsetenv("IMGFACTORY_HEALTH_CACHE");
  ::setenv("XDG_CACHE_HOME", "/xdg-cache", 1);
  EXPECT_EQ(imgf::health::default_cache_file(), fs::path("/xdg-cache/imgfactory/health.json"));
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/home/tester", 1);
  EXPECT_EQ(imgf::health::default_cache_file(), fs::path("/home/tester/.cache/imgfactory/health.json"));
  ::setenv("HOME", "/", 1);
  EXPECT_EQ(imgf::health::default_cache_file(),
            fs::path("/tmp/imgfactory-health-" + std::to_string(::getuid()) + ".json"));
  ::setenv("IMGFACTORY_HEALTH_CACHE", "/explicit.json", 1);
  EXPECT_EQ(imgf::health::default_cache_file(), fs::path("/explicit.json"));
  ::unsetenv("IMGFACTORY_HEALTH_CACHE");
}

TEST(HealthCache, SerializesDeterministicallyAndRoundTrips) {
  imgf::test::TempDir dir;
  imgf::health::VersionCache cache(dir.path() / "c.json");
  imgf::health::FileStamp a{10, 20, 30, 40};
  imgf::health::FileStamp b{11, 21, 31, 41};
  cache.store("/usr/bin/zz", b, "2.0");
  cache.store("/usr/bin/aa", a, "1.0");
  std::string text = cache.serialize();
  EXPECT_LT(text.find("/usr/bin/aa"), text.find("/usr/bin/zz"));
  cache.save();
  imgf::health::VersionCache loaded(dir.path() / "c.json");
  EXPECT_EQ(loaded.lookup("/usr/bin/aa", a), "1.0");
  EXPECT_EQ(loaded.lookup("/usr/bin/zz", b), "2.0");
  EXPECT_EQ(loaded.lookup("/usr/bin/aa", b), std::nullopt);
  EXPECT_EQ(loaded.serialize(), text);
}
