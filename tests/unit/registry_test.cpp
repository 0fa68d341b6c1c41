// The registry module: reading manifests (pure) and the skopeo client against a recording
// runner — argv, build's retry rules, memoised answers, bounded parallel queries.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/log.hpp"
#include "imgfactory/registry.hpp"

using namespace imgf::registry;
using imgf::proc::RecordingRunner;
using imgf::proc::Spec;
using PResult = imgf::proc::Result;

namespace {

const std::string kIndex =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)"
    R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaa","size":503,"platform":{"architecture":"amd64","os":"linux"}},)"
    R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbb","size":503,"platform":{"architecture":"arm","os":"linux","variant":"v7"}}]})";
const std::string kManifest =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
    R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:cfg","size":2},"layers":[]})";
const std::string kConfig = R"({"architecture":"arm64","os":"linux","config":{}})";

std::string digest_of(const std::string& s) { return "sha256:" + imgf::fsutil::sha256_hex(s); }

PResult ok(std::string out) {
  PResult r;
  r.exit_code = 0;
  r.out = std::move(out);
  return r;
}

PResult failed(const std::string& err_line, const Spec& s) {
  if (s.on_stderr_line) s.on_stderr_line(err_line);
  PResult r;
  r.exit_code = 1;
  r.err = err_line;
  return r;
}

Options fast() {
  Options o;
  o.sleep = [](std::chrono::milliseconds) {};
  o.retries = 2;
  return o;
}

struct Quiet {
  Quiet() {
    imgf::log::Options q;
    q.level = "error";
    imgf::log::setup(q);
  }
};

}  // namespace

TEST(RegistryManifest, IndexManifestSchema1AndErrors) {
  Manifest i = describe_manifest(kIndex);
  EXPECT_TRUE(i.index);
  EXPECT_EQ(i.digest, digest_of(kIndex));
  ASSERT_EQ(i.platforms.size(), 2u);
  EXPECT_EQ(i.platforms[1].platform, "linux/arm/v7");
  EXPECT_EQ(i.platforms[1].digest, "sha256:bbbb");
  Manifest m = describe_manifest(kManifest);
  EXPECT_FALSE(m.index);
  EXPECT_EQ(m.config_digest, "sha256:cfg");
  Manifest s1 = describe_manifest(R"({"schemaVersion":1,"architecture":"amd64","fsLayers":[]})");
  EXPECT_EQ(s1.platform, "linux/amd64");
  EXPECT_THROW(describe_manifest("not json"), imgf::Error);
  EXPECT_THROW(describe_manifest(R"({"schemaVersion":2})"), imgf::Error);
  EXPECT_EQ(platform_of_config(kConfig), "linux/arm64");
  EXPECT_EQ(platform_of_config(R"({"os":"linux"})"), "");
}

TEST(RegistryManifest, InstanceForAPlatform) {
  std::vector<imgf::builder::PlatformDigest> inst = {
      {"linux/amd64", "sha256:a"}, {"linux/arm64/v8", "sha256:b"}, {"linux/arm/v6", "sha256:c"}, {"linux/arm/v7", "sha256:d"}};
  EXPECT_EQ(instance_for(inst, "linux/amd64"), "sha256:a");
  EXPECT_EQ(instance_for(inst, "linux/arm64"), "sha256:b");  // the only arm64
  EXPECT_EQ(instance_for(inst, "linux/arm/v7"), "sha256:d");
  EXPECT_EQ(instance_for(inst, "linux/arm"), "");  // two candidates
  EXPECT_EQ(instance_for(inst, "linux/s390x"), "");
}

TEST(RegistryManifest, QueryReferenceDropsTheTagOfADigestReference) {
  EXPECT_EQ(query_reference(imgf::reference::parse("python:3.12")), "docker.io/library/python:3.12");
  EXPECT_EQ(query_reference(imgf::reference::parse("127.0.0.1:5000/a/b")), "127.0.0.1:5000/a/b:latest");
  const std::string d = "sha256:" + std::string(64, 'e');
  EXPECT_EQ(query_reference(imgf::reference::parse("127.0.0.1:5000/a/b:1.0@" + d)), "127.0.0.1:5000/a/b@" + d);
}

TEST(RegistryClient, AsksSkopeoOnceAndRemembers) {
  Quiet q;
  RecordingRunner runner([](const Spec&) { return ok(kIndex); });
  Client c(runner, fast());
  Resolved r = c.resolve("127.0.0.1:5000/team/base:1.0");
  EXPECT_EQ(r.digest, digest_of(kIndex));
  EXPECT_TRUE(r.index);
  EXPECT_EQ(r.platforms.size(), 2u);
  c.resolve("127.0.0.1:5000/team/base:1.0");
  ASSERT_EQ(runner.argvs().size(), 1u);
  EXPECT_EQ(runner.argvs()[0], (std::vector<std::string>{"skopeo", "--command-timeout", "30s", "inspect", "--raw",
                                                         "docker://127.0.0.1:5000/team/base:1.0"}));
  c.forget("127.0.0.1:5000/team/base");
  c.resolve("127.0.0.1:5000/team/base:1.0");
  EXPECT_EQ(runner.argvs().size(), 2u);
  EXPECT_EQ(c.queries(), 2u);
}

TEST(RegistryClient, SingleImageGetsItsPlatformFromTheConfig) {
  Quiet q;
  RecordingRunner runner([](const Spec& s) { return ok(s.argv[4] == "--config" ? kConfig : kManifest); });
  Client c(runner, fast());
  Resolved r = c.resolve("127.0.0.1:5000/team/single:1");
  EXPECT_FALSE(r.index);
  ASSERT_EQ(r.platforms.size(), 1u);
  EXPECT_EQ(r.platforms[0].platform, "linux/arm64");
  EXPECT_EQ(r.platforms[0].digest, digest_of(kManifest));
  ASSERT_EQ(runner.argvs().size(), 2u);
  EXPECT_EQ(runner.argvs()[1].back(), "docker://127.0.0.1:5000/team/single@" + digest_of(kManifest));
}

TEST(RegistryClient, TransientErrorsAreRetriedPermanentOnesAreNot) {
  Quiet q;
  std::atomic<int> calls{0};
  RecordingRunner flaky([&](const Spec& s) {
    if (calls++ < 2) return failed("level=fatal msg=\"pinging container registry: connect: connection refused\"", s);
    return ok(kIndex);
  });
  Client c(flaky, fast());
  EXPECT_EQ(c.resolve("127.0.0.1:5000/a:1").digest, digest_of(kIndex));
  EXPECT_EQ(calls.load(), 3);

  RecordingRunner missing([](const Spec& s) { return failed("level=fatal msg=\"manifest unknown: manifest unknown\"", s); });
  Client m(missing, fast());
  try {
    m.resolve("127.0.0.1:5000/a:2");
    FAIL() << "expected an error";
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_NE(e.message().find("127.0.0.1:5000/a:2"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("manifest unknown"), std::string::npos) << e.message();
  }
  EXPECT_EQ(missing.argvs().size(), 1u);
  // The failure is remembered too: asking again starts no process.
  EXPECT_THROW(m.resolve("127.0.0.1:5000/a:2"), imgf::Error);
  EXPECT_EQ(missing.argvs().size(), 1u);
}

TEST(RegistryClient, ManyQueriesRunInParallelBoundedAndReportEachOutcome) {
  Quiet q;
  std::atomic<int> running{0}, peak{0};
  RecordingRunner runner([&](const Spec& s) {
    int now = ++running;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    --running;
    if (s.argv.back().find("broken") != std::string::npos) return failed("level=fatal msg=\"denied: access\"", s);
    return ok(kIndex);
  });
  Options o = fast();
  o.jobs = 3;
  Client c(runner, o);
  std::vector<std::string> refs;
  for (int i = 0; i < 12; ++i) refs.push_back("127.0.0.1:5000/team/img" + std::to_string(i) + ":1");
  refs.push_back("127.0.0.1:5000/team/broken:1");
  refs.push_back("127.0.0.1:5000/team/img0:1");  // asked once
  auto out = c.resolve_all(refs);
  ASSERT_EQ(out.size(), refs.size());
  for (std::size_t i = 0; i < refs.size(); ++i) {
    EXPECT_EQ(out[i].reference, refs[i]);
    if (refs[i].find("broken") != std::string::npos) {
      EXPECT_FALSE(out[i].resolved);
      EXPECT_NE(out[i].error.find("denied"), std::string::npos);
    } else {
      ASSERT_TRUE(out[i].resolved) << out[i].error;
    }
  }
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 2);
  EXPECT_EQ(runner.argvs().size(), 13u);
}
