#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "imgfactory/dockerfile.hpp"
#include "imgfactory/error.hpp"
#include "testutil.hpp"

namespace df = imgf::dockerfile;
namespace fs = std::filesystem;

namespace {

df::Analysis run(const std::string& content, df::Options o = {}) {
  if (o.platforms.empty()) o.platforms = {"linux/amd64"};
  return df::analyze(content, "Dockerfile", o);
}

std::vector<std::string> refs(const std::vector<df::BaseImage>& images) {
  std::vector<std::string> out;
  for (const auto& b : images) out.push_back(b.ref);
  return out;
}

std::vector<std::string> canon(const std::vector<df::BaseImage>& images) {
  std::vector<std::string> out;
  for (const auto& b : images) out.push_back(b.parsed.canonical());
  return out;
}

std::string error_of(const std::string& content, df::Options o = {}) {
  try {
    (void)run(content, std::move(o));
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return std::to_string(e.line()) + ": " + e.message();
  }
  return "no error";
}

using V = std::vector<std::string>;

// The six cases of the issue (the original tool got two of them right).
TEST(DockerfileAnalyze, TheSixCasesOfTheIssue) {
  df::Analysis a = run("FROM alpine\n");
  EXPECT_EQ(refs(a.base_images), V{"alpine"});
  EXPECT_EQ(a.base_images[0].name, "alpine");
  EXPECT_EQ(a.base_images[0].parsed.canonical(), "docker.io/library/alpine:latest");  // as pulled
  EXPECT_EQ(a.base_images[0].parsed.tag, "");                                        // as written

  EXPECT_EQ(canon(run("from debian\n").base_images), V{"docker.io/library/debian:latest"});

  a = run("FROM ubuntu:22.04 AS build\nRUN make\nFROM build\n");
  EXPECT_EQ(refs(a.base_images), V{"ubuntu:22.04"});
  ASSERT_EQ(a.stages.size(), 2u);
  EXPECT_EQ(a.stages[1].kind, df::StageKind::stage);
  EXPECT_EQ(a.stages[1].base_stage, 0);

  a = run("ARG BASE=node:22\nFROM ${BASE}\n");
  EXPECT_EQ(refs(a.base_images), V{"node:22"});
  EXPECT_EQ(a.base_images[0].name, "node-22");
  EXPECT_EQ(a.stages[0].from, "${BASE}");

  a = run("FROM --platform=$BUILDPLATFORM golang:1.22 AS gob\n");
  EXPECT_EQ(refs(a.base_images), V{"golang:1.22"});
  EXPECT_EQ(a.stages[0].platform, "$BUILDPLATFORM");
  EXPECT_EQ(a.stages[0].resolved_platform, df::host_platform());
  EXPECT_EQ(a.stages[0].name, "gob");

  a = run("FROM 127.0.0.1:5000/team/app:1.0\n");
  EXPECT_EQ(refs(a.base_images), V{"127.0.0.1:5000/team/app:1.0"});
  EXPECT_EQ(a.base_images[0].parsed.domain, "127.0.0.1:5000");
  EXPECT_EQ(a.base_images[0].parsed.path, "team/app");
  EXPECT_EQ(a.base_images[0].name, "127.0.0.1-5000-team-app-1.0");
}

TEST(DockerfileAnalyze, StageNamesAreLowercasedWhereDeclared) {
  // A later FROM refers to a stage only by its lowercase name...
  df::Analysis a = run("FROM alpine AS Builder\nFROM builder\n");
  EXPECT_EQ(a.stages[0].name, "builder");
  EXPECT_EQ(a.stages[1].kind, df::StageKind::stage);
  EXPECT_EQ(refs(a.base_images), V{"alpine"});
  // ...so FROM Builder is an image name, and an invalid one.
  EXPECT_NE(error_of("FROM alpine AS Builder\nFROM Builder\n").find("2: failed to parse stage name \"Builder\""),
            std::string::npos);
  // A name used before it is declared is an image, as in BuildKit.
  a = run("FROM later\nFROM alpine AS later\n");
  EXPECT_EQ(refs(a.base_images), (V{"later", "alpine"}));
  // COPY --from matches case-insensitively, or by index.
  a = run("FROM alpine AS Builder\nFROM scratch\nCOPY --from=BUILDER /a /a\nCOPY --from=0 /b /b\n");
  EXPECT_TRUE(a.copy_from_images.empty());
  EXPECT_EQ(a.stages[1].kind, df::StageKind::scratch);
  EXPECT_TRUE(a.stages[0].reachable);
  EXPECT_EQ(error_of("FROM a AS 1x\n"), "1: invalid name for build stage: \"1x\", name can't start with a number or contain symbols");
}

TEST(DockerfileAnalyze, CopyFromAndRunMountImages) {
  df::Analysis a = run(
      "FROM alpine AS base\n"
      "FROM base\n"
      "COPY --from=nginx:1.27 /etc/nginx /etc/nginx\n"
      "COPY --from=base /x /x\n"
      "RUN --mount=type=bind,from=ghcr.io/acme/tools:2,target=/t true\n"
      "RUN --mount=type=cache,target=/root/.cache --mount=type=tmpfs,target=/tmp true\n"
      "RUN --mount=from=busybox,src=/bin,dst=/b true\n"
      "RUN --mount=type=cache,from=base,target=/c true\n"
      "COPY --from=scratch / /\n");
  EXPECT_EQ(refs(a.base_images), V{"alpine"});
  EXPECT_EQ(refs(a.copy_from_images), (V{"nginx:1.27", "ghcr.io/acme/tools:2", "busybox"}));
  EXPECT_EQ(a.copy_from_images[0].line, 3);
  EXPECT_EQ(error_of("FROM a\nCOPY --from=9 /x /x\n"), "2: invalid stage index 9");
  EXPECT_EQ(error_of("FROM a\nCOPY --from=0 /x /x\n"),
            "2: cannot copy from stage \"0\", it needs to be defined before current stage \"stage-0\"");
  EXPECT_NE(error_of("FROM a\nCOPY --from=Bad:Ref /x /x\n").find("2: failed to parse stage name \"Bad:Ref\""),
            std::string::npos);
  EXPECT_EQ(error_of("FROM a\nRUN --mount=from=$X true\n"),
            "2: 'from' doesn't support variable expansion, define alias stage instead");
  EXPECT_EQ(error_of("FROM a\nRUN --mount=type=nope true\n"), "2: unsupported mount type \"nope\"");
}

TEST(DockerfileAnalyze, MetaArgsBuildArgsAndExpansionForms) {
  const std::string content =
      "ARG REG=docker.io\n"
      "ARG NAME\n"
      "ARG TAG=${NAME:+1}\n"
      "FROM ${REG}/library/${NAME:-busybox}:${TAG:-latest}\n"
      "FROM ${UNSET-debian}:${EMPTY_DEFAULT+x}${REG:+12}\n";
  df::Analysis a = run(content);
  EXPECT_EQ(refs(a.base_images), (V{"docker.io/library/busybox:latest", "debian:12"}));
  df::Options o;
  o.build_args = {{"NAME", "alpine"}, {"TAG", "3.20"}, {"NOT_DECLARED", "x"}};
  a = run(content, o);
  EXPECT_EQ(refs(a.base_images), (V{"docker.io/library/alpine:3.20", "debian:12"}));
  // An ARG's default sees the earlier ones; build args override defaults.
  o.build_args = {{"NAME", "alpine"}};
  EXPECT_EQ(refs(run(content, o).base_images)[0], "docker.io/library/alpine:1");
  // Quotes in ARG values are shell quotes.
  EXPECT_EQ(refs(run("ARG B=\"node:22\"\nFROM $B\n").base_images), V{"node:22"});
  // Only declared meta ARGs are visible in FROM.
  o.build_args = {{"IMG", "alpine"}};
  EXPECT_EQ(error_of("FROM ${IMG}\n", o), "1: base name (${IMG}) should not be blank");
}

TEST(DockerfileAnalyze, PlatformArgsPerPlatform) {
  const std::string content =
      "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
      "FROM example.com/base-${TARGETARCH}${TARGETVARIANT:+-}${TARGETVARIANT}:${TARGETOS}\n";
  df::Options o;
  o.platforms = {"linux/arm64", "linux/amd64", "linux/arm/v7", "linux/arm64"};
  df::Analysis a = df::analyze(content, "Dockerfile", o);
  EXPECT_EQ(a.platforms, (V{"linux/arm64", "linux/amd64", "linux/arm/v7"}));
  EXPECT_EQ(refs(a.base_images), (V{"golang:1.22", "example.com/base-arm64:linux", "example.com/base-amd64:linux",
                                    "example.com/base-arm-v7:linux"}));
  // Stages are reported for the first platform; the build stage runs on the build platform.
  EXPECT_EQ(a.stages[0].resolved_platform, df::host_platform());
  EXPECT_EQ(a.stages[1].resolved_platform, "linux/arm64");
  // Default: the host.
  a = df::analyze("FROM x-${TARGETPLATFORM}-${BUILDOS}\n", "Dockerfile", {});
  std::string host = df::host_platform();
  EXPECT_EQ(a.platforms, V{host});
  EXPECT_EQ(df::normalize_platform("linux/aarch64"), "linux/arm64");
  EXPECT_EQ(df::normalize_platform("amd64"), "linux/amd64");
  EXPECT_EQ(df::normalize_platform("linux/armhf"), "linux/arm/v7");
  EXPECT_THROW((void)df::normalize_platform("linux/nope"), imgf::Error);
  EXPECT_THROW((void)df::normalize_platform("linux/amd64/v2/x"), imgf::Error);
  EXPECT_NE(error_of("FROM --platform=${NOPE} a\n").find("empty platform value"), std::string::npos);
  EXPECT_NE(error_of("FROM --platform=plan10/z a\n").find("failed to parse platform"), std::string::npos);
}

TEST(DockerfileAnalyze, TargetStopsAfterTheStage) {
  const std::string content =
      "FROM golang:1.22 AS build\n"
      "FROM alpine AS unrelated\n"
      "FROM build AS test\n"
      "COPY --from=busybox / /\n"
      "FROM debian AS final\n";
  df::Options o;
  o.target = "TEST";
  df::Analysis a = run(content, o);
  EXPECT_EQ(a.stages.size(), 3u);
  EXPECT_EQ(a.target, "test");
  EXPECT_EQ(refs(a.base_images), (V{"golang:1.22", "alpine"}));
  EXPECT_EQ(refs(a.copy_from_images), V{"busybox"});
  EXPECT_TRUE(a.stages[0].reachable);
  EXPECT_FALSE(a.stages[1].reachable);
  a = run(content);
  EXPECT_EQ(refs(a.base_images), (V{"golang:1.22", "alpine", "debian"}));
  o.target = "nope";
  EXPECT_EQ(error_of(content, o), "0: target stage \"nope\" could not be found");
}

TEST(DockerfileAnalyze, ScratchAndDuplicates) {
  df::Analysis a = run("FROM scratch\nFROM alpine\nFROM docker.io/library/alpine:latest\nFROM alpine\n");
  EXPECT_EQ(a.stages[0].kind, df::StageKind::scratch);
  // alpine and docker.io/library/alpine:latest are one image: listed once, as first written.
  EXPECT_EQ(refs(a.base_images), V{"alpine"});
}

TEST(DockerfileAnalyze, InstructionErrorsNameTheLine) {
  EXPECT_EQ(error_of("FROM a\nFROBNICATE x\n"), "2: unknown instruction: FROBNICATE");
  EXPECT_EQ(error_of("RUN x\nFROM a\n"), "1: no build stage in current context");
  EXPECT_EQ(error_of("ARG A=1\n"), "1: dockerfile contains no stages to build");
  EXPECT_EQ(error_of("FROM\n"), "1: FROM requires either one or three arguments");
  EXPECT_EQ(error_of("FROM a b\n"), "1: FROM requires either one or three arguments");
  EXPECT_EQ(error_of("FROM --plat=x a\n"), "1: Unknown flag: plat");
  EXPECT_EQ(error_of("FROM --platform a\n"), "1: Missing a value on flag: platform");
  EXPECT_EQ(error_of("FROM a\nCOPY x\n"),
            "2: COPY requires at least two arguments, but only one was provided. Destination could not be determined.");
  EXPECT_EQ(error_of("FROM a\nCOPY --link=maybe x y\n"), "2: Expecting boolean value for flag link, not: maybe");
  EXPECT_EQ(error_of("FROM a\nWORKDIR\n"), "2: WORKDIR requires exactly one argument");
  EXPECT_EQ(error_of("FROM a\nSHELL sh -c\n"), "2: SHELL requires the arguments to be in JSON form");
  EXPECT_EQ(error_of("FROM a\nONBUILD FROM b\n"), "2: FROM isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(error_of("FROM a\nHEALTHCHECK FOO x\n"), "2: Unknown type \"FOO\" in HEALTHCHECK (try CMD)");
  EXPECT_EQ(error_of("ARG X=${\nFROM a\n"), "1: failed to process \"${\": syntax error: missing '}'");
  EXPECT_EQ(error_of("FROM ${A:?needs-A}\n"), "1: failed to process \"${A:?needs-A}\": A: needs-A");
}

TEST(DockerfileAnalyze, TheBundledExample) {
  df::Analysis a = df::analyze(imgf::test::read_file(imgf::test::source_dir() / "examples/app/Dockerfile"),
                               "examples/app/Dockerfile", {});
  ASSERT_EQ(a.stages.size(), 2u);
  EXPECT_EQ(a.stages[0].name, "toolchain");  // "AS Toolchain", lowercased
  EXPECT_FALSE(a.stages[0].reachable);
  EXPECT_EQ(canon(a.base_images), (V{"docker.io/library/golang:1.22", "127.0.0.1:5000/imgfactory-demo/busybox:1.35"}));
  std::string json = df::render_json(a, "examples/app/Dockerfile");
  EXPECT_NE(json.find("\"baseImages\":[{\"ref\":\"docker.io/library/golang:1.22\",\"name\":"
                      "\"docker.io-library-golang-1.22\",\"registry\":\"docker.io\",\"repository\":\"library/golang\","
                      "\"tag\":\"1.22\",\"digest\":null,\"canonical\":\"docker.io/library/golang:1.22\""),
            std::string::npos)
      << json;
}

TEST(DockerfileAnalyze, TwentyThousandStagesParseCorrectly) {
  std::string content = "FROM alpine AS s0\n";
  for (int i = 1; i < 20000; ++i) content += "FROM s" + std::to_string(i - 1) + " AS s" + std::to_string(i) + "\n";
  df::Analysis a = run(content);
  ASSERT_EQ(a.stages.size(), 20000u);
  EXPECT_EQ(a.stages.back().base_stage, 19998);
  EXPECT_EQ(refs(a.base_images), V{"alpine"});
  EXPECT_TRUE(a.stages.front().reachable);
}

// Inputs the fuzzers found: each must be handled (accepted or refused with imgf::Error).
TEST(DockerfileAnalyze, FuzzRegressions) {
  fs::path dir = imgf::test::source_dir() / "tests" / "data" / "fuzz-regressions";
  int n = 0;
  for (const char* kind : {"dockerfile", "reference"}) {
    if (!fs::exists(dir / kind)) continue;
    for (const auto& entry : fs::directory_iterator(dir / kind)) {
      if (entry.path().filename() == "README.md") continue;
      ++n;
      std::string data = imgf::test::read_file(entry.path());
      if (std::string(kind) == "reference") {
        // The invariants of reference_fuzz: a parsed reference survives its round trips.
        if (auto r = imgf::reference::try_parse(data)) {
          EXPECT_EQ(imgf::reference::parse(r->canonical()).canonical(), r->canonical()) << entry.path();
          EXPECT_EQ(imgf::reference::parse(r->familiar()), *r) << entry.path();
          EXPECT_EQ(imgf::reference::parse(r->familiar()).canonical(), r->canonical()) << entry.path();
        }
        continue;
      }
      try {
        df::ParseOptions raw;
        raw.require_text = false;
        (void)df::dump_ast(df::parse(data, "fuzz", raw));
      } catch (const imgf::Error&) {
      }
      try {
        (void)run(data);
      } catch (const imgf::Error&) {
      }
    }
  }
  EXPECT_GE(n, 1) << "tests/data/fuzz-regressions holds the inputs";
}

}  // namespace
