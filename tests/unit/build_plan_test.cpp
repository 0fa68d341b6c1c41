// The pure half of `imgfactory build`: platforms, tags, version bumps, durations, the plan's
// exact argv, manifest-list parsing and error classification.
#include <gtest/gtest.h>

#include "imgfactory/builder.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/reference.hpp"

using namespace imgf::builder;
using Argv = std::vector<std::string>;

namespace {

int exit_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const imgf::Error& e) {
    return e.exit_code();
  }
  return 0;
}

PlanInput sample_input() {
  PlanInput in;
  in.image_name = "app";
  in.reference = "127.0.0.1:5000/team/app:1.2.3";
  in.tag = "1.2.3";
  in.platforms = {Platform{"linux", "amd64", ""}, Platform{"linux", "arm64", ""}};
  in.workspace = "/ws";
  in.dockerfile = "/ws/src/Dockerfile";
  in.context = "/ws/src";
  in.build_args = {{"BASE", "127.0.0.1:5000/base:1"}};
  in.labels = oci_labels("https://git.example/app.git", "abc123", "2026-01-02T03:04:05Z", "1.2.3", "app");
  return in;
}

}  // namespace

TEST(BuildPlatform, ParsesAndFormats) {
  auto p = parse_platform("linux/arm/v7");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->str(), "linux/arm/v7");
  EXPECT_EQ(p->slug(), "linux-arm-v7");
  EXPECT_FALSE(parse_platform("linux"));
  EXPECT_FALSE(parse_platform("Linux/AMD64"));
  EXPECT_FALSE(parse_platform("linux/amd64/v1/x"));
  EXPECT_FALSE(parse_platform("linux//v1"));
}

TEST(BuildPlatform, DefaultsListsAndErrors) {
  auto d = parse_platforms({});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].str(), "linux/amd64");
  EXPECT_EQ(d[1].str(), "linux/arm64");
  auto l = parse_platforms({"linux/arm64, linux/amd64", "linux/s390x"});
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].str(), "linux/arm64");
  EXPECT_EQ(l[2].str(), "linux/s390x");
  EXPECT_EQ(exit_of([] { parse_platforms({"linux/amd64,bogus"}); }), 2);
  EXPECT_EQ(exit_of([] { parse_platforms({"linux/amd64", "linux/amd64"}); }), 2);
}

TEST(BuildPlatform, HostMachines) {
  EXPECT_EQ(platform_for_machine("x86_64")->str(), "linux/amd64");
  EXPECT_EQ(platform_for_machine("aarch64")->str(), "linux/arm64");
  EXPECT_EQ(platform_for_machine("armv7l")->str(), "linux/arm/v7");
  EXPECT_FALSE(platform_for_machine("pdp11"));
}

TEST(BuildVersion, BumpsLikeTheOriginal) {
  EXPECT_EQ(bump_version("0.1.15", Increment::patch), "0.1.16");
  EXPECT_EQ(bump_version("0.1.15", Increment::minor), "0.2.0");
  EXPECT_EQ(bump_version("0.1.15", Increment::major), "1.0.0");
  EXPECT_EQ(bump_version("1.2", Increment::patch), "1.2.1");
  EXPECT_EQ(bump_version("v1.9.9", Increment::minor), "v1.10.0");
  EXPECT_EQ(bump_version("1.2.3-draft-feature-x", Increment::patch), "1.2.4");
  EXPECT_EQ(bump_version("1.2.3+build.5\n", Increment::patch), "1.2.4");
  EXPECT_EQ(exit_of([] { bump_version("latest", Increment::patch); }), 2);
  EXPECT_EQ(exit_of([] { bump_version("1.2.3.4", Increment::patch); }), 2);
  EXPECT_EQ(version_suffix("Feature/New_UI"), "-feature-new-ui");
}

TEST(BuildVersion, TagPrecedence) {
  EXPECT_EQ(resolve_tag({}), "latest");
  EXPECT_EQ(resolve_tag({.version_file = "2.0.1\n"}), "2.0.1");
  EXPECT_EQ(resolve_tag({.explicit_tag = "x1", .version_file = "2.0.1"}), "x1");
  EXPECT_EQ(resolve_tag({.version_file = "2.0.1", .current_version = "2.3.4", .increment = Increment::patch}), "2.3.5");
  EXPECT_EQ(resolve_tag({.version_file = "2.0.1", .increment = Increment::minor}), "2.1.0");
  EXPECT_EQ(resolve_tag({.increment = Increment::patch}), "0.0.1");
  EXPECT_EQ(resolve_tag({.version_file = "2.0.1", .suffix = "rc1"}), "2.0.1-rc1");
  EXPECT_EQ(exit_of([] { resolve_tag({.explicit_tag = "1", .increment = Increment::patch}); }), 2);
  EXPECT_EQ(exit_of([] { resolve_tag({.explicit_tag = "no/slash"}); }), 2);
  EXPECT_EQ(exit_of([] { resolve_tag({.version_file = "-bad"}); }), 2);
}

TEST(BuildValues, BuildArgs) {
  EXPECT_EQ(parse_build_arg("A=b=c"), (std::pair<std::string, std::string>{"A", "b=c"}));
  EXPECT_EQ(parse_build_arg("EMPTY="), (std::pair<std::string, std::string>{"EMPTY", ""}));
  EXPECT_EQ(exit_of([] { parse_build_arg("novalue"); }), 2);
  EXPECT_EQ(exit_of([] { parse_build_arg("=x"); }), 2);
  EXPECT_EQ(exit_of([] { parse_build_arg("A B=x"); }), 2);
}

TEST(BuildPlan, PushPlanHasTheExactArgvInStages) {
  Plan plan = make_plan(sample_input());
  ASSERT_EQ(plan.stages.size(), 5u);
  EXPECT_EQ(plan.list, "127.0.0.1:5000/team/app:1.2.3");

  const Stage& prepare = plan.stages[0];
  EXPECT_FALSE(prepare.parallel);
  ASSERT_EQ(prepare.steps.size(), 2u);
  EXPECT_EQ(prepare.steps[0].argv, (Argv{"buildah", "manifest", "rm", "127.0.0.1:5000/team/app:1.2.3"}));
  EXPECT_TRUE(prepare.steps[0].may_fail);
  EXPECT_EQ(prepare.steps[1].argv, (Argv{"buildah", "manifest", "create", "127.0.0.1:5000/team/app:1.2.3"}));

  const Stage& build = plan.stages[1];
  EXPECT_TRUE(build.parallel);
  ASSERT_EQ(build.steps.size(), 2u);
  EXPECT_EQ(build.steps[1].label, "linux/arm64");
  EXPECT_EQ(build.steps[1].argv,
            (Argv{"buildah", "build", "--isolation", "chroot", "--platform", "linux/arm64", "--layers", "--file",
                  "/ws/src/Dockerfile", "--tag", "localhost/imgfactory-build/team/app:1.2.3-linux-arm64",
                  "--build-arg", "BASE=127.0.0.1:5000/base:1", "--label",
                  "org.opencontainers.image.source=https://git.example/app.git", "--label",
                  "org.opencontainers.image.revision=abc123", "--label",
                  "org.opencontainers.image.created=2026-01-02T03:04:05Z", "--label",
                  "org.opencontainers.image.version=1.2.3", "--label", "org.opencontainers.image.title=app",
                  "/ws/src"}));

  const Stage& assemble = plan.stages[2];
  EXPECT_FALSE(assemble.parallel);
  ASSERT_EQ(assemble.steps.size(), 2u);
  EXPECT_EQ(assemble.steps[0].argv,
            (Argv{"buildah", "manifest", "add", "127.0.0.1:5000/team/app:1.2.3",
                  "containers-storage:localhost/imgfactory-build/team/app:1.2.3-linux-amd64"}));

  const Stage& push = plan.stages[3];
  ASSERT_EQ(push.steps.size(), 1u);
  EXPECT_TRUE(push.steps[0].retry);
  EXPECT_EQ(push.steps[0].produces, "/ws/manifest-list.digest");
  EXPECT_EQ(push.steps[0].argv,
            (Argv{"buildah", "manifest", "push", "--all", "--digestfile", "/ws/manifest-list.digest",
                  "127.0.0.1:5000/team/app:1.2.3", "docker://127.0.0.1:5000/team/app:1.2.3"}));
  EXPECT_EQ(plan.digest_file, "/ws/manifest-list.digest");

  const Stage& inspect = plan.stages[4];
  EXPECT_TRUE(inspect.steps[0].capture);
  EXPECT_TRUE(inspect.steps[0].retry);
  EXPECT_EQ(inspect.steps[0].argv, (Argv{"skopeo", "inspect", "--raw", "docker://127.0.0.1:5000/team/app:1.2.3"}));

  ASSERT_EQ(plan.on_failure.size(), 1u);
  EXPECT_EQ(plan.on_failure[0].argv, (Argv{"buildah", "manifest", "rm", "127.0.0.1:5000/team/app:1.2.3"}));
}

TEST(BuildPlan, NoPushReadsTheLocalList) {
  PlanInput in = sample_input();
  in.push = false;
  in.isolation = "oci";
  Plan plan = make_plan(in);
  ASSERT_EQ(plan.stages.size(), 4u);
  for (const auto& st : plan.stages)
    for (const auto& s : st.steps) EXPECT_NE(s.kind, Step::Kind::push);
  EXPECT_EQ(plan.stages[1].steps[0].argv[3], "oci");
  EXPECT_EQ(plan.stages[3].steps[0].argv, (Argv{"buildah", "manifest", "inspect", "127.0.0.1:5000/team/app:1.2.3"}));
  EXPECT_TRUE(plan.digest_file.empty());
}

TEST(BuildPlan, LocalBuildsOnePlatformWithoutAList) {
  PlanInput in = sample_input();
  in.local = true;
  in.push = false;
  in.reference = "localhost/team/app:local";
  in.platforms = {Platform{"linux", "amd64", ""}};
  Plan plan = make_plan(in);
  EXPECT_TRUE(plan.list.empty());
  EXPECT_TRUE(plan.on_failure.empty());
  ASSERT_EQ(plan.stages.size(), 2u);
  const Argv& b = plan.stages[0].steps[0].argv;
  EXPECT_EQ(b[9], "--tag");
  EXPECT_EQ(b[10], "localhost/team/app:local");
  EXPECT_EQ(plan.stages[1].steps[0].argv,
            (Argv{"buildah", "inspect", "--type", "image", "--format", "{{.FromImageDigest}}", "localhost/team/app:local"}));
  in.platforms.push_back(Platform{"linux", "arm64", ""});
  EXPECT_EQ(exit_of([&] { make_plan(in); }), 2);
}

TEST(BuildPlan, PlatformImageTagsStayValid) {
  PlanInput in = sample_input();
  in.tag = std::string(125, 'v');
  in.reference = "reg.example/team/app:" + in.tag;
  std::string image = platform_image(in, Platform{"linux", "arm", "v7"});
  std::string tag = image.substr(image.rfind(':') + 1);
  EXPECT_TRUE(imgf::reference::is_valid_tag(tag)) << tag;
  EXPECT_EQ(image.rfind("localhost/imgfactory-build/team/app:", 0), 0u);
  EXPECT_TRUE(tag.ends_with("-linux-arm-v7"));
}

TEST(BuildPlan, TextRenderingIsOneArgvPerLine) {
  std::string text = render_plan_text(make_plan(sample_input()), 1);
  EXPECT_NE(text.find("# build (in parallel, 1 at a time)\n"), std::string::npos);
  EXPECT_NE(text.find("\nbuildah manifest create 127.0.0.1:5000/team/app:1.2.3\n"), std::string::npos);
  EXPECT_NE(text.find("\nbuildah manifest rm 127.0.0.1:5000/team/app:1.2.3  # may fail\n"), std::string::npos);
  EXPECT_NE(text.find("--label org.opencontainers.image.title=app /ws/src\n"), std::string::npos);
  EXPECT_NE(text.find("\nskopeo inspect --raw docker://127.0.0.1:5000/team/app:1.2.3  # retried"), std::string::npos);
  EXPECT_NE(text.find("# on failure or interruption\nbuildah manifest rm"), std::string::npos);
  std::string json = render_plan_json(make_plan(sample_input()), 0);
  EXPECT_NE(json.find("\"parallel\": true"), std::string::npos);
  EXPECT_NE(json.find("\"onFailure\""), std::string::npos);
}

TEST(BuildResult, ParsesOciIndexAndDockerList) {
  auto oci = parse_manifest_list(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
        {"digest":"sha256:aa","platform":{"architecture":"amd64","os":"linux"}},
        {"digest":"sha256:bb","platform":{"architecture":"arm","os":"linux","variant":"v7"}}]})");
  EXPECT_EQ(oci, (std::vector<PlatformDigest>{{"linux/amd64", "sha256:aa"}, {"linux/arm/v7", "sha256:bb"}}));
  auto docker = parse_manifest_list(
      R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
          "manifests":[{"mediaType":"x","size":1,"digest":"sha256:cc","platform":{"architecture":"arm64","os":"linux"}}]})");
  EXPECT_EQ(docker, (std::vector<PlatformDigest>{{"linux/arm64", "sha256:cc"}}));
  EXPECT_EQ(exit_of([] { parse_manifest_list(R"({"schemaVersion":2,"config":{}})"); }), 1);
  EXPECT_EQ(exit_of([] { parse_manifest_list("not json"); }), 1);
}

TEST(BuildResult, TransientRegistryErrors) {
  EXPECT_TRUE(is_transient_registry_error("dial tcp 127.0.0.1:5000: connect: connection refused"));
  EXPECT_TRUE(is_transient_registry_error("writing blob: Patch \"http://r/v2/\": read: connection reset by peer"));
  EXPECT_TRUE(is_transient_registry_error("received unexpected HTTP status: 503 Service Unavailable"));
  EXPECT_TRUE(is_transient_registry_error("toomanyrequests: Too Many Requests"));
  EXPECT_TRUE(is_transient_registry_error("net/http: TLS handshake timeout"));
  EXPECT_TRUE(is_transient_registry_error("unexpected EOF"));
  EXPECT_FALSE(is_transient_registry_error("unauthorized: authentication required"));
  EXPECT_FALSE(is_transient_registry_error("requested access to the resource is denied"));
  EXPECT_FALSE(is_transient_registry_error("manifest unknown: manifest unknown"));
  EXPECT_FALSE(is_transient_registry_error("x509: certificate signed by unknown authority"));
  EXPECT_FALSE(is_transient_registry_error("image sha256:5025029b502c not known"));
  // skopeo --command-timeout expiring (registry queries of build inputs)
  EXPECT_TRUE(is_transient_registry_error("pinging container registry: Get \"http://r/v2/\": context deadline exceeded"));
}

TEST(BuildResult, JsonAndText) {
  Result r{"app", "r.example/t/app:1", "1", "sha256:ff", {{"linux/amd64", "sha256:aa"}}, true};
  r.tags = {"1", "latest"};
  EXPECT_EQ(render_result_json(r),
            R"({"image":"app","reference":"r.example/t/app:1","tag":"1","digest":"sha256:ff",)"
            R"("platforms":[{"platform":"linux/amd64","digest":"sha256:aa"}],"pushed":true,"skipped":false,)"
            R"("tags":["1","latest"]})"
            "\n");
  EXPECT_EQ(render_result_text(r), "pushed r.example/t/app:1@sha256:ff\n  linux/amd64  sha256:aa\n  also tagged latest\n");
  r.tags.clear();
  Result skipped = r;
  skipped.pushed = false;
  skipped.skipped = true;
  EXPECT_NE(render_result_json(skipped).find(R"("pushed":false,"skipped":true,"tags":[]})"), std::string::npos);
  EXPECT_EQ(render_result_text(skipped), "unchanged, not built: r.example/t/app:1@sha256:ff\n  linux/amd64  sha256:aa\n");
  r.digest.clear();
  r.pushed = false;
  EXPECT_NE(render_result_json(r).find(R"("digest":null)"), std::string::npos);
  EXPECT_EQ(render_result_text(r), "built r.example/t/app:1\n  linux/amd64  sha256:aa\n");
}

// The original pushes every build as its version and as `latest`: the second tag is the same
// manifest list, copied in the registry with its digests preserved, after the read-back.
TEST(BuildPlan, AlsoTagsCopyTheListAfterTheReadBack) {
  PlanInput in = sample_input();
  in.also_tags = {"latest"};
  Plan p = make_plan(in);
  ASSERT_GE(p.stages.size(), 2u);
  const Stage& last = p.stages.back();
  EXPECT_EQ(last.name, "tag");
  ASSERT_EQ(last.steps.size(), 1u);
  EXPECT_EQ(last.steps[0].argv, (std::vector<std::string>{"skopeo", "copy", "--all", "--preserve-digests",
                                                          "docker://127.0.0.1:5000/team/app:1.2.3",
                                                          "docker://127.0.0.1:5000/team/app:latest"}));
  EXPECT_TRUE(last.steps[0].retry);
  EXPECT_EQ(p.stages[p.stages.size() - 2].name, "inspect") << "after the digest was read back";
  in.push = false;
  for (const auto& st : make_plan(in).stages) EXPECT_NE(st.name, "tag") << "nothing pushed: nothing tagged";
  const auto labels = oci_labels("u", "", "", "1", "app", "app (built by image-factory)");
  EXPECT_EQ(labels.back(), (std::pair<std::string, std::string>{"org.opencontainers.image.description",
                                                                 "app (built by image-factory)"}));
}
