// `imgfactory status`: times, the state-file reader (with the fields build and scan write),
// the decision per image against a fake clock, and the JSON/table renderers.
#include "imgfactory/status.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "imgfactory/error.hpp"
#include "imgfactory/state_fields.hpp"
#include "imgfactory/trivy.hpp"

using namespace imgf::status;
using imgf::enrollment::Image;
using json = nlohmann::json;

namespace {

Time at(const char* iso) {
  auto t = parse_time(iso);
  EXPECT_TRUE(t.has_value()) << iso;
  return t.value_or(Time{});
}

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');
const std::string kC = "sha256:" + std::string(64, 'c');

Image managed(const std::string& name) {
  Image i;
  i.name = name;
  i.repository = "team/" + name;
  imgf::enrollment::Source s;
  s.repo = "team/" + name;
  s.branch = "main";
  i.source = s;
  return i;
}

// A fleet held in memory: base-image records by name.
struct Fleet {
  std::map<std::string, BaseRecord> bases;
  BaseRecord& base(const std::string& name, std::optional<std::string> digest) {
    BaseRecord& b = bases[name];
    b.name = name;
    b.full_image = name + ":1";
    b.current_digest = std::move(digest);
    return b;
  }
  ImageStatus eval(const Image& image, const ImageRecord* rec, Time now) const {
    return evaluate(image, rec, [&](const std::string& n) -> const BaseRecord* {
      auto it = bases.find(n);
      return it == bases.end() ? nullptr : &it->second;
    }, now);
  }
};

ImageRecord built(std::vector<std::pair<std::string, std::optional<std::string>>> on,
                  std::optional<std::string> last_built = "2025-01-10T00:00:00Z") {
  ImageRecord r;
  r.file = "images/app.yaml";
  r.current_version = "1.2.3";
  r.current_digest = kC;
  r.last_built = std::move(last_built);
  r.has_build_inputs = true;
  for (auto& [name, digest] : on) {
    r.base_images.push_back(name);
    BuiltOn b;
    b.digest = digest;
    if (digest) r.built_on[name] = b;
  }
  return r;
}

}  // namespace

// --- times -------------------------------------------------------------------------------

TEST(StatusTime, ParsesTheFormsStateFilesHold) {
  EXPECT_EQ(format_time(at("2024-12-03T12:00:00Z")), "2024-12-03T12:00:00Z");
  EXPECT_EQ(format_time(at("2025-12-29T19:25:06.841994+00:00")), "2025-12-29T19:25:06Z");
  EXPECT_EQ(format_time(at("2025-01-01T02:30:00+02:30")), "2025-01-01T00:00:00Z");
  EXPECT_EQ(format_time(at("2025-01-01T00:00:00-0100")), "2025-01-01T01:00:00Z");
  EXPECT_EQ(format_time(at("2025-01-01 08:00:00")), "2025-01-01T08:00:00Z");
  EXPECT_EQ(format_time(at("2024-02-29")), "2024-02-29T00:00:00Z");
  for (const char* bad : {"", "yesterday", "2024-13-01", "2023-02-29", "2024-01-01T25:00:00Z", "2024-01-01T10:00",
                          "2024-01-01T10:00:00.Z", "2024-01-01T10:00:00+5", "2024-01-01X10:00:00Z", "1.2.3"})
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
}

TEST(StatusTime, RelativeTimesAreShort) {
  const Time now = at("2025-06-15T12:00:00Z");
  EXPECT_EQ(relative_time(now, now), "now");
  EXPECT_EQ(relative_time(now - std::chrono::seconds(45), now), "45s ago");
  EXPECT_EQ(relative_time(now - std::chrono::minutes(59), now), "59m ago");
  EXPECT_EQ(relative_time(now - std::chrono::hours(47), now), "47h ago");
  EXPECT_EQ(relative_time(now - std::chrono::hours(72), now), "3d ago");
  EXPECT_EQ(relative_time(now + std::chrono::hours(49), now), "in 2d");
  EXPECT_EQ(relative_time(now - std::chrono::days(59), now), "59d ago");
  EXPECT_EQ(relative_time(now - std::chrono::days(400), now), "13mo ago");
  EXPECT_EQ(relative_time(now - std::chrono::days(800), now), "2y ago");
}

TEST(StatusDigest, ShortDigests) {
  EXPECT_EQ(short_digest("sha256:64ba3c3c4f07e1943a555334cc177563f166136a47182be6bb9765e9754d1b3b"), "64ba3c3c4f07");
  EXPECT_EQ(short_digest("sha256:placeholder-will-be-updated-by-workflow"), "placeholder-");
  EXPECT_EQ(short_digest("abc"), "abc");
}

// --- the decision ----------------------------------------------------------------------------

TEST(StatusEvaluate, ChangedBaseWhoseDelayHasPassedIsDue) {
  Fleet f;
  f.base("python", kB).eligible_default = "2025-01-20T00:00:00Z";
  f.bases["python"].last_updated = "2025-01-13T00:00:00Z";
  const ImageRecord rec = built({{"python", kA}});
  const ImageStatus s = f.eval(managed("app"), &rec, at("2025-01-21T00:00:00Z"));
  ASSERT_EQ(s.bases.size(), 1u);
  EXPECT_EQ(s.bases[0].changed, Change::yes);
  EXPECT_EQ(s.bases[0].built_on, kA);
  EXPECT_EQ(s.bases[0].digest, kB);
  EXPECT_EQ(s.rebuild, Rebuild::due);
  EXPECT_TRUE(s.rebuild_due);
}

TEST(StatusEvaluate, ChangedBaseBeforeItsDelayIsWaiting) {
  Fleet f;
  f.base("python", kB).eligible_default = "2025-01-20T00:00:00Z";
  f.base("node", kB).eligible_default = "2025-01-25T00:00:00Z";
  const ImageRecord rec = built({{"node", kA}, {"python", kA}});
  const ImageStatus s = f.eval(managed("app"), &rec, at("2025-01-19T00:00:00Z"));
  EXPECT_EQ(s.rebuild, Rebuild::waiting);
  EXPECT_FALSE(s.rebuild_due);
  ASSERT_TRUE(s.next_eligible.has_value());
  EXPECT_EQ(format_time(*s.next_eligible), "2025-01-20T00:00:00Z");  // the earliest
  // The clock passes the first one: due.
  EXPECT_EQ(f.eval(managed("app"), &rec, at("2025-01-20T00:00:00Z")).rebuild, Rebuild::due);
}

TEST(StatusEvaluate, AnImagesOwnEligibilityWinsOverTheDefault) {
  Fleet f;
  BaseRecord& b = f.base("python", kB);
  b.eligible_default = "2025-01-14T00:00:00Z";
  b.eligible_by_image["slow"] = "2025-02-01T00:00:00Z";
  const ImageRecord rec = built({{"python", kA}});
  const Time now = at("2025-01-20T00:00:00Z");
  EXPECT_EQ(f.eval(managed("app"), &rec, now).rebuild, Rebuild::due);
  const ImageStatus slow = f.eval(managed("slow"), &rec, now);
  EXPECT_EQ(slow.rebuild, Rebuild::waiting);
  EXPECT_EQ(slow.bases[0].eligible_at, "2025-02-01T00:00:00Z");
}

TEST(StatusEvaluate, ChangedWithoutAnEligibilityTimeIsDue) {
  Fleet f;
  f.base("python", kB);
  const ImageRecord rec = built({{"python", kA}});
  EXPECT_EQ(f.eval(managed("app"), &rec, at("2025-01-20T00:00:00Z")).rebuild, Rebuild::due);
}

TEST(StatusEvaluate, UnchangedBasesAreCurrent) {
  Fleet f;
  f.base("python", kA).eligible_default = "2025-01-01T00:00:00Z";  // an older change, built since
  const ImageRecord rec = built({{"python", kA}});
  const ImageStatus s = f.eval(managed("app"), &rec, at("2025-01-20T00:00:00Z"));
  EXPECT_EQ(s.bases[0].changed, Change::no);
  EXPECT_EQ(s.rebuild, Rebuild::current);
}

TEST(StatusEvaluate, UnknownIsNeverFalse) {
  Fleet f;
  f.base("checked", kB);
  f.base("unchecked", std::nullopt);
  // Built on "checked" without a recorded digest; "unchecked" has no current digest.
  ImageRecord rec = built({{"checked", std::nullopt}, {"unchecked", kA}});
  const ImageStatus s = f.eval(managed("app"), &rec, at("2025-01-20T00:00:00Z"));
  EXPECT_EQ(s.bases[0].changed, Change::unknown);
  EXPECT_EQ(s.bases[1].changed, Change::unknown);
  EXPECT_EQ(s.rebuild, Rebuild::unknown);
  EXPECT_FALSE(s.rebuild_due);
  const json j = json::parse(render_json({s}));
  EXPECT_TRUE(j["images"][0]["baseImages"][0]["changedSinceBuild"].is_null());
  EXPECT_TRUE(j["images"][0]["baseImages"][1]["changedSinceBuild"].is_null());
}

TEST(StatusEvaluate, OneKnownChangeMakesItDueEvenWithUnknownOthers) {
  Fleet f;
  f.base("a", kB);
  f.base("b", std::nullopt);
  const ImageRecord rec = built({{"a", kA}, {"b", kA}});
  EXPECT_EQ(f.eval(managed("app"), &rec, at("2025-01-20T00:00:00Z")).rebuild, Rebuild::due);
}

TEST(StatusEvaluate, PerPlatformDigestsOnly) {
  Fleet f;
  f.base("single", kA);
  f.base("multi", kB);
  ImageRecord rec = built({});
  rec.base_images = {"multi", "single"};
  rec.built_on["single"].platforms = {{"linux/amd64", kA}};
  rec.built_on["multi"].platforms = {{"linux/amd64", kA}, {"linux/arm64", kC}};
  const ImageStatus s = f.eval(managed("app"), &rec, at("2025-01-20T00:00:00Z"));
  EXPECT_EQ(s.bases[0].changed, Change::unknown);  // an index digest is not comparable to a manifest's
  EXPECT_EQ(s.bases[1].changed, Change::no);       // a single-platform tag serves its manifest
}

TEST(StatusEvaluate, NeverBuiltNotAnalyzedExternalAndMissingBaseFiles) {
  Fleet f;
  f.base("python", kB);
  const Time now = at("2025-01-20T00:00:00Z");
  ImageRecord never = built({{"python", kA}}, std::nullopt);
  EXPECT_EQ(f.eval(managed("app"), &never, now).rebuild, Rebuild::never_built);
  EXPECT_FALSE(f.eval(managed("app"), &never, now).rebuild_due);
  EXPECT_EQ(f.eval(managed("app"), nullptr, now).rebuild, Rebuild::not_analyzed);
  Image ext;
  ext.name = "redis";
  ext.repository = "library/redis";
  EXPECT_EQ(f.eval(ext, nullptr, now).rebuild, Rebuild::external);
  ImageRecord missing = built({{"gone", kA}});
  const ImageStatus m = f.eval(managed("app"), &missing, now);
  EXPECT_TRUE(m.bases[0].missing);
  EXPECT_EQ(m.bases[0].reference, "gone");
  EXPECT_EQ(m.bases[0].changed, Change::unknown);
}

TEST(StatusEvaluate, SummaryCounts) {
  Fleet f;
  f.base("python", kB);
  const Time now = at("2025-01-20T00:00:00Z");
  ImageRecord due = built({{"python", kA}});
  due.last_scan = ScanRecord{};
  due.last_scan->fail_on = "HIGH";
  due.last_scan->passed = false;
  ImageRecord cur = built({{"python", kB}});
  const Summary s = summarize({f.eval(managed("a"), &due, now), f.eval(managed("b"), &cur, now),
                               f.eval(managed("c"), nullptr, now)});
  EXPECT_EQ(s.images, 3u);
  EXPECT_EQ(s.due, 1u);
  EXPECT_EQ(s.current, 1u);
  EXPECT_EQ(s.not_analyzed, 1u);
  EXPECT_EQ(s.scan_failing, 1u);
  EXPECT_EQ(s.scanned, 1u);
}

// --- the state files ---------------------------------------------------------------------------

TEST(StatusState, ReadsWhatBuildAndScanWrite) {
  // lastScan exactly as `imgfactory scan` writes it.
  imgf::trivy::ScanOutcome scan;
  scan.sha256 = std::string(64, 'f');
  scan.summary.vulnerabilities.by_severity = {0, 4, 3, 2, 1};  // indexed UNKNOWN, LOW, ..., CRITICAL
  scan.summary.misconfigurations.add(imgf::trivy::Severity::high);
  scan.summary.policy.fail_on = imgf::trivy::Severity::high;
  scan.summary.policy.passed = false;
  std::string text =
      "name: app\nbaseImages:\n  - python-3.12-slim\ncurrentVersion: 0.1.15\ncurrentDigest: " + kC +
      "\nlastBuilt: '2025-01-10T00:00:00Z'\n";
  text = imgf::state::set_top_level_fields(
      text, {{"lastScan", imgf::trivy::last_scan_field(scan, "ghcr.io/team/app:0.1.15", "2025-01-11T00:00:00Z")}});
  text += "buildInputs:\n  baseImages:\n    - name: python-3.12-slim\n      digest: " + kA +
          "\n      platforms:\n        linux/amd64: " + kB + "\n";
  const ImageRecord r = parse_image_state(text, "images/app.yaml");
  EXPECT_EQ(r.current_version, "0.1.15");
  EXPECT_EQ(r.current_digest, kC);
  EXPECT_EQ(r.last_built, "2025-01-10T00:00:00Z");
  EXPECT_EQ(r.base_images, std::vector<std::string>{"python-3.12-slim"});
  ASSERT_TRUE(r.last_scan.has_value());
  EXPECT_EQ(r.last_scan->counts, (std::array<std::uint64_t, 5>{1, 2, 3, 4, 0}));  // CRITICAL first
  EXPECT_EQ(r.last_scan->misconfigurations, 1u);
  EXPECT_EQ(r.last_scan->fail_on, "HIGH");
  EXPECT_FALSE(r.last_scan->passed);
  EXPECT_EQ(r.last_scan->reference, "ghcr.io/team/app:0.1.15");
  ASSERT_TRUE(r.has_build_inputs);
  ASSERT_EQ(r.built_on.count("python-3.12-slim"), 1u);
  EXPECT_EQ(r.built_on.at("python-3.12-slim").digest, kA);
  EXPECT_EQ(r.built_on.at("python-3.12-slim").platforms.size(), 1u);
}

TEST(StatusState, BuildInputsAndDigestFieldsAsBuildAndAnalyzeWriteThem) {
  // The buildInputs block as `build` renders it (docs/build.md), a null digest and name included.
  const ImageRecord r = parse_image_state(
      "name: app\ncurrentVersion: 1.0.0\ncurrentDigest: 'sha256:x'\nlastBuilt: '2026-02-01T00:00:00Z'\n"
      "buildInputs:\n"
      "  fingerprint: sha256:" + std::string(64, '0') + "\n"
      "  baseImages:\n"
      "    - name: alpine-3.19\n"
      "      reference: docker.io/library/alpine:3.19\n"
      "      digest: " + kB + "\n"
      "      platforms: {}\n"
      "    - name: python-3.12-slim\n"
      "      reference: docker.io/library/python:3.12-slim\n"
      "      digest: null\n"
      "      platforms:\n"
      "        linux/amd64: " + kA + "\n"
      "        linux/arm64: " + kC + "\n"
      "    - name: null\n"
      "      reference: ghcr.io/x/y:1\n"
      "      digest: " + kA + "\n"
      "      platforms: {}\n"
      "  sourceRevision: 0123456789abcdef0123456789abcdef01234567\n"
      "  sourceDateEpoch: 1735488306\n"
      "  buildArgs:\n    A: 'x: y'\n"
      "  platforms:\n    - linux/amd64\n    - linux/arm64\n"
      "  target: null\n",
      "images/app.yaml");
  ASSERT_EQ(r.built_on.size(), 2u);
  EXPECT_EQ(r.built_on.at("alpine-3.19").digest, kB);
  EXPECT_FALSE(r.built_on.at("python-3.12-slim").digest);
  EXPECT_EQ(r.built_on.at("python-3.12-slim").platforms.size(), 2u);
  // base-images/<name>.yaml after `analyze --digests` saw a change: the comment analyze keeps on
  // lastUpdated, and rebuildEligibleAt per dependent image.
  const BaseRecord b = parse_base_state(
      "name: python-3.12-slim\nfullImage: python:3.12-slim\nlastChecked: '2026-02-24T00:00:00Z'\n"
      "currentDigest: " + kB + "\nlastUpdated: '2026-02-24T00:00:00Z'  # Will be set when digest first changes\n"
      "previousDigest: " + kA + "\n"
      "rebuildEligibleAt:\n  default: '2026-03-03T00:00:00Z'\n  app: '2026-03-03T00:00:00Z'\n"
      "  'weird: name': '2026-03-10T00:00:00Z'\n"
      "updateHistory:\n  - digest: " + kB + "\n    previousDigest: " + kA + "\n    detectedAt: '2026-02-24T00:00:00Z'\n",
      "base-images/python-3.12-slim.yaml");
  EXPECT_EQ(b.last_updated, "2026-02-24T00:00:00Z");
  EXPECT_EQ(b.eligible_default, "2026-03-03T00:00:00Z");
  EXPECT_EQ(b.eligible_by_image.at("app"), "2026-03-03T00:00:00Z");
  EXPECT_EQ(b.eligible_by_image.at("weird: name"), "2026-03-10T00:00:00Z");
}

TEST(StatusState, OriginalQuirks) {
  const ImageRecord r = parse_image_state(
      "currentVersion: null\ncurrentDigest: None\nlastBuilt: '2025-12-29T19:25:06.841994+00:00'\nbaseImages: []\n",
      "f.yaml");
  EXPECT_FALSE(r.current_version);
  EXPECT_FALSE(r.current_digest);
  EXPECT_TRUE(r.base_images.empty());
  const BaseRecord b = parse_base_state(
      "name: node-22\nfullImage: node:22\ncurrentDigest: None\nlastUpdated: None\n"
      "rebuildEligibleAt:\n  default: null  # Will be calculated\n",
      "b.yaml");
  EXPECT_EQ(b.full_image, "node:22");
  EXPECT_FALSE(b.current_digest);
  EXPECT_FALSE(b.eligible_default);
  const BaseRecord m = parse_base_state(
      "rebuildEligibleAt:\n  default: '2025-01-20T00:00:00Z'\n  slow: '2025-02-01T00:00:00Z'\n", "b.yaml");
  EXPECT_EQ(m.eligible_default, "2025-01-20T00:00:00Z");
  EXPECT_EQ(m.eligible_by_image.at("slow"), "2025-02-01T00:00:00Z");
  const BaseRecord s = parse_base_state("rebuildEligibleAt: '2025-01-20T00:00:00Z'\n", "b.yaml");
  EXPECT_EQ(s.eligible_default, "2025-01-20T00:00:00Z");
}

TEST(StatusState, BrokenFilesNameFileAndLine) {
  auto expect_refused = [](const std::string& text, bool image, int line, const std::string& needle) {
    try {
      if (image) parse_image_state(text, "state/images/x.yaml");
      else parse_base_state(text, "state/base-images/x.yaml");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const imgf::Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_EQ(e.line(), line) << e.what();
      EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
      EXPECT_NE(e.formatted().find(image ? "state/images/x.yaml:" : "state/base-images/x.yaml:"), std::string::npos);
    }
  };
  expect_refused("name: x\nbaseImages: [a\n", true, 3, "invalid YAML");
  expect_refused("- a\n- b\n", true, 1, "mapping");
  expect_refused("name: x\nlastBuilt: last tuesday\n", true, 2, "lastBuilt: 'last tuesday' is not a time");
  expect_refused("name: x\nbaseImages: python\n", true, 2, "baseImages must be a list");
  expect_refused("name: x\nbaseImages:\n  - ../../etc/passwd\n", true, 3, "base-image state name");
  expect_refused("name: x\nlastScan: yes\n", true, 2, "lastScan must be a mapping");
  expect_refused("name: x\nlastScan:\n  counts:\n    HIGH: many\n", true, 4, "HIGH must be a count");
  expect_refused("name: x\ncurrentVersion: [1, 2]\n", true, 2, "currentVersion must be a single value");
  expect_refused("name: x\nlastUpdated: soon\n", false, 2, "lastUpdated");
  expect_refused("name: x\nrebuildEligibleAt:\n  default: whenever\n", false, 3, "rebuildEligibleAt.default");
  expect_refused("name: x\nrebuildEligibleAt: [1]\n", false, 2, "rebuildEligibleAt must be");
}

// --- rendering ----------------------------------------------------------------------------------

TEST(StatusRender, JsonHasTheShapeOfCliMd) {
  Fleet f;
  f.base("python", kB).eligible_default = "2025-01-14T00:00:00Z";
  ImageRecord rec = built({{"python", kA}});
  rec.last_scan = ScanRecord{"2025-01-11T00:00:00Z", "ghcr.io/team/app:1.2.3", {0, 2, 5, 1, 0}, 0, 0, "CRITICAL", true};
  const auto s = f.eval(managed("app"), &rec, at("2025-01-20T00:00:00Z"));
  const std::string out = render_json({s});
  const std::string want = R"({
  "images": [
    {
      "name": "app",
      "currentVersion": "1.2.3",
      "currentDigest": ")" + kC + R"(",
      "lastBuilt": "2025-01-10T00:00:00Z",
      "rebuildDue": true,
      "baseImages": [
        {
          "name": "python",
          "reference": "python:1",
          "digest": ")" + kB + R"(",
          "changedSinceBuild": true,
          "rebuildEligibleAt": "2025-01-14T00:00:00Z"
        }
      ],
      "lastScan": {
        "scannedAt": "2025-01-11T00:00:00Z",
        "reference": "ghcr.io/team/app:1.2.3",
        "counts": {
          "CRITICAL": 0,
          "HIGH": 2,
          "MEDIUM": 5,
          "LOW": 1,
          "UNKNOWN": 0
        },
        "misconfigurations": 0,
        "secrets": 0,
        "policy": {
          "failOn": "CRITICAL",
          "passed": true
        }
      }
    }
  ]
}
)";
  EXPECT_EQ(out, want);
}

TEST(StatusRender, TableIsAlignedAndColouredOnlyWhenAsked) {
  Fleet f;
  f.base("python", kB).eligible_default = "2025-01-22T00:00:00Z";
  f.base("node", kA);
  const Time now = at("2025-01-20T00:00:00Z");
  ImageRecord a = built({{"node", kA}, {"python", kA}});
  ImageRecord b = built({{"node", kA}});
  b.last_scan = ScanRecord{};
  b.last_scan->counts = {1, 0, 0, 0, 0};
  b.last_scan->fail_on = "CRITICAL";
  b.last_scan->passed = false;
  const std::vector<ImageStatus> images = {f.eval(managed("a-long-image-name"), &a, now), f.eval(managed("b"), &b, now)};
  const std::string plain = render_table(images, now, false);
  EXPECT_EQ(plain.find('\x1b'), std::string::npos);
  const std::string want =
      "IMAGE              VERSION  DIGEST        BUILT    REBUILD    SCAN         GATE\n"
      "a-long-image-name  1.2.3    cccccccccccc  10d ago  due in 2d  -\n"
      "  ├─ node:1    aaaaaaaaaaaa  unchanged\n"
      "  └─ python:1  bbbbbbbbbbbb  changed, eligible in 2d\n"
      "b                  1.2.3    cccccccccccc  10d ago  current    1C 0H 0M 0L  FAIL (CRITICAL)\n"
      "  └─ node:1    aaaaaaaaaaaa  unchanged\n"
      "\n"
      "2 images, 0 due, 1 failing the scan gate, 1 waiting, 1 current\n";
  EXPECT_EQ(plain, want);
  const std::string colored = render_table(images, now, true);
  EXPECT_NE(colored.find("\x1b[1;31mFAIL (CRITICAL)\x1b[0m"), std::string::npos) << colored;
  // Without the escapes, the coloured table is the plain one.
  std::string stripped;
  for (std::size_t i = 0; i < colored.size(); ++i) {
    if (colored[i] == '\x1b') {
      i = colored.find('m', i);
      continue;
    }
    stripped += colored[i];
  }
  EXPECT_EQ(stripped, plain);
}

TEST(StatusRender, EmptyFleet) {
  EXPECT_EQ(render_table({}, at("2025-01-20T00:00:00Z"), false), "no images enrolled\n");
  EXPECT_EQ(render_json({}), "{\n  \"images\": []\n}\n");
}
