// `imgfactory build` with its inputs (issue 12), end to end against a recording runner: the
// base image pinned to the digest its registry serves (or --base), buildInputs recorded,
// --if-changed skipping without a single buildah process, and rebuilding when an input moved;
// timestamps from git; several images with their registry questions asked first.
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>

#include "imgfactory/build_inputs.hpp"
#include "imgfactory/builder.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/log.hpp"
#include "testutil.hpp"

using namespace imgf::builder;
using imgf::proc::RecordingRunner;
using PResult = imgf::proc::Result;
using imgf::proc::Spec;
namespace fs = std::filesystem;

namespace {

std::string index_of(const std::string& a, const std::string& b) {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)"
         R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + a +
         R"(","size":503,"platform":{"architecture":"amd64","os":"linux"}},)"
         R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + b +
         R"(","size":503,"platform":{"architecture":"arm64","os":"linux"}}]})";
}
std::string digest_of(const std::string& s) { return "sha256:" + imgf::fsutil::sha256_hex(s); }
std::string D(char c) { return "sha256:" + std::string(64, c); }

// A fake registry and buildah: skopeo answers from `served` (by docker:// reference), a push
// stores the app's index under its tag; every call is counted by tool.
struct Fake {
  std::mutex mu;
  std::map<std::string, std::string> served;
  std::string app_index = index_of("sha256:aaaa", "sha256:bbbb");
  std::map<std::string, std::string> dockerfiles;  // --file -> its content while building
  std::string last_dockerfile;                     // the content of the last --file
  std::vector<std::string> build_argv;

  PResult operator()(const Spec& s) {
    std::lock_guard<std::mutex> lock(mu);
    PResult r;
    r.exit_code = 0;
    const auto& a = s.argv;
    if (a.size() > 1 && a[0] == "skopeo" && a[1] == "copy") {  // `latest`: the same index under another tag
      served[a.back().substr(std::string("docker://").size())] = served[a[a.size() - 2].substr(std::string("docker://").size())];
      return r;
    }
    if (a[0] == "skopeo") {
      std::string ref = a.back().substr(std::string("docker://").size());
      auto it = served.find(ref);
      if (it == served.end()) {
        r.exit_code = 1;
        std::string err = "level=fatal msg=\"reading manifest in " + ref + ": manifest unknown\"";
        if (s.on_stderr_line) s.on_stderr_line(err);
        r.err = err;
      } else {
        r.out = it->second;
      }
    }
    if (a.size() > 2 && a[0] == "buildah" && a[1] == "manifest" && a[2] == "push") {
      for (std::size_t i = 0; i + 1 < a.size(); ++i)
        if (a[i] == "--digestfile") std::ofstream(a[i + 1]) << digest_of(app_index);
      served[a.back().substr(std::string("docker://").size())] = app_index;
    }
    if (a.size() > 1 && a[0] == "buildah" && a[1] == "build") {
      build_argv = a;
      for (std::size_t i = 0; i + 1 < a.size(); ++i)
        if (a[i] == "--file") last_dockerfile = dockerfiles[a[i + 1]] = imgf::test::read_file(a[i + 1]);
    }
    return r;
  }
};

int count(const RecordingRunner& r, const std::string& tool) {
  int n = 0;
  for (const auto& a : r.argvs()) n += a[0] == tool;
  return n;
}

struct Fixture {
  imgf::test::TempDir dir;
  fs::path state = dir.path() / "state";
  fs::path temp = dir.path() / "tmp";
  const std::string base_v1 = index_of(D('1'), D('2'));  // amd64, arm64
  const std::string base_v2 = index_of(D('3'), D('4'));

  Fixture() {
    imgf::log::Options quiet;
    quiet.level = "error";
    imgf::log::setup(quiet);
    dir.write("state/images.yaml",
              // Digest: the builds push `latest` alone (the tag rule, include/imgfactory/tagrule.hpp)
              "- name: app\n  registry: r.example:5000\n  repository: team/app\n  imageSelectionStrategy: Digest\n"
              "  local:\n    dir: app\n"
              "- name: two\n  registry: r.example:5000\n  repository: team/two\n  imageSelectionStrategy: Digest\n"
              "  local:\n    dir: two\n");
    dir.write("state/app/Dockerfile", "ARG BASE=r.example:5000/team/base:1.0\nFROM ${BASE}\nCOPY hello.txt /\n");
    dir.write("state/app/hello.txt", "hello\n");
    dir.write("state/two/Dockerfile", "FROM r.example:5000/team/base:1.0\n");
    fs::create_directories(temp);
    ::unsetenv("SOURCE_DATE_EPOCH");
  }

  Context context(RecordingRunner& runner) {
    Context c;
    c.state_dir = state;
    c.images_file = state / "images.yaml";
    c.runner = &runner;
    c.now = [] { return std::string("2026-02-03T04:05:06Z"); };
    c.temp_dir = temp;
    return c;
  }

  std::string run_build(Fake& fake, Options o, int* rc = nullptr, RecordingRunner** used = nullptr) {
    static std::vector<std::unique_ptr<RecordingRunner>> keep;
    keep.push_back(std::make_unique<RecordingRunner>([&fake](const Spec& s) { return fake(s); }));
    if (used) *used = keep.back().get();
    testing::internal::CaptureStdout();
    int code = o.more_images.empty() ? run(o, context(*keep.back())) : run_many(o, context(*keep.back()));
    if (rc) *rc = code;
    return testing::internal::GetCapturedStdout();
  }
};

Options app(bool if_changed = false) {
  Options o;
  o.image = "app";
  o.json = true;
  o.if_changed = if_changed;
  return o;
}

}  // namespace

TEST(BuildInputsRun, PinsTheBaseRecordsInputsAndSkipsWhenNothingChanged) {
  Fixture f;
  Fake fake;
  fake.served["r.example:5000/team/base:1.0"] = f.base_v1;
  RecordingRunner* first = nullptr;
  std::string out = f.run_build(fake, app(true), nullptr, &first);
  EXPECT_NE(out.find(R"("pushed":true,"skipped":false)"), std::string::npos) << out;
  // Built on exactly the digest the tag served — each platform on its instance of that index —
  // from pinned copies outside the context.
  ASSERT_EQ(fake.dockerfiles.size(), 2u);
  for (const auto& [file, content] : fake.dockerfiles) {
    bool arm = fs::path(file).filename() == "Dockerfile.pinned-linux-arm64";
    EXPECT_TRUE(arm || fs::path(file).filename() == "Dockerfile.pinned-linux-amd64") << file;
    EXPECT_EQ(fs::path(file).parent_path().filename().string().rfind("imgfactory-build-app-", 0), 0u) << file;
    // The labels are one LABEL instruction at the end (not one buildah step per --label).
    EXPECT_EQ(content, "ARG BASE=r.example:5000/team/base:1.0\nFROM r.example:5000/team/base@" + D(arm ? '2' : '1') +
                           "\nCOPY hello.txt /\nLABEL org.opencontainers.image.created=\"1970-01-01T00:00:00Z\" "
                           "org.opencontainers.image.version=\"latest\" org.opencontainers.image.title=\"app\" "
                           "org.opencontainers.image.description=\"app (built by image-factory)\"\n");
  }
  EXPECT_EQ(imgf::test::read_file(f.state / "app/Dockerfile"),
            "ARG BASE=r.example:5000/team/base:1.0\nFROM ${BASE}\nCOPY hello.txt /\n")
      << "the user's file is never rewritten";
  // Reproducible: --timestamp (no git here: 0) and the created label from the same time.
  auto& argv = fake.build_argv;
  auto ts = std::find(argv.begin(), argv.end(), "--timestamp");
  ASSERT_NE(ts, argv.end());
  EXPECT_EQ(*(ts + 1), "0");
  EXPECT_EQ(std::find(argv.begin(), argv.end(), "--label"), argv.end()) << "the labels are in the Dockerfile copy";
  // Recorded.
  std::string state = imgf::test::read_file(f.state / "images/app.yaml");
  auto recorded = imgf::inputs::parse_recorded(state);
  ASSERT_TRUE(recorded) << state;
  ASSERT_EQ(recorded->base_images.size(), 1u);
  EXPECT_EQ(recorded->base_images[0].reference, "r.example:5000/team/base:1.0");
  EXPECT_EQ(recorded->base_images[0].name, "r.example-5000-team-base-1.0");
  EXPECT_EQ(recorded->base_images[0].digest, digest_of(f.base_v1));
  EXPECT_EQ(recorded->base_images[0].platforms,
            (std::vector<std::pair<std::string, std::string>>{{"linux/amd64", D('1')}, {"linux/arm64", D('2')}}));
  EXPECT_EQ(recorded->platforms, (std::vector<std::string>{"linux/amd64", "linux/arm64"}));
  EXPECT_EQ(recorded->local_content_sha256.size(), 64u);
  EXPECT_NE(state.find("currentDigest: '" + digest_of(fake.app_index) + "'"), std::string::npos);

  // Again, nothing changed: skipped, no buildah at all, state untouched.
  RecordingRunner* second = nullptr;
  out = f.run_build(fake, app(true), nullptr, &second);
  EXPECT_EQ(out, R"({"image":"app","reference":"r.example:5000/team/app:latest","tag":"latest","digest":")" +
                     digest_of(fake.app_index) +
                     R"(","platforms":[{"platform":"linux/amd64","digest":"sha256:aaaa"},)"
                     R"({"platform":"linux/arm64","digest":"sha256:bbbb"}],"pushed":false,"skipped":true,"tags":[]})"
                     "\n");
  EXPECT_EQ(count(*second, "buildah"), 0);
  EXPECT_EQ(count(*second, "skopeo"), 2) << "the base's digest and the pushed tag's";
  EXPECT_EQ(imgf::test::read_file(f.state / "images/app.yaml"), state);
  EXPECT_TRUE(fs::is_empty(f.temp)) << "the workspace is removed after a skip too";
}

TEST(BuildInputsRun, EachChangedInputRebuilds) {
  Fixture f;
  Fake fake;
  fake.served["r.example:5000/team/base:1.0"] = f.base_v1;
  f.run_build(fake, app(true));
  auto builds_again = [&](const std::string& why) {
    RecordingRunner* r = nullptr;
    std::string out = f.run_build(fake, app(true), nullptr, &r);
    EXPECT_NE(out.find(R"("skipped":false)"), std::string::npos) << why << ": " << out;
    EXPECT_GT(count(*r, "buildah"), 0) << why;
  };
  // A new base digest under the same tag.
  fake.served["r.example:5000/team/base:1.0"] = f.base_v2;
  builds_again("base image moved");
  EXPECT_TRUE(fake.last_dockerfile.find(D('3')) != std::string::npos || fake.last_dockerfile.find(D('4')) != std::string::npos)
      << fake.last_dockerfile;
  // Local content.
  f.dir.write("state/app/hello.txt", "hello again\n");
  builds_again("local file changed");
  // Build args and platforms.
  Options o = app(true);
  o.build_args = {"X=1"};
  RecordingRunner* r = nullptr;
  f.run_build(fake, o, nullptr, &r);
  EXPECT_GT(count(*r, "buildah"), 0) << "a build arg was added";
  o.platforms = {"linux/amd64"};
  f.run_build(fake, o, nullptr, &r);
  EXPECT_GT(count(*r, "buildah"), 0) << "platforms changed";
  // The registry no longer serves the recorded digest for the tag (someone pushed over it).
  f.run_build(fake, o, nullptr, &r);
  EXPECT_EQ(count(*r, "buildah"), 0) << "unchanged";
  fake.served["r.example:5000/team/app:latest"] = index_of("sha256:9999", "sha256:8888");
  f.run_build(fake, o, nullptr, &r);
  EXPECT_GT(count(*r, "buildah"), 0) << "the tag serves another digest";
  // A base whose registry cannot tell: never a skip.
  fake.served.erase("r.example:5000/team/base:1.0");
  f.run_build(fake, o, nullptr, &r);
  EXPECT_GT(count(*r, "buildah"), 0) << "unknown base digest";
  // SOURCE_DATE_EPOCH is an input too.
  fake.served["r.example:5000/team/base:1.0"] = f.base_v2;
  f.run_build(fake, o, nullptr, &r);
  f.run_build(fake, o, nullptr, &r);
  EXPECT_EQ(count(*r, "buildah"), 0);
  ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  f.run_build(fake, o, nullptr, &r);
  ::unsetenv("SOURCE_DATE_EPOCH");
  EXPECT_GT(count(*r, "buildah"), 0) << "another SOURCE_DATE_EPOCH";
  EXPECT_NE(std::find(fake.build_argv.begin(), fake.build_argv.end(), "1700000000"), fake.build_argv.end());
}

TEST(BuildInputsRun, BaseOptionPinsTheNamedDigestEvenWhenTheTagMoved) {
  Fixture f;
  Fake fake;
  fake.served["r.example:5000/team/base:1.0"] = f.base_v2;  // the tag moved on
  fake.served["r.example:5000/team/base@" + digest_of(f.base_v1)] = f.base_v1;
  Options o = app();
  o.bases = {"", "r.example:5000/team/base:1.0@" + digest_of(f.base_v1)};
  f.run_build(fake, o);
  ASSERT_EQ(fake.dockerfiles.size(), 2u);
  for (const auto& [file, content] : fake.dockerfiles)
    EXPECT_TRUE(content.find("FROM r.example:5000/team/base@" + D('1')) != std::string::npos ||
                content.find("FROM r.example:5000/team/base@" + D('2')) != std::string::npos)
        << content;
  auto recorded = imgf::inputs::parse_recorded(imgf::test::read_file(f.state / "images/app.yaml"));
  ASSERT_TRUE(recorded);
  EXPECT_EQ(recorded->base_images[0].digest, digest_of(f.base_v1));
  EXPECT_EQ(recorded->base_images[0].platforms.size(), 2u);

  // A --base for a repository the Dockerfile does not use: exit 2 naming the Dockerfile.
  o.bases = {"r.example:5000/team/other@" + digest_of(f.base_v1)};
  RecordingRunner* r = nullptr;
  try {
    f.run_build(fake, o, nullptr, &r);
    testing::internal::GetCapturedStdout();
    FAIL() << "expected exit 2";
  } catch (const imgf::Error& e) {
    testing::internal::GetCapturedStdout();
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(e.formatted().find("app/Dockerfile"), std::string::npos) << e.formatted();
    EXPECT_NE(e.formatted().find("r.example:5000/team/base:1.0"), std::string::npos) << e.formatted();
  }
  EXPECT_EQ(count(*r, "buildah"), 0);
  // A --base without a digest, and --if-changed without a push: exit 2 before anything runs.
  o.bases = {"r.example:5000/team/base:1.0"};
  EXPECT_THROW(f.run_build(fake, o), imgf::Error);
  testing::internal::GetCapturedStdout();
  o = app(true);
  o.no_push = true;
  EXPECT_THROW(f.run_build(fake, o), imgf::Error);
  testing::internal::GetCapturedStdout();
}

TEST(BuildInputsRun, ABuildPlatformStageIsPinnedToTheBuildMachinesInstance) {
  Fixture f;
  Fake fake;
  fake.served["r.example:5000/team/base:1.0"] = f.base_v1;
  f.dir.write("state/app/Dockerfile",
              "FROM --platform=$BUILDPLATFORM r.example:5000/team/base:1.0 AS build\n"
              "FROM r.example:5000/team/base:1.0\nCOPY --from=build /bin/sh /sh\n");
  f.run_build(fake, app());
  const std::string host = imgf::dockerfile::host_platform();
  const std::string native = host == "linux/arm64" ? D('2') : D('1');
  for (const auto& [file, content] : fake.dockerfiles) {
    bool arm = fs::path(file).filename() == "Dockerfile.pinned-linux-arm64";
    EXPECT_EQ(content.substr(0, content.find("LABEL ")),
              "FROM --platform=$BUILDPLATFORM r.example:5000/team/base@" + native + " AS build\n" +
                  "FROM r.example:5000/team/base@" + D(arm ? '2' : '1') + "\nCOPY --from=build /bin/sh /sh\n")
        << file;
  }
}

TEST(BuildInputsRun, PlanCarriesTargetAndLayerCache) {
  Fixture f;
  Fake fake;
  fake.served["r.example:5000/team/base:1.0"] = f.base_v1;
  Options o = app();
  o.dry_run = true;
  o.json = false;
  o.cache_from = "r.example:5000/team/app-cache";
  o.cache_to = "r.example:5000/team/app-cache";
  o.target = "final";
  ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  std::string out = f.run_build(fake, o);
  ::unsetenv("SOURCE_DATE_EPOCH");
  EXPECT_NE(out.find("--layers --timestamp 1700000000 --cache-from r.example:5000/team/app-cache --cache-to "
                     "r.example:5000/team/app-cache --target final --file "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("org.opencontainers.image.created=2023-11-14T22:13:20Z"), std::string::npos) << out;
  o.cache_to = "r.example:5000/team/app-cache:tag";
  EXPECT_THROW(f.run_build(fake, o), imgf::Error);
  testing::internal::GetCapturedStdout();
}

TEST(BuildInputsRun, LocalSourceTimeIsTheLastCommitTouchingItsDirectory) {
  Fixture f;
  imgf::proc::SystemRunner sys;
  auto git = [&](std::vector<std::string> args, const std::string& date = "") {
    Spec s;
    s.argv = {"git", "-C", f.state.string(), "-c", "user.name=t", "-c", "user.email=t@example"};
    s.argv.insert(s.argv.end(), args.begin(), args.end());
    if (!date.empty()) s.env_set = {{"GIT_COMMITTER_DATE", date}, {"GIT_AUTHOR_DATE", date}};
    auto r = sys.run(s);
    EXPECT_TRUE(r.ok()) << r.err;
    return r.out;
  };
  git({"init", "-q"});
  git({"add", "."});
  git({"commit", "-qm", "app"}, "2024-01-02T03:04:05Z");
  std::string app_commit = git({"rev-parse", "HEAD"});
  app_commit.pop_back();
  f.dir.write("state/images/app.yaml", "name: app\n");
  git({"add", "."});
  git({"commit", "-qm", "state only"}, "2025-06-07T08:09:10Z");
  auto c = imgf::inputs::last_commit_touching({f.state / "app"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->revision, app_commit);
  EXPECT_EQ(c->time, 1704164645);
  auto whole = imgf::inputs::last_commit_touching({f.state});
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->time, 1749283750);
  EXPECT_FALSE(imgf::inputs::last_commit_touching({f.temp}));

  Fake fake;
  fake.served["r.example:5000/team/base:1.0"] = f.base_v1;
  f.run_build(fake, app());
  auto ts = std::find(fake.build_argv.begin(), fake.build_argv.end(), "--timestamp");
  ASSERT_NE(ts, fake.build_argv.end());
  EXPECT_EQ(*(ts + 1), "1704164645");
  EXPECT_NE(fake.last_dockerfile.find("org.opencontainers.image.revision=\"" + app_commit + "\""), std::string::npos)
      << fake.last_dockerfile;
  EXPECT_NE(fake.last_dockerfile.find("org.opencontainers.image.created=\"2024-01-02T03:04:05Z\""), std::string::npos);
}

TEST(BuildInputsRun, SeveralImagesAskTheirRegistryQuestionsOnce) {
  Fixture f;
  Fake fake;
  fake.served["r.example:5000/team/base:1.0"] = f.base_v1;
  Options o = app(true);
  o.more_images = {"two", "app"};
  int rc = -1;
  std::string out = f.run_build(fake, o, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  RecordingRunner* r = nullptr;
  out = f.run_build(fake, o, &rc, &r);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(count(*r, "buildah"), 0);
  EXPECT_EQ(count(*r, "skopeo"), 3) << "one base and two pushed tags, each asked once";
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  EXPECT_NE(out.find(R"("image":"two")"), std::string::npos);
  // One failing image does not stop the other; the exit code says it.
  f.dir.write("state/two/Dockerfile", "FROM r.example:5000/team/missing:1\nRUN false\n");
  fake.served.erase("r.example:5000/team/app:latest");
  o.if_changed = false;
  int code = 0;
  RecordingRunner failing([&](const Spec& s) {
    auto res = fake(s);
    if (s.argv[0] == "buildah" && s.argv[1] == "build")
      for (const auto& w : s.argv)
        if (w.find("imgfactory-build-two-") != std::string::npos) res.exit_code = 1;
    return res;
  });
  testing::internal::CaptureStdout();
  code = run_many(o, f.context(failing));
  out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find(R"("image":"app")"), std::string::npos) << "app was built after two failed: " << out;
}
