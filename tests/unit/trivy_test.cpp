// The Trivy report reader, filters, ignore files, policy, enrolled-image references and the
// Trivy runner (with a RecordingRunner).
#include "imgfactory/trivy.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/process.hpp"
#include "testutil.hpp"

using namespace imgf::trivy;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

ScanOptions opts(Detail d = Detail::full) {
  ScanOptions o;
  o.detail = d;
  return o;
}

std::chrono::system_clock::time_point day(int y, unsigned m, unsigned d) {
  using namespace std::chrono;
  return system_clock::time_point{sys_days{year{y} / month{m} / ::std::chrono::day{d}}};
}

// Expects scan_string to refuse `text` with exit 2 at `line` (0: any) with `needle` in the message.
void expect_refused(const std::string& text, const std::string& needle, int line = 0) {
  try {
    scan_string(text, "r.json", opts());
    ADD_FAILURE() << "accepted: " << text.substr(0, 200);
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 2) << e.what();
    EXPECT_EQ(e.file(), "r.json");
    if (line != 0) {
      EXPECT_EQ(e.line(), line) << e.what();
    }
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

std::array<std::uint64_t, kSeverityCount> counts_of(const Counts& c) { return c.by_severity; }
// {UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL}, the enum's order.
using Arr = std::array<std::uint64_t, kSeverityCount>;

fs::path data(const std::string& name) { return imgf::test::source_dir() / "tests/data/trivy" / name; }

}  // namespace

// ---- every report Trivy wrote: the counts equal the report's own findings ------------------------
TEST(TrivyFixtures, CountsEqualTheReportsOwnFindings) {
  IMGF_REQUIRE_SHARED(shared);
  int n = 0;
  for (const auto& entry : fs::directory_iterator(shared / "fixtures/trivy")) {
    const std::string name = entry.path().filename().string();
    if (name.size() < 12 || name.substr(name.size() - 12) != ".json.golden") continue;
    ++n;
    SCOPED_TRACE(name);
    // Independent expectation: a DOM parse of the whole report.
    json doc = json::parse(imgf::test::read_file(entry.path()));
    Arr vulns{}, misconfs{}, secrets{};
    std::size_t results = 0, misconf_entries = 0;
    auto idx = [](const json& f) {
      auto s = parse_severity(f.value("Severity", "UNKNOWN"));
      return static_cast<std::size_t>(s.value_or(Severity::unknown));
    };
    if (doc.contains("Results") && doc["Results"].is_array()) {
      for (const auto& r : doc["Results"]) {
        ++results;
        for (const auto& v : r.value("Vulnerabilities", json::array())) ++vulns[idx(v)];
        for (const auto& m : r.value("Misconfigurations", json::array())) {
          ++misconf_entries;
          if (m.value("Status", "FAIL") == "FAIL") ++misconfs[idx(m)];
        }
        for (const auto& s : r.value("Secrets", json::array())) ++secrets[idx(s)];
      }
    }
    for (Detail d : {Detail::counts, Detail::summary, Detail::full}) {
      ScanOutcome out = scan_file(entry.path(), opts(d));
      EXPECT_EQ(counts_of(out.summary.vulnerabilities), vulns);
      EXPECT_EQ(counts_of(out.summary.misconfigurations), misconfs);
      EXPECT_EQ(counts_of(out.summary.secrets), secrets);
      EXPECT_EQ(out.summary.targets.size(), results);
      EXPECT_EQ(out.header.schema_version, 2);
      EXPECT_EQ(out.header.artifact_name, doc.value("ArtifactName", ""));
      EXPECT_EQ(out.sha256, imgf::fsutil::sha256_file(entry.path()));
      EXPECT_EQ(out.bytes, fs::file_size(entry.path()));
      EXPECT_TRUE(out.summary.policy.passed);
      if (d == Detail::counts) {
        EXPECT_TRUE(out.results.empty());
      } else {
        std::size_t kept = 0, kept_misconf = 0;
        for (const auto& r : out.results) {
          kept += r.vulnerabilities.size() + r.secrets.size();
          kept_misconf += r.misconfigurations.size();
        }
        std::uint64_t expect = 0;
        for (auto c : vulns) expect += c;
        for (auto c : secrets) expect += c;
        EXPECT_EQ(kept, expect);
        EXPECT_EQ(kept_misconf, misconf_entries);
      }
    }
  }
  EXPECT_GE(n, 15) << "expected the Trivy fixtures in ../shared/fixtures/trivy";
}

TEST(TrivyFixtures, KeepsWhatTheRenderersNeed) {
  IMGF_REQUIRE_SHARED(shared);
  ScanOutcome out = scan_file(shared / "fixtures/trivy/alpine-310.json.golden", opts(Detail::full));
  ASSERT_EQ(out.results.size(), 1u);
  const Result& r = out.results[0];
  EXPECT_EQ(r.klass, "os-pkgs");
  EXPECT_EQ(r.type, "alpine");
  ASSERT_EQ(r.vulnerabilities.size(), 4u);
  const Vulnerability& v = r.vulnerabilities[0];
  EXPECT_EQ(v.id, "CVE-2019-1549");
  EXPECT_EQ(v.pkg_name, "libcrypto1.1");
  EXPECT_EQ(v.severity, Severity::medium);
  EXPECT_EQ(v.severity_source, "nvd");
  ASSERT_TRUE(v.cvss);
  EXPECT_DOUBLE_EQ(v.cvss->v3_score, 5.3);
  EXPECT_EQ(v.cvss->v2_vector, "AV:N/AC:L/Au:N/C:P/I:N/A:N");
  EXPECT_EQ(v.purl, "pkg:apk/alpine/libcrypto1.1@1.1.1c-r0?arch=x86_64&distro=3.10.2");
  EXPECT_EQ(out.header.repo_tags, std::vector<std::string>{"ghcr.io/aquasecurity/trivy-test-images:alpine-310"});
  EXPECT_FALSE(out.header.repo_digests.has_value());
  EXPECT_EQ(out.header.trivy_version, "dev");

  // Detail::counts keeps no descriptions, titles or CVSS (and collects nothing).
  ScanOutcome summary = scan_file(shared / "fixtures/trivy/alpine-310.json.golden", opts(Detail::summary));
  EXPECT_EQ(summary.results[0].vulnerabilities[0].title, "openssl: information disclosure in fork()");
  EXPECT_TRUE(summary.results[0].vulnerabilities[0].description.empty());
  EXPECT_FALSE(summary.results[0].vulnerabilities[0].cvss);

  ScanOutcome helm = scan_file(shared / "fixtures/trivy/helm_testchart.json.golden", opts(Detail::full));
  ASSERT_FALSE(helm.results.empty());
  ASSERT_TRUE(helm.results[0].misconf_summary);
  EXPECT_EQ(helm.results[0].misconf_summary->successes, 92);
  EXPECT_EQ(helm.results[0].misconf_summary->failures, 6);
  EXPECT_EQ(helm.results[0].misconfigurations[0].start_line, 28);
  EXPECT_EQ(helm.results[0].misconfigurations[0].end_line, 57);

  ScanOutcome secrets = scan_file(shared / "fixtures/trivy/secrets.json.golden", opts(Detail::full));
  ASSERT_EQ(secrets.results[0].secrets.size(), 2u);
  EXPECT_EQ(secrets.results[0].secrets[0].rule_id, "aws-access-key-id");
  EXPECT_EQ(secrets.results[0].secrets[0].start_line, 3);
  EXPECT_EQ(secrets.results[0].secrets[0].match, "export AWS_ACCESS_KEY_ID=********************");
}

// ---- refusing what is not a Trivy SchemaVersion 2 report ----------------------------------------
TEST(TrivyReader, RefusesWhatIsNotAReport) {
  expect_refused("", "empty", 1);
  expect_refused("   \n", "not a valid Trivy JSON report");
  expect_refused("hello", "not a valid Trivy JSON report", 1);
  expect_refused("[]", "not an object", 1);
  expect_refused("42", "not an object");
  expect_refused("{}", "no SchemaVersion");
  expect_refused("{\"SchemaVersion\": 1, \"Results\": []}", "SchemaVersion is 1, not 2", 1);
  expect_refused("{\n\"SchemaVersion\": 3}", "SchemaVersion is 3", 2);
  expect_refused("{\"SchemaVersion\": \"2\"}", "SchemaVersion must be a number");
  expect_refused("{\"SchemaVersion\": null}", "SchemaVersion must be a number");
  expect_refused("{\"SchemaVersion\": 2} x", "not a valid Trivy JSON report");
  expect_refused("{\"SchemaVersion\": 2, \"Results\": {}}", "Results must be an array");
  expect_refused("{\"SchemaVersion\": 2, \"Results\": [[]]}", "elements of Results must be an object");
  expect_refused("{\"SchemaVersion\": 2, \"Results\": [\"x\"]}", "elements of Results must be an object");
  expect_refused("{\"SchemaVersion\": 2, \"Results\": [{\"Target\": 5}]}", "Results[0].Target must be a string");
  expect_refused("{\"SchemaVersion\": 2, \"Results\": [{\"Vulnerabilities\": \"none\"}]}",
                 "Vulnerabilities must be an array");
  expect_refused(
      "{\"SchemaVersion\": 2,\n\"Results\": [{\"Target\": \"t\",\n\"Vulnerabilities\": [{},\n{\"Severity\": 3}]}]}",
      "Results[0].Vulnerabilities[1].Severity must be a string", 4);
  expect_refused("{\"SchemaVersion\": 2, \"Results\": [{\"Vulnerabilities\": [{\"Severity\": \"SEVERE\"}]}]}",
                 "\"SEVERE\", not one of CRITICAL");
  expect_refused("{\"SchemaVersion\": 2, \"Results\": [{\"Secrets\": [{\"StartLine\": -1}]}]}",
                 "StartLine must be a non-negative integer");
  expect_refused("{\"SchemaVersion\": 2, \"Results\": [{\"Misconfigurations\": [{\"CauseMetadata\": []}]}]}",
                 "CauseMetadata must be an object");
  expect_refused("{\"SchemaVersion\": 2, \"Metadata\": {\"RepoTags\": [1]}}", "RepoTags must be a string");
  expect_refused("{\"SchemaVersion\": 2, \"Trivy\": \"0.50\"}", "Trivy must be an object");
  expect_refused("{\"SchemaVersion\": 2, \"Results\": [{\"Vulnerabilities\": [{\"CVSS\": {\"nvd\": 5}}]}]}",
                 "must be an object");
  expect_refused("{\"SchemaVersion\": 2, \"x\": 1e999}", "not a valid Trivy JSON report");
}

TEST(TrivyReader, RefusesTruncatedInputAtEveryCut) {
  IMGF_REQUIRE_SHARED(shared);
  const std::string full = imgf::test::read_file(shared / "fixtures/trivy/gomod.json.golden");
  // Cutting anywhere before the final '}' leaves invalid JSON: always refused, never a crash.
  for (std::size_t cut = 0; cut + 2 < full.size(); cut += 37) {
    try {
      scan_string(std::string_view(full).substr(0, cut), "cut.json", opts());
      ADD_FAILURE() << "accepted a report cut at " << cut;
    } catch (const imgf::Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_GE(e.line(), 1);
    }
  }
}

TEST(TrivyReader, TruncationIsNamedWithItsLine) {
  try {
    scan_string("{\"SchemaVersion\": 2,\n\"Results\": [\n{\"Target\": \"x\"", "t.json", opts());
    FAIL();
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.line(), 3);
    EXPECT_NE(std::string(e.what()).find("end of input"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("truncated"), std::string::npos);
  }
}

TEST(TrivyReader, RefusesInvalidUtf8) {
  std::string text = "{\"SchemaVersion\": 2, \"ArtifactName\": \"a\xff\xfe\"}";
  expect_refused(text, "UTF-8");
  std::string overlong = "{\"SchemaVersion\": 2, \"Results\": [{\"Target\": \"\xc0\xaf\"}]}";
  expect_refused(overlong, "UTF-8");
  std::string nul = std::string("{\"SchemaVersion\": 2, \"Results\": [") + '\0' + "]}";
  expect_refused(nul, "not a valid Trivy JSON report");
}

TEST(TrivyReader, DeepNestingIsSkippedOrRefusedWithoutRecursion) {
  // 200,000 nested arrays inside a skipped field: accepted (nothing there is used).
  const std::size_t depth = 200000;
  std::string deep = "{\"SchemaVersion\": 2, \"Metadata\": {\"ImageConfig\": ";
  deep += std::string(depth, '[') + std::string(depth, ']') + "}, \"Results\": []}";
  ScanOutcome out = scan_string(deep, "deep.json", opts());
  EXPECT_EQ(out.summary.vulnerabilities.total(), 0u);
  // ... where the report's shape is known: refused at the first wrong bracket.
  expect_refused("{\"SchemaVersion\": 2, \"Results\": " + std::string(depth, '[') + std::string(depth, ']') + "}",
                 "elements of Results must be an object");
  // Unclosed: refused as truncated.
  expect_refused("{\"SchemaVersion\": 2, \"X\": " + std::string(depth, '['), "end of input");
  expect_refused(std::string(depth, '['), "not an object");
}

TEST(TrivyReader, ToleratesNullAndAbsentFieldsAndAnyKeyOrder) {
  auto out = scan_string(R"({"SchemaVersion": 2, "Results": null, "Metadata": null, "Trivy": null})", "n.json", opts());
  EXPECT_EQ(out.summary.targets.size(), 0u);
  out = scan_string(R"({"SchemaVersion": 2, "Results": [null, {"Target": null, "Class": "os-pkgs",
      "Vulnerabilities": null, "Misconfigurations": [null], "Secrets": null, "MisconfSummary": null,
      "Packages": null},
      {"Target": "t", "Vulnerabilities": [{"VulnerabilityID": null, "Severity": null, "CVSS": null,
        "PkgIdentifier": null, "NewField": {"a": [1, {"b": null}]}, "Title": "x"}]}],
      "Metadata": {"RepoTags": null, "RepoDigests": []}})",
                    "n.json", opts());
  EXPECT_EQ(out.summary.targets.size(), 2u);
  EXPECT_EQ(out.summary.vulnerabilities[Severity::unknown], 1u);
  EXPECT_FALSE(out.header.has_repo_tags);
  ASSERT_TRUE(out.header.repo_digests);
  EXPECT_TRUE(out.header.repo_digests->empty());

  // SchemaVersion last, Target after the findings: the path filter still sees the target.
  ScanOptions o = opts();
  o.filters.ignores = parse_ignore_yaml("vulnerabilities:\n  - id: CVE-1\n    paths: ['a/*.lock']\n", "i.yaml");
  out = scan_string(R"({"Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1", "Severity": "HIGH"},
      {"VulnerabilityID": "CVE-2", "Severity": "LOW"}], "Class": "lang-pkgs", "Target": "a/x.lock"}],
      "SchemaVersion": 2})",
                    "o.json", o);
  EXPECT_EQ(out.summary.vulnerabilities.total(), 1u);
  EXPECT_EQ(out.summary.ignored_by_file, 1u);
  ASSERT_EQ(out.results.size(), 1u);
  EXPECT_EQ(out.results[0].target, "a/x.lock");
  EXPECT_EQ(out.results[0].klass, "lang-pkgs");
}

TEST(TrivyReader, InterruptionCheckRunsPerChunk) {
  std::string big = R"({"SchemaVersion": 2, "Metadata": {"Pad": ")" + std::string(3u << 20, 'x') + R"("}})";
  int calls = 0;
  ScanOptions o = opts();
  o.check_interrupt = [&] { ++calls; };
  scan_string(big, "big.json", o);
  EXPECT_GE(calls, 4);  // 3 MiB and more in 1 MiB chunks, plus the final empty read
  o.check_interrupt = [&] {
    if (--calls < 2) throw imgf::Error(imgf::Exit::sigint, "interrupted");
  };
  try {
    scan_string(big, "big.json", o);
    FAIL();
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 130);
  }
}

// ---- filters --------------------------------------------------------------------------------------
TEST(TrivyFilters, NoFiltersCountsEverything) {
  ScanOutcome out = scan_file(data("filters.json"), opts());
  EXPECT_EQ(counts_of(out.summary.vulnerabilities), (Arr{1, 1, 3, 3, 1}));
  EXPECT_EQ(counts_of(out.summary.misconfigurations), (Arr{0, 1, 1, 1, 0}));
  EXPECT_EQ(counts_of(out.summary.secrets), (Arr{0, 0, 1, 0, 1}));
  EXPECT_EQ(out.summary.misconfigurations_passed, 1u);
  EXPECT_EQ(out.summary.targets.size(), 5u);
  EXPECT_EQ(counts_of(out.summary.targets[1].vulnerabilities), (Arr{0, 0, 1, 1, 0}));
  // The package's locations are kept for SARIF.
  auto it = out.results[1].package_locations.find("lodash@4.17.20");
  ASSERT_NE(it, out.results[1].package_locations.end());
  ASSERT_EQ(it->second.size(), 2u);
  EXPECT_EQ(it->second[1].start_line, 30);
}

TEST(TrivyFilters, SeverityList) {
  ScanOptions o = opts();
  o.filters.severities = parse_severity_list("HIGH,critical", "--severity");
  ScanOutcome out = scan_file(data("filters.json"), o);
  EXPECT_EQ(counts_of(out.summary.vulnerabilities), (Arr{0, 0, 0, 3, 1}));
  EXPECT_EQ(counts_of(out.summary.misconfigurations), (Arr{0, 0, 0, 1, 0}));
  EXPECT_EQ(counts_of(out.summary.secrets), (Arr{0, 0, 0, 0, 1}));
  EXPECT_EQ(out.summary.ignored_by_severity, 9u);
  // The report's MisconfSummary follows: 2 failures dropped, and the LOW pass.
  ASSERT_TRUE(out.results[3].misconf_summary);
  EXPECT_EQ(out.results[3].misconf_summary->failures, 1);
  EXPECT_EQ(out.results[3].misconf_summary->successes, 19);

  EXPECT_THROW(parse_severity_list("HIGH,SEVERE", "--severity"), imgf::Error);
  EXPECT_THROW(parse_severity_list(" , ", "--severity"), imgf::Error);
  auto all = parse_severity_list("unknown low MEDIUM,HIGH,,CRITICAL", "--severity");
  EXPECT_EQ(all, (std::array<bool, kSeverityCount>{true, true, true, true, true}));
}

TEST(TrivyFilters, IgnoreUnfixed) {
  ScanOptions o = opts();
  o.filters.ignore_unfixed = true;
  ScanOutcome out = scan_file(data("filters.json"), o);
  // Dropped: affected, will_not_fix, and the status-less one without a fixed version.
  EXPECT_EQ(counts_of(out.summary.vulnerabilities), (Arr{1, 0, 2, 2, 1}));
  EXPECT_EQ(out.summary.ignored_unfixed, 3u);
  for (const auto& r : out.results)
    for (const auto& v : r.vulnerabilities) EXPECT_NE(v.id, "CVE-2024-0002");
}

TEST(TrivyFilters, TrivyignoreWithExpiry) {
  ScanOptions o = opts();
  o.filters.ignores = load_ignore_file(data("filters.trivyignore"));
  o.filters.now = day(2024, 6, 1);
  ScanOutcome out = scan_file(data("filters.json"), o);
  EXPECT_EQ(counts_of(out.summary.vulnerabilities), (Arr{1, 1, 3, 2, 1}));
  EXPECT_EQ(counts_of(out.summary.misconfigurations), (Arr{0, 1, 1, 0, 0}));  // DS002 by its AVD ID
  EXPECT_EQ(counts_of(out.summary.secrets), (Arr{0, 0, 0, 0, 1}));
  EXPECT_EQ(out.summary.ignored_by_file, 3u);
  // The expired line is reported once (a .trivyignore line applies to every kind).
  ASSERT_EQ(out.summary.expired_ignores.size(), 1u);
  EXPECT_EQ(out.summary.expired_ignores[0].id, "CVE-2024-0001");
  EXPECT_EQ(out.summary.expired_ignores[0].line, 2);
  EXPECT_EQ(out.summary.expired_ignores[0].expires, "2000-01-01");
  // The ignored misconfiguration becomes an exception in the summary JUnit reports.
  ASSERT_TRUE(out.results[3].misconf_summary);
  EXPECT_EQ(out.results[3].misconf_summary->failures, 2);
  EXPECT_EQ(out.results[3].misconf_summary->exceptions, 1);
}

TEST(TrivyFilters, ExpiryFollowsTheInjectedClock) {
  const std::string text = "CVE-2024-0003 exp:2024-03-01\n";
  ScanOptions o = opts();
  o.filters.ignores = parse_trivyignore(text, ".trivyignore");
  o.filters.now = day(2024, 2, 29);  // before: still ignored
  ScanOutcome before = scan_file(data("filters.json"), o);
  EXPECT_EQ(before.summary.ignored_by_file, 1u);
  EXPECT_TRUE(before.summary.expired_ignores.empty());
  o.filters.now = day(2024, 3, 1) + std::chrono::hours(1);  // Trivy: expired from the date's start (UTC)
  ScanOutcome after = scan_file(data("filters.json"), o);
  EXPECT_EQ(after.summary.ignored_by_file, 0u);
  ASSERT_EQ(after.summary.expired_ignores.size(), 1u);
  EXPECT_EQ(after.summary.vulnerabilities[Severity::high], 3u);
}

TEST(TrivyFilters, YamlIgnoreFile) {
  ScanOptions o = opts();
  o.filters.ignores = load_ignore_file(data("filters.trivyignore.yaml"));
  o.filters.now = day(2024, 6, 1);
  ScanOutcome out = scan_file(data("filters.json"), o);
  EXPECT_EQ(counts_of(out.summary.vulnerabilities), (Arr{1, 1, 1, 3, 1}));
  EXPECT_EQ(counts_of(out.summary.misconfigurations), (Arr{0, 0, 1, 1, 0}));
  EXPECT_EQ(counts_of(out.summary.secrets), (Arr{0, 0, 1, 0, 0}));
  EXPECT_EQ(out.summary.ignored_by_file, 4u);
  ASSERT_EQ(out.summary.expired_ignores.size(), 1u);
  EXPECT_EQ(out.summary.expired_ignores[0].id, "CVE-2024-0002");
  EXPECT_EQ(out.summary.expired_ignores[0].line, 6);
  // CVE-2024-0001 is ignored in the lock file only, not in the OS packages.
  EXPECT_EQ(out.results[0].vulnerabilities[0].id, "CVE-2024-0001");
  EXPECT_EQ(out.results[1].vulnerabilities.size(), 1u);
}

TEST(TrivyFilters, IgnoreFileErrorsNameTheLine) {
  try {
    parse_trivyignore("CVE-1\nCVE-2 exp:2024-13-01\n", "x.trivyignore");
    FAIL();
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(e.line(), 2);
  }
  auto bad_yaml = [](const std::string& text, int line) {
    try {
      parse_ignore_yaml(text, "i.yaml");
      ADD_FAILURE() << text;
    } catch (const imgf::Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_EQ(e.line(), line) << e.what();
    }
  };
  bad_yaml("vulnerabilities: CVE-1\n", 1);
  bad_yaml("vulnerabilities:\n  - CVE-1\n", 2);
  bad_yaml("secrets:\n  - id: a\n  - statement: no id\n", 3);
  bad_yaml("vulnerabilities:\n  - id: a\n    expired_at: soon\n", 3);
  bad_yaml("vulnerabilities:\n  - id: a\n    purls: [not-a-purl]\n", 3);
  bad_yaml("- a\n", 1);
  bad_yaml("vulnerabilities:\n  - id: [a\n", 3);
  EXPECT_THROW(load_ignore_file(data("does-not-exist.trivyignore")), imgf::Error);
  // Comments, blank lines, RFC 3339 expiries.
  auto r = parse_ignore_yaml(
      "# c\nvulnerabilities:\n  - id: a\n    expired_at: 2024-01-02T03:04:05Z\n  - id: b\n    expires: "
      "2024-01-02T00:00:00+02:00\n",
      "i.yaml");
  ASSERT_EQ(r.vulnerabilities.size(), 2u);
  EXPECT_EQ(*r.vulnerabilities[0].expires, day(2024, 1, 2) + std::chrono::hours(3) + std::chrono::minutes(4) +
                                               std::chrono::seconds(5));
  EXPECT_EQ(*r.vulnerabilities[1].expires, day(2024, 1, 1) + std::chrono::hours(22));
  auto t = parse_trivyignore("\n# only comments\n   \n  CVE-9   \n", "t");
  ASSERT_EQ(t.vulnerabilities.size(), 1u);
  EXPECT_EQ(t.vulnerabilities[0].id, "CVE-9");
  EXPECT_EQ(t.vulnerabilities[0].line, 4);
}

TEST(TrivyFilters, Globs) {
  EXPECT_TRUE(glob_match("**/*-lock.json", "package-lock.json"));
  EXPECT_TRUE(glob_match("**/*-lock.json", "a/b/c/package-lock.json"));
  EXPECT_FALSE(glob_match("*-lock.json", "a/package-lock.json"));
  EXPECT_TRUE(glob_match("app/**", "app/x/y"));
  EXPECT_TRUE(glob_match("app/**", "app"));  // ** matches zero segments
  EXPECT_TRUE(glob_match("bar/package.json", "bar/package.json"));
  EXPECT_FALSE(glob_match("bar/package.json", "foo/bar/package.json"));
  EXPECT_TRUE(glob_match("usr/lib/python3.?/**/*.py", "usr/lib/python3.9/site-packages/a.py"));
  EXPECT_TRUE(glob_match("{app,lib}/*.txt", "lib/a.txt"));
  EXPECT_FALSE(glob_match("{app,lib}/*.txt", "bin/a.txt"));
  EXPECT_TRUE(glob_match("a/{b,c{d,e}}/f", "a/ce/f"));
  EXPECT_TRUE(glob_match("[a-c]x[!0-9]", "bxz"));
  EXPECT_FALSE(glob_match("[a-c]x[!0-9]", "bx5"));
  EXPECT_TRUE(glob_match("\\*.txt", "*.txt"));
  EXPECT_FALSE(glob_match("\\*.txt", "a.txt"));
  EXPECT_TRUE(glob_match("h?llo", "h\xC3\xA9llo"));  // ? is one character, not one byte
  EXPECT_FALSE(glob_match("[abc", "a"));             // an unterminated class matches nothing
  EXPECT_TRUE(glob_match("*", ""));
  // Pathological patterns stay fast (no exponential backtracking across segments).
  EXPECT_FALSE(glob_match("**/**/**/**/**/**/**/**/x", "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/y"));
  EXPECT_FALSE(glob_match("*a*a*a*a*a*a*a*b", std::string(200, 'a')));
}

TEST(TrivyFilters, PackageUrls) {
  EXPECT_TRUE(purl_match("pkg:golang/github.com/aquasecurity/bar", "pkg:golang/github.com/aquasecurity/bar@1.0"));
  EXPECT_FALSE(purl_match("pkg:golang/github.com/aquasecurity/aaa@9.9.9", "pkg:golang/github.com/aquasecurity/aaa@1.0"));
  EXPECT_TRUE(purl_match("pkg:npm/%40angular/core@1.0", "pkg:npm/@angular/core@1.0"));
  EXPECT_TRUE(purl_match("pkg:deb/debian/openssl?arch=amd64", "pkg:deb/debian/openssl@3?arch=amd64&distro=x"));
  EXPECT_FALSE(purl_match("pkg:deb/debian/openssl?arch=arm64", "pkg:deb/debian/openssl@3?arch=amd64"));
  EXPECT_FALSE(purl_match("pkg:npm/lodash", "pkg:pypi/lodash@1"));
  EXPECT_FALSE(purl_match("lodash", "pkg:npm/lodash@1"));
}

// ---- policy ---------------------------------------------------------------------------------------
TEST(TrivyPolicy, FailOnCountsEveryKindAtOrAbove) {
  ScanOptions o = opts(Detail::counts);
  o.policy.fail_on = Severity::high;
  ScanOutcome out = scan_file(data("filters.json"), o);
  const auto& p = out.summary.policy;
  EXPECT_FALSE(p.passed);
  EXPECT_EQ(p.vulnerabilities.total(), 4u);
  EXPECT_EQ(p.misconfigurations.total(), 1u);
  EXPECT_EQ(p.secrets.total(), 1u);
  EXPECT_EQ(p.total(), 6u);
  ASSERT_EQ(p.examples.size(), 6u);
  EXPECT_EQ(p.examples[0].id, "CVE-2024-0001");
  EXPECT_EQ(p.examples[0].package, "openssl@3.0.11-1");
  std::string text = describe_policy_failure(p);
  EXPECT_NE(text.find("--fail-on HIGH: 6 findings at or above HIGH: 4 vulnerabilities (CRITICAL: 1, HIGH: 3), "
                      "1 misconfiguration (HIGH: 1), 1 secret (CRITICAL: 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("CRITICAL secret github-pat (app/config/.env)"), std::string::npos) << text;

  o.policy.fail_on = Severity::critical;
  o.filters.severities = parse_severity_list("LOW,MEDIUM,HIGH", "--severity");
  EXPECT_TRUE(scan_file(data("filters.json"), o).summary.policy.passed);
  o.policy.fail_on.reset();
  EXPECT_TRUE(scan_file(data("filters.json"), o).summary.policy.passed);
  EXPECT_EQ(describe_policy_failure(scan_file(data("filters.json"), o).summary.policy), "");
}

TEST(TrivyPolicy, ExamplesAreCapped) {
  std::string text = R"({"SchemaVersion": 2, "Results": [{"Target": "t", "Vulnerabilities": [)";
  for (int i = 0; i < 100; ++i) text += std::string(i ? "," : "") + R"({"VulnerabilityID": "C)" + std::to_string(i) + R"(", "Severity": "HIGH"})";
  text += "]}]}";
  ScanOptions o = opts(Detail::counts);
  o.policy.fail_on = Severity::low;
  ScanOutcome out = scan_string(text, "x", o);
  EXPECT_EQ(out.summary.policy.examples.size(), kPolicyExamples);
  EXPECT_NE(describe_policy_failure(out.summary.policy).find("... and 80 more"), std::string::npos);
}

// ---- enrolled images ------------------------------------------------------------------------------
TEST(TrivyState, PushedReference) {
  imgf::enrollment::Image img;
  img.name = "app";
  img.registry = "ghcr.io";
  img.repository = "team/app";
  const std::string digest = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(pushed_reference(img, "", "", ""), "ghcr.io/team/app:latest");
  EXPECT_EQ(pushed_reference(img, "", "1.2", "currentDigest: " + digest + "\n"), "ghcr.io/team/app:1.2");
  EXPECT_EQ(pushed_reference(img, "", "", "currentVersion: '0.6.5'\ncurrentDigest: " + digest + "\n"),
            "ghcr.io/team/app@" + digest);
  EXPECT_EQ(pushed_reference(img, "127.0.0.1:5000", "", "currentVersion: 0.6.5\n"), "127.0.0.1:5000/team/app:0.6.5");
  // The original tool's placeholder digest is not a digest.
  EXPECT_EQ(pushed_reference(img, "", "",
                             "currentVersion: \"0.6.5\"\ncurrentDigest: sha256:placeholder-will-be-updated-by-workflow\n"),
            "ghcr.io/team/app:0.6.5");
  EXPECT_EQ(pushed_reference(img, "", "", "{{{ not yaml"), "ghcr.io/team/app:latest");
  img.registry.clear();
  EXPECT_EQ(pushed_reference(img, "", "v1", ""), "team/app:v1");
}

TEST(TrivyState, LastScanField) {
  ScanOptions o = opts(Detail::counts);
  o.policy.fail_on = Severity::critical;
  ScanOutcome out = scan_file(data("filters.json"), o);
  auto f = last_scan_field(out, "ghcr.io/team/app:1", "2024-05-01T10:00:00Z");
  EXPECT_TRUE(f.block);
  EXPECT_EQ(f.text, "  scannedAt: '2024-05-01T10:00:00Z'\n"
                    "  reference: 'ghcr.io/team/app:1'\n"
                    "  counts:\n"
                    "    CRITICAL: 1\n    HIGH: 3\n    MEDIUM: 3\n    LOW: 1\n    UNKNOWN: 1\n"
                    "  misconfigurations: 3\n"
                    "  secrets: 2\n"
                    "  reportSha256: " + imgf::fsutil::sha256_file(data("filters.json")) + "\n"
                    "  failOn: CRITICAL\n"
                    "  passed: false");
}

// ---- running Trivy --------------------------------------------------------------------------------
TEST(TrivyRun, ArgvTimeoutAndSuccess) {
  imgf::proc::RecordingRunner runner;
  RunOptions o;
  o.reference = "ghcr.io/team/app@sha256:" + std::string(64, 'b');
  o.output = "/tmp/x/report.json";
  o.timeout = std::chrono::minutes(15);
  o.extra_args = {"--scanners", "vuln"};
  run_trivy(runner, o);
  auto calls = runner.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].argv, (std::vector<std::string>{"trivy", "image", "--format", "json", "--quiet", "--output",
                                                     "/tmp/x/report.json", "--scanners", "vuln", o.reference}));
  EXPECT_EQ(calls[0].timeout, std::chrono::minutes(15));
  o.trivy = "/opt/trivy/bin/trivy";
  EXPECT_EQ(trivy_argv(o).front(), "/opt/trivy/bin/trivy");
}

TEST(TrivyRun, FailuresReportExitStatusAndStderr) {
  RunOptions o;
  o.reference = "alpine:3.19";
  o.output = "/tmp/r.json";
  imgf::proc::RecordingRunner failing([](const imgf::proc::Spec&) {
    imgf::proc::Result r;
    r.exit_code = 1;
    r.err = "2024-05-01T10:00:00Z\tINFO\tNeed to update DB\n"
            "2024-05-01T10:00:01Z\tFATAL\tunable to find the specified image \"alpine:3.19\"\n";
    return r;
  });
  try {
    run_trivy(failing, o);
    FAIL();
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 1);
    std::string w = e.what();
    EXPECT_NE(w.find("trivy exited with status 1 while scanning alpine:3.19"), std::string::npos) << w;
    EXPECT_NE(w.find("unable to find the specified image"), std::string::npos) << w;
  }
  imgf::proc::RecordingRunner timing_out([](const imgf::proc::Spec&) {
    imgf::proc::Result r;
    r.timed_out = true;
    r.signal = 15;
    r.elapsed = std::chrono::milliseconds(2000);
    return r;
  });
  try {
    run_trivy(timing_out, o);
    FAIL();
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("--timeout"), std::string::npos);
  }
  imgf::proc::RecordingRunner missing([](const imgf::proc::Spec&) {
    imgf::proc::Result r;
    r.spawn_failed = true;
    r.spawn_error = "'trivy' not found on PATH";
    return r;
  });
  try {
    run_trivy(missing, o);
    FAIL();
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_NE(std::string(e.what()).find("not found on PATH"), std::string::npos);
    EXPECT_NE(e.hint().find("TRIVY"), std::string::npos);
  }
  o.reference = "--exit-code=0";
  imgf::proc::RecordingRunner never;
  EXPECT_THROW(run_trivy(never, o), imgf::Error);
  EXPECT_TRUE(never.calls().empty());
}
