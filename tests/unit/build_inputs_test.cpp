// Build inputs, the pure half: --base parsing, the external images a Dockerfile uses, the
// pinning rewrite, the buildInputs record (render, parse, fingerprint, differences), time.
#include <gtest/gtest.h>

#include "imgfactory/build_inputs.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/state_fields.hpp"
#include "testutil.hpp"

using namespace imgf::inputs;

namespace {

imgf::dockerfile::Options for_platform(const std::string& p, std::map<std::string, std::string> args = {},
                                       std::string target = {}) {
  imgf::dockerfile::Options o;
  o.platforms = {p};
  o.build_args = std::move(args);
  o.target = std::move(target);
  return o;
}

const std::string kD1 = "sha256:" + std::string(64, '1');
const std::string kD2 = "sha256:" + std::string(64, '2');
const std::string kD3 = "sha256:" + std::string(64, '3');

// digest_for that pins every use of `repository` (canonical) to `digest`.
std::function<std::optional<std::string>(const ImageUse&)> pin_repo(std::map<std::string, std::string> digests) {
  return [digests](const ImageUse& u) -> std::optional<std::string> {
    auto it = digests.find(u.ref.repository_url());
    if (it == digests.end()) return std::nullopt;
    return it->second;
  };
}

BuildInputs sample() {
  BuildInputs in;
  in.base_images.push_back(BaseInput{"python-3.12-slim", "docker.io/library/python:3.12-slim", kD1,
                                     {{"linux/arm64", kD3}, {"linux/amd64", kD2}}});
  in.base_images.push_back(BaseInput{"alpine-3.19", "docker.io/library/alpine:3.19", kD2, {}});
  in.source_revision = "0123456789abcdef0123456789abcdef01234567";
  in.source_date_epoch = 1735488306;
  in.local_content_sha256 = std::string(64, 'a');
  in.dockerfile = "Dockerfile";
  in.build_args = {{"Z", "1"}, {"A", "x: y"}, {"Z", "2"}};
  in.platforms = {"linux/amd64", "linux/arm64"};
  return in;
}

}  // namespace

// --- --base ------------------------------------------------------------------------------------------

TEST(BaseOption, EmptyIsIgnoredDigestIsRequired) {
  EXPECT_FALSE(parse_base_option(""));
  EXPECT_FALSE(parse_base_option("   "));
  auto r = parse_base_option("python:3.12-slim@" + kD1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repository_url(), "docker.io/library/python");
  EXPECT_EQ(r->digest, kD1);
  EXPECT_EQ(imgf::test::exit_code_of([] { parse_base_option("python:3.12-slim"); }), 2);
  EXPECT_EQ(imgf::test::exit_code_of([] { parse_base_option("Not A Ref@sha256:1"); }), 2);
}

// --- uses -----------------------------------------------------------------------------------------------

TEST(ImageUses, FromCopyAndMountExternalImagesOnly) {
  const std::string df =
      "ARG BASE=python:3.12-slim\n"
      "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
      "RUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=alpine:3.19,target=/a true\n"
      "FROM ${BASE}\n"
      "COPY --from=build /out /out\n"
      "COPY --from=0 /out /out2\n"
      "COPY --from=busybox:1.36 /bin/busybox /bin/\n"
      "RUN --mount=from=build,target=/b true\n"
      "FROM scratch AS empty\n";
  auto uses = image_uses(df, "Dockerfile", for_platform("linux/amd64"));
  ASSERT_EQ(uses.size(), 4u);
  EXPECT_EQ(uses[0].kind, UseKind::from);
  EXPECT_EQ(uses[0].line, 2);
  EXPECT_EQ(uses[0].ref.canonical(), "docker.io/library/golang:1.22");
  EXPECT_EQ(uses[1].kind, UseKind::mount_from);
  EXPECT_EQ(uses[1].resolved, "alpine:3.19");
  EXPECT_EQ(uses[2].kind, UseKind::from);
  EXPECT_EQ(uses[2].written, "${BASE}");
  EXPECT_EQ(uses[2].resolved, "python:3.12-slim");
  EXPECT_EQ(uses[3].kind, UseKind::copy_from);
  EXPECT_EQ(uses[3].line, 7);
  // The platform each image is used for: the build machine's for FROM --platform=$BUILDPLATFORM
  // (and what that stage mounts), else the target's.
  auto arm = image_uses(df, "Dockerfile", for_platform("linux/arm64"));
  ASSERT_EQ(arm.size(), 4u);
  EXPECT_EQ(arm[0].platform, imgf::dockerfile::host_platform());
  EXPECT_EQ(arm[1].platform, imgf::dockerfile::host_platform());
  EXPECT_EQ(arm[2].platform, "linux/arm64");
  EXPECT_EQ(arm[3].platform, "linux/arm64");
  // A build arg changes what FROM resolves to; --target drops the later stages.
  auto other = image_uses(df, "Dockerfile", for_platform("linux/amd64", {{"BASE", "debian:12"}}, "build"));
  ASSERT_EQ(other.size(), 2u);
  EXPECT_EQ(other[1].resolved, "alpine:3.19");
}

// --- pinning -----------------------------------------------------------------------------------------

TEST(Pin, RewritesFromKeepingFlagsStageNameAndLineNumbers) {
  const std::string df =
      "# syntax=docker/dockerfile:1\n"
      "ARG BASE=127.0.0.1:5000/team/base:1.0\n"
      "FROM --platform=$TARGETPLATFORM ${BASE} AS run\n"
      "FROM \\\n"
      "  golang:1.22 \\\n"
      "  AS build\n"
      "RUN echo hi\n"
      "FROM run\n"
      "COPY --from=build /x /x\n";
  auto r = pin(df, "Dockerfile", for_platform("linux/arm64"),
               pin_repo({{"127.0.0.1:5000/team/base", kD1}, {"docker.io/library/golang", kD2}}));
  EXPECT_EQ(r.content,
            "# syntax=docker/dockerfile:1\n"
            "ARG BASE=127.0.0.1:5000/team/base:1.0\n"
            "FROM --platform=$TARGETPLATFORM 127.0.0.1:5000/team/base@" + kD1 + " AS run\n"
            "FROM docker.io/library/golang@" + kD2 + " AS build\n"
            "\n"
            "\n"
            "RUN echo hi\n"
            "FROM run\n"
            "COPY --from=build /x /x\n");
  ASSERT_EQ(r.pinned.size(), 2u);
  EXPECT_TRUE(r.unpinned.empty());
  // The rewritten file still parses, and resolves to the pinned references.
  auto again = image_uses(r.content, "Dockerfile", for_platform("linux/arm64"));
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].ref.digest, kD1);
  EXPECT_EQ(again[1].ref.digest, kD2);
  EXPECT_EQ(again[1].line, 4);
}

TEST(Pin, CopyFromAndMountFromValuesReplacedInPlace) {
  const std::string df =
      "FROM alpine:3.19\n"
      "COPY --from=\"busybox:1.36\" --chown=0:0 /bin/busybox /bin/\n"
      "COPY --link --from=busybox:1.36 /bin/sh /bin/\n"
      "RUN --mount=type=bind,from=busybox:1.36,target=/bb \\\n"
      "    --mount=from=alpine:3.19,target=/al ls /bb /al\n";
  auto r = pin(df, "Dockerfile", for_platform("linux/amd64"),
               pin_repo({{"docker.io/library/busybox", kD1}, {"docker.io/library/alpine", kD2}}));
  const std::string bb = "docker.io/library/busybox@" + kD1;
  const std::string al = "docker.io/library/alpine@" + kD2;
  EXPECT_EQ(r.content, "FROM " + al + "\n" + "COPY --from=\"" + bb + "\" --chown=0:0 /bin/busybox /bin/\n" +
                           "COPY --link --from=" + bb + " /bin/sh /bin/\n" + "RUN --mount=type=bind,from=" + bb +
                           ",target=/bb \\\n" + "    --mount=from=" + al + ",target=/al ls /bb /al\n");
  EXPECT_EQ(r.pinned.size(), 5u);
  EXPECT_TRUE(r.unpinned.empty());
}

TEST(Pin, NoDigestLeavesTheUseAsWrittenAndSaysSo) {
  const std::string df = "FROM alpine:3.19\nFROM busybox AS b\n";
  auto r = pin(df, "Dockerfile", for_platform("linux/amd64"), pin_repo({{"docker.io/library/busybox", kD1}}));
  EXPECT_EQ(r.content, "FROM alpine:3.19\nFROM docker.io/library/busybox@" + kD1 + " AS b\n");
  ASSERT_EQ(r.unpinned.size(), 1u);
  EXPECT_EQ(r.unpinned[0].resolved, "alpine:3.19");
}

TEST(Pin, PlatformDependentFromGivesOneFilePerPlatform) {
  const std::string df = "ARG TARGETARCH\nFROM 127.0.0.1:5000/base-${TARGETARCH}:1\n";
  auto digests = pin_repo({{"127.0.0.1:5000/base-amd64", kD1}, {"127.0.0.1:5000/base-arm64", kD2}});
  auto amd = pin(df, "Dockerfile", for_platform("linux/amd64"), digests);
  auto arm = pin(df, "Dockerfile", for_platform("linux/arm64"), digests);
  EXPECT_EQ(amd.content, "ARG TARGETARCH\nFROM 127.0.0.1:5000/base-amd64@" + kD1 + "\n");
  EXPECT_EQ(arm.content, "ARG TARGETARCH\nFROM 127.0.0.1:5000/base-arm64@" + kD2 + "\n");
}

TEST(Pin, CrlfLineEndingsAndNoFinalNewlineAreKept) {
  auto r = pin("FROM alpine\r\nRUN true", "Dockerfile", for_platform("linux/amd64"),
               pin_repo({{"docker.io/library/alpine", kD1}}));
  EXPECT_EQ(r.content, "FROM docker.io/library/alpine@" + kD1 + "\r\nRUN true");
}

TEST(Labels, OneLabelInstructionAtTheEndOfTheTargetStageReadingBackExactly) {
  const std::vector<std::pair<std::string, std::string>> labels = {
      {"org.opencontainers.image.source", "https://git.example/a b.git"},
      {"org.opencontainers.image.title", "say \"$HOME\" \\ `x`"}};
  auto out = with_labels("FROM alpine\nRUN true", "Dockerfile", for_platform("linux/amd64"), labels);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "FROM alpine\nRUN true\nLABEL org.opencontainers.image.source=\"https://git.example/a b.git\" "
                  "org.opencontainers.image.title=\"say \\\"\\$HOME\\\" \\\\ `x`\"\n");
  // With `# escape=`` the backtick escapes.
  auto bt = with_labels("# escape=`\nFROM alpine\n", "Dockerfile", for_platform("linux/amd64"), labels);
  ASSERT_TRUE(bt);
  EXPECT_NE(bt->find("title=\"say `\"`$HOME`\" \\ ``x``\""), std::string::npos) << *bt;
  // --target: after the target stage, before the next FROM.
  auto t = with_labels("FROM alpine AS a\nRUN a\nFROM busybox\nRUN b\n", "Dockerfile",
                       for_platform("linux/amd64", {}, "a"), {{"k", "v"}});
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "FROM alpine AS a\nRUN a\nLABEL k=\"v\"\nFROM busybox\nRUN b\n");
  // A value with a newline cannot be one: the caller keeps --label.
  EXPECT_FALSE(with_labels("FROM alpine\n", "Dockerfile", for_platform("linux/amd64"), {{"k", "a\nb"}}));
  // Each written value reads back as given (BuildKit's word expansion).
  imgf::dockerfile::shell::Options o;
  auto ast = imgf::dockerfile::parse(*out, "Dockerfile");
  const auto& label = ast.children.back();
  ASSERT_EQ(label.args.size(), 6u);
  EXPECT_EQ(imgf::dockerfile::shell::process(label.args[4], {}, o).result, labels[1].second);
}

// --- the record -------------------------------------------------------------------------------------

TEST(BuildInputsRecord, RendersCanonicallyAndReadsBack) {
  BuildInputs in = sample();
  std::string block = render_block(in);
  EXPECT_EQ(block,
            "  fingerprint: " + fingerprint(in) + "\n"
            "  baseImages:\n"
            "    - name: alpine-3.19\n"
            "      reference: docker.io/library/alpine:3.19\n"
            "      digest: " + kD2 + "\n"
            "      platforms: {}\n"
            "    - name: python-3.12-slim\n"
            "      reference: docker.io/library/python:3.12-slim\n"
            "      digest: " + kD1 + "\n"
            "      platforms:\n"
            "        linux/amd64: " + kD2 + "\n"
            "        linux/arm64: " + kD3 + "\n"
            "  sourceRevision: 0123456789abcdef0123456789abcdef01234567\n"
            "  sourceDateEpoch: 1735488306\n"
            "  localContentSha256: " + std::string(64, 'a') + "\n"
            "  dockerfile: Dockerfile\n"
            "  context: null\n"
            "  buildArgs:\n"
            "    A: 'x: y'\n"
            "    Z: '2'\n"
            "  platforms:\n"
            "    - linux/amd64\n"
            "    - linux/arm64\n"
            "  target: null\n");
  std::string state = imgf::state::set_top_level_fields(
      "name: app\ncurrentVersion: 1.0.0\ncurrentDigest: 'sha256:x'\nlastBuilt: null\n",
      {{"buildInputs", imgf::state::FieldValue{block, true}}});
  std::string why;
  auto back = parse_recorded(state, &why);
  ASSERT_TRUE(back) << why;
  BuildInputs norm = in;
  normalise(norm);
  for (auto& b : norm.base_images) EXPECT_FALSE(b.name.empty());
  EXPECT_EQ(*back, norm);
  EXPECT_TRUE(differences(*back, in).empty());
  // Replacing the block again leaves one block.
  std::string twice = imgf::state::set_top_level_fields(state, {{"buildInputs", imgf::state::FieldValue{block, true}}});
  EXPECT_EQ(twice, state);
}

TEST(BuildInputsRecord, FingerprintIgnoresOrderButNotValues) {
  BuildInputs a = sample();
  BuildInputs b = sample();
  std::reverse(b.base_images.begin(), b.base_images.end());
  EXPECT_EQ(fingerprint(a), fingerprint(b));
  b.base_images[0].digest = kD3;
  EXPECT_NE(fingerprint(a), fingerprint(b));
  EXPECT_EQ(fingerprint(a).rfind("sha256:", 0), 0u);
}

TEST(BuildInputsRecord, MissingOrMalformedIsExplained) {
  std::string why;
  EXPECT_FALSE(parse_recorded("name: app\n", &why));
  EXPECT_NE(why.find("no buildInputs"), std::string::npos);
  EXPECT_FALSE(parse_recorded("buildInputs:\n  baseImages: 3\n", &why));
  EXPECT_NE(why.find("baseImages"), std::string::npos);
  EXPECT_FALSE(parse_recorded("buildInputs:\n  sourceDateEpoch: yesterday\n", &why));
  EXPECT_FALSE(parse_recorded("[unclosed", &why));
}

TEST(BuildInputsCompare, EachInputCounts) {
  const BuildInputs base = sample();
  EXPECT_TRUE(differences(base, base).empty());
  auto diff_after = [&](const std::function<void(BuildInputs&)>& change) {
    BuildInputs now = base;
    change(now);
    return differences(base, now);
  };
  auto one = [&](const std::function<void(BuildInputs&)>& change, const std::string& says) {
    auto d = diff_after(change);
    ASSERT_EQ(d.size(), 1u) << says;
    EXPECT_NE(d[0].find(says), std::string::npos) << d[0];
  };
  one([](BuildInputs& n) { n.base_images[0].digest = kD3; }, "python:3.12-slim: sha256:111111111111 -> sha256:333333333333");
  one([](BuildInputs& n) { n.base_images[0].digest.clear(); }, "could not be learned");
  one([](BuildInputs& n) { n.base_images.push_back(BaseInput{"x", "docker.io/library/x:1", kD1, {}}); }, "is new");
  one([](BuildInputs& n) { n.base_images.pop_back(); }, "no longer used");
  one([](BuildInputs& n) { n.source_revision = "fedcba"; }, "source revision");
  one([](BuildInputs& n) { n.source_date_epoch = 1; }, "source date epoch");
  one([](BuildInputs& n) { n.local_content_sha256 = std::string(64, 'b'); }, "local content");
  one([](BuildInputs& n) { n.dockerfile = "other/Dockerfile"; }, "dockerfile");
  one([](BuildInputs& n) { n.build_args = {{"A", "x: y"}, {"Z", "3"}}; }, "build args changed: Z");
  one([](BuildInputs& n) { n.platforms = {"linux/amd64"}; }, "platforms: linux/amd64,linux/arm64 -> linux/amd64");
  one([](BuildInputs& n) { n.target = "build"; }, "target");
  // A digest recorded as unknown never matches, even an unknown one now.
  BuildInputs unknown = base;
  unknown.base_images[0].digest.clear();
  EXPECT_FALSE(differences(unknown, unknown).empty());
  // Per-platform digests follow from the index digest: they are recorded, not compared.
  EXPECT_TRUE(diff_after([](BuildInputs& n) { n.base_images[0].platforms.clear(); }).empty());
}

// --- time -------------------------------------------------------------------------------------------------

TEST(BuildInputsTime, EpochAndIso8601) {
  EXPECT_EQ(parse_epoch("1735488306"), 1735488306);
  EXPECT_EQ(parse_epoch("0"), 0);
  EXPECT_FALSE(parse_epoch("-1"));
  EXPECT_FALSE(parse_epoch("12s"));
  EXPECT_FALSE(parse_epoch(""));
  EXPECT_EQ(iso8601_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(iso8601_utc(1735488306), "2024-12-29T16:05:06Z");
  EXPECT_EQ(parse_iso8601_utc("2024-12-29T16:05:06Z"), 1735488306);
  EXPECT_EQ(parse_iso8601_utc("'2024-12-29T16:05:06Z'"), 1735488306);
  EXPECT_EQ(parse_iso8601_utc("2024-12-29T16:05:06.847755+00:00"), 1735488306);
  EXPECT_FALSE(parse_iso8601_utc("2024-12-29T16:05:06+02:00"));
  EXPECT_FALSE(parse_iso8601_utc("yesterday"));
}
