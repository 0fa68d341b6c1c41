#include "imgfactory/enrollment.hpp"

#include <gtest/gtest.h>

#include "imgfactory/error.hpp"
#include "imgfactory/state_fields.hpp"
#include "testutil.hpp"

using namespace imgf::enrollment;

namespace {
// Expects parse() to fail with exit 2 at `line` and a message containing `needle`.
void expect_error(const std::string& yaml, int line, const std::string& needle) {
  try {
    parse(yaml, "images.yaml");
    ADD_FAILURE() << "accepted: " << yaml;
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(e.file(), "images.yaml");
    EXPECT_EQ(e.line(), line) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(Enrollment, ParsesTheOriginalFormat) {
  auto e = parse(R"(# comment
- name: backstage
  registry: ghcr.io
  repository: craigedmunds/backstage
  source:
    provider: github  # github or gitlab
    repo: craigedmunds/argocd-eda
    branch: main
    dockerfile: backstage/app/packages/backend/Dockerfile
    workflow: backstage.yml
  rebuildDelay: 12h
  autoRebuild: false
  updates:
    - repo: a/b
      path: infra/kustomization.yaml
      type: kustomize-set-image
- name: node
  registry: docker.io
  repository: library/node
  allowTags: ^22-bookworm-slim$
  imageSelectionStrategy: Lexical
- name: app
  registry: 127.0.0.1:5000
  repository: team/app
  local:
    dir: apps/app
    patchFiles: [patches/a.patch]
    versionFile: apps/app/VERSION
)",
                 "images.yaml");
  ASSERT_EQ(e.images.size(), 3u);
  const Image& b = e.get("backstage");
  EXPECT_EQ(b.line, 2);
  ASSERT_TRUE(b.source);
  EXPECT_EQ(b.source->url(), "https://github.com/craigedmunds/argocd-eda.git");
  EXPECT_EQ(b.rebuild_delay_seconds.count(), 12 * 3600);
  EXPECT_FALSE(b.auto_rebuild);
  EXPECT_TRUE(b.managed());
  EXPECT_EQ(b.updates.size(), 1u);
  EXPECT_FALSE(e.get("node").managed());
  EXPECT_EQ(e.get("node").allow_tags, "^22-bookworm-slim$");
  const Image& a = e.get("app");
  ASSERT_TRUE(a.local);
  EXPECT_EQ(a.local->dockerfile, "Dockerfile");
  EXPECT_EQ(a.local->patch_files, std::vector<std::string>{"patches/a.patch"});
  EXPECT_EQ(a.repository_url(), "127.0.0.1:5000/team/app");
}

TEST(Enrollment, RefusesBadInputWithFileAndLine) {
  expect_error("- name: a\n  repository: x\n- name: a\n  repository: y\n", 3, "duplicate image name 'a'");
  expect_error("- registry: ghcr.io\n  repository: x\n", 1, "has no name");
  expect_error("- name: ../etc\n  repository: x\n", 1, "not a safe file name");
  expect_error("- name: a\n  repository: x\n  rebuildDelay: 7 days\n", 3, "not a duration");
  expect_error("- name: a\n  registry: 'bad host!'\n  repository: x\n", 2, "not a valid registry");
  expect_error("- name: a\n  repository: Team/App\n", 2, "not a valid repository");
  expect_error("- name: a\n  repository: x\n  autoRebuild: maybe\n", 3, "true or false");
  expect_error("- name: a\n  repository: x\n  source: github\n", 3, "source must be a mapping");
  expect_error("- name: a\n  repository: x\n  allowTags: '^(v1'\n", 3, "not a valid regular expression");
  expect_error("- name: [a]\n  repository: x\n", 1, "name must be a string");
  expect_error("- name: a\n  repository: x\n  local:\n    dir: ../outside\n", 4, "inside the state repository");
  expect_error("- name: a\n  repository: x\n  source:\n    repo: o/r\n    dockerfile: /etc/passwd\n", 5,
               "relative path");
  expect_error("- name: a\n  repository: x\n  imageSelectionStrategy: Newest\n", 3, "one of SemVer");
  expect_error("- name: a\n  repository: x\n   bad: indent\n", 3, "invalid YAML");
}

TEST(Enrollment, RebuildDelay) {
  auto delay = [](const std::string& d) {
    return parse("- name: a\n  repository: x\n  rebuildDelay: " + d + "\n", "images.yaml").images[0].rebuild_delay_seconds;
  };
  EXPECT_EQ(delay("30m").count(), 1800);
  EXPECT_EQ(delay("12h").count(), 43200);
  EXPECT_EQ(delay("7d").count(), 604800);
  EXPECT_EQ(delay("2w").count(), 1209600);
  EXPECT_EQ(delay("1d12h").count(), 129600);  // the one duration grammar (duration_test)
  EXPECT_EQ(parse("- name: a\n  repository: x\n", "images.yaml").images[0].rebuild_delay_seconds.count(), 604800);
  // A bare number is refused here (7 what?); the message names the value and the line.
  expect_error("- name: a\n  repository: x\n  rebuildDelay: 7\n", 3, "rebuildDelay '7' is not a duration");
  expect_error("- name: a\n  repository: x\n  rebuildDelay: d\n", 3, "not a duration");
  expect_error("- name: a\n  repository: x\n  rebuildDelay: -1d\n", 3, "not a duration");
  expect_error("- name: a\n  repository: x\n  rebuildDelay: 1y\n", 3, "not a duration");
}

TEST(Enrollment, UnknownImageListsEnrolledNames) {
  auto e = parse("- name: a\n  repository: x\n- name: b\n  repository: y\n", "images.yaml");
  try {
    (void)e.get("zzz");
    FAIL();
  } catch (const imgf::Error& err) {
    EXPECT_EQ(err.exit_code(), 2);
    EXPECT_NE(std::string(err.what()).find("enrolled images: a, b"), std::string::npos);
  }
}

TEST(Enrollment, LoadsTheOriginalFixture) {
  IMGF_REQUIRE_SHARED(shared);
  auto e = load(shared / "fixtures/image-factory-state/images.yaml");
  EXPECT_GE(e.images.size(), 5u);
  EXPECT_TRUE(e.find("backstage"));
  auto layout = layout_for(shared / "fixtures/image-factory-state");
  EXPECT_EQ(layout.images_dir, shared / "fixtures/image-factory-state/state/images");
}

TEST(StateFields, ReplacesAndAppendsKeepingComments) {
  std::string text =
      "# header\nname: a\n\n# Current published state\ncurrentVersion: 0.6.5\ncurrentDigest: "
      "sha256:old\nlastBuilt: '2024-12-03T12:00:00Z'\n\nbaseImages:\n  - x\n  - y\n# tail\n";
  using imgf::state::FieldValue;
  std::string out = imgf::state::set_top_level_fields(
      text, {{"currentVersion", {imgf::state::yaml_scalar("1.0.0")}},
             {"lastBuilt", {imgf::state::yaml_timestamp("2026-01-01T00:00:00Z")}},
             {"baseImages", {"  - z", true}},
             {"lastScan", {"  at: '2026-01-01T00:00:00Z'\n  critical: 0", true}}});
  EXPECT_EQ(out,
            "# header\nname: a\n\n# Current published state\ncurrentVersion: 1.0.0\ncurrentDigest: "
            "sha256:old\nlastBuilt: '2026-01-01T00:00:00Z'\n\nbaseImages:\n  - z\n# tail\n"
            "lastScan:\n  at: '2026-01-01T00:00:00Z'\n  critical: 0\n");
  EXPECT_EQ(imgf::state::yaml_scalar("yes"), "'yes'");
  EXPECT_EQ(imgf::state::yaml_scalar("sha256:abc"), "'sha256:abc'");
  EXPECT_EQ(imgf::state::yaml_scalar("it's"), "'it''s'");
  EXPECT_EQ(imgf::state::yaml_scalar("v1.2.3"), "v1.2.3");
}

TEST(StateFields, UpdateImageStateCreatesAndIsIdempotent) {
  imgf::test::TempDir dir;
  auto layout = layout_for(dir.path());
  using imgf::state::FieldValue;
  EXPECT_TRUE(imgf::state::update_image_state(layout, "app", {{"currentVersion", {"1.0.0"}}}));
  EXPECT_FALSE(imgf::state::update_image_state(layout, "app", {{"currentVersion", {"1.0.0"}}}));
  EXPECT_EQ(imgf::test::read_file(layout.image_state("app")),
            "# Auto-generated by Image Factory\n# This file tracks the state of the app image\nname: "
            "app\ncurrentVersion: 1.0.0\n");
}

// platforms: per image (issue 10): the build's default platform list.
TEST(Enrollment, Platforms) {
  auto e = parse("- name: a\n  repository: x\n  platforms: [linux/amd64, linux/arm/v7]\n- name: b\n  repository: y\n",
                 "images.yaml");
  EXPECT_EQ(e.get("a").platforms, (std::vector<std::string>{"linux/amd64", "linux/arm/v7"}));
  EXPECT_EQ(e.get("a").platforms_line, 3);
  EXPECT_TRUE(e.get("b").platforms.empty()) << "absent: build's default, linux/amd64 + linux/arm64";
  expect_error("- name: a\n  repository: x\n  platforms: linux/amd64\n", 3, "must be a non-empty list");
  expect_error("- name: a\n  repository: x\n  platforms: []\n", 3, "must be a non-empty list");
  expect_error("- name: a\n  repository: x\n  platforms:\n    - linux/amd64\n    - windows/amd64\n", 5,
               "platform 'windows/amd64' is not one buildah builds");
  expect_error("- name: a\n  repository: x\n  platforms:\n    - linux/arm64\n    - linux/arm64\n", 5,
               "listed twice");
  expect_error("- name: a\n  repository: x\n  platforms: [linux/amd64, \"\"]\n", 3, "must not be empty");
}
