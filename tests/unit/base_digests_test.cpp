// analyze --digests, the pure half: one observation applied to a canonical base-image state
// file — first record, unchanged, changed (previousDigest, lastUpdated, history, eligibility),
// the history limit — and analyze's canonical writer leaving the result as it is.
#include <gtest/gtest.h>

#include "imgfactory/base_digests.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/log.hpp"
#include "testutil.hpp"

using namespace imgf::state;

namespace {

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');
const std::string kC = "sha256:" + std::string(64, 'c');

BaseRef python() {
  BaseRef r;
  r.ref = "python:3.12-slim";
  r.name = "python-3.12-slim";
  r.registry = "docker.io";
  r.repository = "library/python";
  r.tag = "3.12-slim";
  r.canonical = "docker.io/library/python:3.12-slim";
  return r;
}

std::string fresh() {
  return render_base_image("python-3.12-slim", python(), "python:3.12-slim", nullptr, "2025-12-29T19:25:06Z");
}

DigestRecord observe(const std::string& text, const std::string& digest, const std::string& now,
                     std::vector<std::pair<std::string, std::chrono::seconds>> deps = {}) {
  return record_digest(Document::parse(text, "python-3.12-slim.yaml"), DigestObservation{digest, now, std::move(deps)});
}

// analyze (without --digests) run later over the recorded file changes nothing.
void expect_fixed_point(const std::string& text) {
  Document doc = Document::parse(text, "python-3.12-slim.yaml");
  EXPECT_EQ(render_base_image("python-3.12-slim", python(), "python:3.12-slim", &doc, "2027-01-01T00:00:00Z"), text);
}

std::string between(const std::string& text, const std::string& from, const std::string& to) {
  auto a = text.find(from);
  auto b = text.find(to, a);
  return a == std::string::npos ? "" : text.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

}  // namespace

TEST(BaseDigests, FirstObservationRecordsDigestAndTimeOnly) {
  DigestRecord r = observe(fresh(), kA, "2026-03-01T12:00:00Z");
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(r.previous, "");
  EXPECT_EQ(between(r.text, "# Discovery", "# Metadata"),
            "# Discovery\n"
            "firstDiscovered: '2025-12-29T19:25:06Z'\n"
            "lastChecked: '2026-03-01T12:00:00Z'\n"
            "\n"
            "# Current state\n"
            "currentDigest: " + kA + "\n"
            "lastUpdated: null  # Will be set when digest first changes\n"
            "previousDigest: null\n"
            "\n"
            "# Rebuild eligibility\n"
            "rebuildEligibleAt:\n"
            "  default: null  # Will be calculated as lastUpdated + rebuildDelay\n"
            "\n");
  EXPECT_NE(r.text.find("updateHistory: []\n"), std::string::npos);
  expect_fixed_point(r.text);
}

TEST(BaseDigests, UnchangedDigestOnlyMovesLastChecked) {
  std::string first = observe(fresh(), kA, "2026-03-01T12:00:00Z").text;
  DigestRecord r = observe(first, kA, "2026-03-02T12:00:00Z");
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(r.previous, kA);
  std::string expected = first;
  expected.replace(expected.find("lastChecked: '2026-03-01T12:00:00Z'"), 35, "lastChecked: '2026-03-02T12:00:00Z'");
  EXPECT_EQ(r.text, expected);
}

TEST(BaseDigests, ChangeRecordsPreviousHistoryAndEligibility) {
  std::string first = observe(fresh(), kA, "2026-03-01T12:00:00Z").text;
  DigestRecord r = observe(first, kB, "2026-03-02T12:00:00Z",
                           {{"web", std::chrono::hours(24 * 7)}, {"api", std::chrono::hours(24)}, {"cli", std::chrono::hours(36)}});
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.previous, kA);
  EXPECT_EQ(r.rebuild_eligible_at, "2026-03-03T12:00:00Z");
  EXPECT_EQ(between(r.text, "# Current state", "# Metadata"),
            "# Current state\n"
            "currentDigest: " + kB + "\n"
            "lastUpdated: '2026-03-02T12:00:00Z'  # Will be set when digest first changes\n"
            "previousDigest: " + kA + "\n"
            "\n"
            "# Rebuild eligibility\n"
            "rebuildEligibleAt:\n"
            "  default: '2026-03-03T12:00:00Z'\n"
            "  api: '2026-03-03T12:00:00Z'\n"
            "  cli: '2026-03-04T00:00:00Z'\n"
            "  web: '2026-03-09T12:00:00Z'\n"
            "\n");
  EXPECT_EQ(between(r.text, "updateHistory:", "\n\n"),
            "updateHistory:\n"
            "  - digest: " + kB + "\n"
            "    previousDigest: " + kA + "\n"
            "    detectedAt: '2026-03-02T12:00:00Z'\n");
  expect_fixed_point(r.text);

  // The next change goes on top; the history keeps the last 10.
  std::string text = r.text;
  for (int i = 0; i < 12; ++i)
    text = observe(text, i % 2 ? kB : kC, "2026-04-" + std::string(i < 9 ? "0" : "") + std::to_string(i + 1) + "T00:00:00Z").text;
  auto history = text.substr(text.find("updateHistory:"));
  std::size_t entries = 0;
  for (std::size_t at = 0; (at = history.find("\n  - digest:", at)) != std::string::npos; ++at) ++entries;
  EXPECT_EQ(entries, 10u);
  EXPECT_NE(history.find("detectedAt: '2026-04-12T00:00:00Z'"), std::string::npos);
  EXPECT_LT(history.find("2026-04-12"), history.find("2026-04-11"));
  EXPECT_EQ(history.find("2026-03-02"), std::string::npos);
  expect_fixed_point(text);
}

TEST(BaseDigests, NoDependentsLeavesEligibilityUncalculated) {
  std::string first = observe(fresh(), kA, "2026-03-01T12:00:00Z").text;
  DigestRecord r = observe(first, kB, "2026-03-02T12:00:00Z");
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.rebuild_eligible_at, "");
  EXPECT_NE(r.text.find("rebuildEligibleAt:\n  default: null  # Will be calculated as lastUpdated + rebuildDelay\n"),
            std::string::npos);
}

TEST(BaseDigests, IndentlessHistoryIsKeptReadable) {
  std::string text = fresh();
  text.replace(text.find("updateHistory: []"), 17,
               "updateHistory:\n- digest: " + kA + "\n  previousDigest: " + kC + "\n  detectedAt: '2026-01-01T00:00:00Z'");
  text.replace(text.find("currentDigest: null"), 19, "currentDigest: " + kA);
  DigestRecord r = observe(text, kB, "2026-03-02T12:00:00Z");
  EXPECT_EQ(between(r.text, "updateHistory:", "\n\n"),
            "updateHistory:\n"
            "  - digest: " + kB + "\n    previousDigest: " + kA + "\n    detectedAt: '2026-03-02T12:00:00Z'\n"
            "  - digest: " + kA + "\n    previousDigest: " + kC + "\n    detectedAt: '2026-01-01T00:00:00Z'\n");
}

TEST(BaseDigests, FixtureFileOfTheOriginalKeepsItsLayout) {
  IMGF_REQUIRE_SHARED(shared);
  auto path = shared / "fixtures/image-factory-state/state/base-images/python-3.12-slim.yaml";
  std::string text = imgf::test::read_file(path);
  DigestRecord r = observe(text, kA, "2026-03-01T12:00:00Z");
  // Only the two lines change.
  std::string expected = text;
  expected.replace(expected.find("lastChecked: '2025-12-29T19:25:06.847755+00:00'"), 47,
                   "lastChecked: '2026-03-01T12:00:00Z'");
  expected.replace(expected.find("currentDigest: null"), 19, "currentDigest: " + kA);
  EXPECT_EQ(r.text, expected);
}

TEST(BaseDigests, BadClockIsAnInputError) {
  EXPECT_THROW(observe(fresh(), kA, "now"), imgf::Error);
}

// --- the edge: check_digests against a recording runner ---------------------------------------------------

TEST(CheckDigests, AnUnreachableRegistryIsNamedAndItsFileLeftAsItWas) {
  imgf::log::Options quiet;
  quiet.level = "error";
  imgf::log::setup(quiet);
  imgf::test::TempDir dir;
  dir.write("images.yaml",
            "- name: app\n  registry: 127.0.0.1:5000\n  repository: team/app\n  rebuildDelay: 1d\n"
            "  local:\n    dir: app\n");
  auto base_ref = [](const std::string& host, const std::string& name) {
    BaseRef r;
    r.ref = host + "/team/" + name + ":1";
    r.name = imgf::reference::state_name(r.ref);
    r.registry = host;
    r.repository = "team/" + name;
    r.tag = "1";
    r.canonical = r.ref;
    return r;
  };
  BaseRef good = base_ref("127.0.0.1:5000", "good");
  BaseRef dead = base_ref("127.0.0.1:1", "dead");
  for (const auto& r : {good, dead})
    dir.write("base-images/" + r.name + ".yaml", render_base_image(r.name, r, r.ref, nullptr, "2026-01-01T00:00:00Z"));
  const std::string dead_before = imgf::test::read_file(dir.path() / ("base-images/" + dead.name + ".yaml"));
  const std::string index = R"({"schemaVersion":2,"manifests":[]})";
  imgf::proc::RecordingRunner runner([&](const imgf::proc::Spec& s) {
    imgf::proc::Result r;
    r.exit_code = 0;
    if (s.argv.back().find("127.0.0.1:1/") != std::string::npos) {
      r.exit_code = 1;
      if (s.on_stderr_line) s.on_stderr_line("level=fatal msg=\"pinging container registry 127.0.0.1:1: connect: connection refused\"");
    } else {
      r.out = index;
    }
    return r;
  });
  imgf::analyze::Options o;
  o.state_dir = dir.path();
  imgf::analyze::Report report;
  report.graph.dependents[good.name] = {"app"};
  imgf::analyze::DigestOptions d;
  d.clock = [] { return std::string("2026-03-01T00:00:00Z"); };
  d.registry.sleep = [](std::chrono::milliseconds) {};
  auto rep = imgf::analyze::check_digests(o, report, runner, d);
  EXPECT_EQ(rep.exit_code(), 1);
  ASSERT_EQ(rep.errors.size(), 1u);
  EXPECT_NE(rep.errors[0].find(dead.name), std::string::npos) << rep.errors[0];
  EXPECT_NE(rep.errors[0].find("connection refused"), std::string::npos) << rep.errors[0];
  EXPECT_EQ(imgf::test::read_file(dir.path() / ("base-images/" + dead.name + ".yaml")), dead_before);
  std::string good_after = imgf::test::read_file(dir.path() / ("base-images/" + good.name + ".yaml"));
  EXPECT_NE(good_after.find("currentDigest: sha256:" + imgf::fsutil::sha256_hex(index) + "\n"), std::string::npos)
      << good_after;
  EXPECT_NE(good_after.find("lastChecked: '2026-03-01T00:00:00Z'"), std::string::npos);
  // The dead registry was retried as build retries (1 + 3 attempts), the good one asked once.
  int dead_calls = 0;
  for (const auto& a : runner.argvs()) dead_calls += a.back().find("127.0.0.1:1/") != std::string::npos;
  EXPECT_EQ(dead_calls, 4);
  EXPECT_EQ(runner.argvs().size(), 5u);
  EXPECT_NE(imgf::analyze::digests_to_text(rep).find("1 failed"), std::string::npos);
  // A change: history and eligibility from app's rebuildDelay (1d).
  const std::string index2 = R"({"schemaVersion":2,"manifests":[{"digest":"sha256:1"}]})";
  imgf::proc::RecordingRunner runner2([&](const imgf::proc::Spec&) {
    imgf::proc::Result r;
    r.exit_code = 0;
    r.out = index2;
    return r;
  });
  d.clock = [] { return std::string("2026-03-02T00:00:00Z"); };
  rep = imgf::analyze::check_digests(o, report, runner2, d);
  EXPECT_EQ(rep.exit_code(), 0);
  good_after = imgf::test::read_file(dir.path() / ("base-images/" + good.name + ".yaml"));
  EXPECT_NE(good_after.find("rebuildEligibleAt:\n  default: '2026-03-03T00:00:00Z'\n  app: '2026-03-03T00:00:00Z'\n"),
            std::string::npos)
      << good_after;
}
