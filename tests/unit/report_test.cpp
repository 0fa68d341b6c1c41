// Renderers: SARIF and JUnit against Trivy's own output, the JSON summary, table, Markdown, and
// the escaping helpers.
#include "imgfactory/report.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "imgfactory/trivy.hpp"
#include "testutil.hpp"

using namespace imgf;
using namespace imgf::report;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

trivy::ScanOutcome scan(const fs::path& p, Format f, std::optional<trivy::Severity> fail_on = std::nullopt) {
  trivy::ScanOptions o;
  o.detail = detail_for(f);
  o.policy.fail_on = fail_on;
  return trivy::scan_file(p, o);
}

std::string rendered(Format f, const trivy::ScanOutcome& s, const Context& ctx = {}) {
  std::ostringstream os;
  render(f, s, ctx, os);
  return os.str();
}

fs::path data(const std::string& name) { return test::source_dir() / "tests/data/trivy" / name; }

std::string strip_final_newline(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::vector<fs::path> fixtures(const fs::path& shared) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(shared / "fixtures/trivy")) {
    std::string n = e.path().filename().string();
    if (n.size() > 12 && n.substr(n.size() - 12) == ".json.golden") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// ---- Trivy's own SARIF and JUnit for the alpine-310 scan -----------------------------------------
TEST(ReportGolden, SarifIsTrivysOwnByteForByte) {
  IMGF_REQUIRE_SHARED(shared);
  auto s = scan(shared / "fixtures/trivy/alpine-310.json.golden", Format::sarif);
  const std::string ours = rendered(Format::sarif, s);
  const std::string theirs = test::read_file(shared / "fixtures/trivy/alpine-310.sarif.golden");
  EXPECT_EQ(json::parse(ours), json::parse(theirs));
  EXPECT_EQ(strip_final_newline(ours), strip_final_newline(theirs));
}

TEST(ReportGolden, JunitIsTrivysOwnByteForByte) {
  IMGF_REQUIRE_SHARED(shared);
  auto s = scan(shared / "fixtures/trivy/alpine-310.json.golden", Format::junit);
  EXPECT_EQ(rendered(Format::junit, s), test::read_file(shared / "fixtures/trivy/alpine-310.junit.golden"));
}

TEST(ReportGolden, SarifOfEveryFixtureIsConsistent) {
  IMGF_REQUIRE_SHARED(shared);
  for (const auto& p : fixtures(shared)) {
    SCOPED_TRACE(p.filename().string());
    auto s = scan(p, Format::sarif);
    json doc = json::parse(rendered(Format::sarif, s));
    EXPECT_EQ(doc["version"], "2.1.0");
    const json& run = doc["runs"][0];
    const json& rules = run["tool"]["driver"]["rules"];
    const json& results = run["results"];
    // One result per finding (failed misconfigurations), one rule per distinct ID.
    std::set<std::string> ids;
    std::size_t findings = 0;
    for (const auto& r : s.results) {
      for (const auto& v : r.vulnerabilities) ids.insert(v.id), ++findings;
      for (const auto& m : r.misconfigurations)
        if (m.failed()) ids.insert(m.id), ++findings;
      for (const auto& x : r.secrets) ids.insert(x.rule_id), ++findings;
    }
    EXPECT_EQ(results.size(), findings);
    EXPECT_EQ(rules.size(), ids.size());
    for (const auto& res : results) {
      const std::size_t i = res["ruleIndex"].get<std::size_t>();
      ASSERT_LT(i, rules.size());
      EXPECT_EQ(rules[i]["id"], res["ruleId"]);
      EXPECT_FALSE(res["locations"].empty());
      EXPECT_GE(res["locations"][0]["physicalLocation"]["region"]["startLine"].get<int>(), 1);
    }
  }
}

// ---- SARIF details that the alpine fixture does not exercise ------------------------------------
TEST(ReportSarif, MisconfigurationsSecretsAndPackageLocations) {
  auto s = scan(data("filters.json"), Format::sarif);
  json doc = json::parse(rendered(Format::sarif, s));
  const json& run = doc["runs"][0];
  const json& rules = run["tool"]["driver"]["rules"];
  const json& results = run["results"];
  // 9 vulnerabilities, 3 failed misconfigurations (the PASS is not a result), 2 secrets.
  ASSERT_EQ(results.size(), 14u);
  // CVE-2024-0001 appears twice; its rule is described by the last one (lang-pkgs, MEDIUM).
  EXPECT_EQ(rules[0]["id"], "CVE-2024-0001");
  EXPECT_EQ(rules[0]["name"], "LanguageSpecificPackageVulnerability");
  EXPECT_EQ(rules[0]["defaultConfiguration"]["level"], "warning");
  EXPECT_EQ(results[0]["level"], "error");  // the CRITICAL one keeps its own level
  EXPECT_EQ(results[0]["ruleIndex"], 0);
  // OS package targets become the image's repository.
  EXPECT_EQ(results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "team/app");
  // The package's two locations in the lock file.
  const json& lodash = results[6];
  EXPECT_EQ(lodash["ruleId"], "CVE-2021-23337");
  ASSERT_EQ(lodash["locations"].size(), 2u);
  EXPECT_EQ(lodash["locations"][1]["physicalLocation"]["region"]["startLine"], 30);
  EXPECT_EQ(lodash["locations"][1]["physicalLocation"]["region"]["endLine"], 34);
  EXPECT_EQ(lodash["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "app/package-lock.json");
  // PkgPath wins over the target.
  EXPECT_EQ(results[8]["locations"][0]["message"]["text"], "usr/local/bin/tool: golang.org/x/net@v0.17.0");
  // Misconfiguration: its lines; no lines -> 1:1.
  const json& ds002 = results[9];
  EXPECT_EQ(ds002["ruleId"], "DS002");
  EXPECT_EQ(ds002["locations"][0]["physicalLocation"]["region"]["startLine"], 1);
  EXPECT_EQ(results[10]["locations"][0]["physicalLocation"]["region"]["endLine"], 12);
  EXPECT_EQ(ds002["message"]["text"],
            "Artifact: app/Dockerfile\nType: dockerfile\nVulnerability DS002\nSeverity: HIGH\nMessage: Specify a USER\n"
            "Link: [DS002](https://avd.aquasec.com/misconfig/ds002)");
  // Secret.
  const json& pat = results[12];
  EXPECT_EQ(pat["ruleId"], "github-pat");
  EXPECT_EQ(pat["level"], "error");
  EXPECT_EQ(pat["locations"][0]["physicalLocation"]["region"]["startLine"], 2);
  // Rule properties: severity scores without CVSS data.
  for (const auto& r : rules)
    if (r["id"] == "github-pat") {
      EXPECT_EQ(r["properties"]["security-severity"], "9.5");
      EXPECT_EQ(r["properties"]["tags"], json({"secret", "security", "CRITICAL"}));
      EXPECT_EQ(r["name"], "Secret");
    }
  EXPECT_EQ(run["properties"]["repoDigests"][0],
            "registry.example/team/app@sha256:2222222222222222222222222222222222222222222222222222222222222222");
}

TEST(ReportSarif, EmptyReport) {
  trivy::ScanOptions o;
  auto s = trivy::scan_string(R"({"SchemaVersion": 2, "ArtifactType": "repository"})", "e.json", o);
  std::string out = rendered(Format::sarif, s);
  json doc = json::parse(out);
  EXPECT_TRUE(doc["runs"][0]["tool"]["driver"]["rules"].is_array());
  EXPECT_TRUE(doc["runs"][0]["results"].is_array());
  EXPECT_TRUE(doc["runs"][0]["results"].empty());
  EXPECT_FALSE(doc["runs"][0].contains("properties"));
  EXPECT_NE(out.find("\"rules\": []"), std::string::npos) << out;
}

TEST(ReportSarif, TargetPathsAndUris) {
  EXPECT_EQ(sarif_target_path("alpine:3.10 (alpine 3.10.2)", "os-pkgs"), "library/alpine");
  EXPECT_EQ(sarif_target_path("ghcr.io/team/app:1.0 (debian 12.5)", "os-pkgs"), "team/app");
  EXPECT_EQ(sarif_target_path("localhost:5000/app@sha256:" + std::string(64, 'c') + " (alpine 3.19)", "os-pkgs"),
            "app");
  EXPECT_EQ(sarif_target_path("docker.io/nginx", "os-pkgs"), "library/nginx");
  EXPECT_EQ(sarif_target_path("testdata/fixtures/images/alpine-310.tar.gz (alpine 3.10.2)", "os-pkgs"),
            "testdata/fixtures/images/alpine-310.tar.gz");
  EXPECT_EQ(sarif_target_path("My Image.tar (ubuntu 22.04)", "os-pkgs"), "My Image.tar");
  EXPECT_EQ(sarif_target_path("C:\\images\\x.tar", "os-pkgs"), "C:/images/x.tar");
  EXPECT_EQ(sarif_target_path("Cargo.lock", "lang-pkgs"), "Cargo.lock");
  EXPECT_EQ(sarif_target_path("x (y)", "lang-pkgs"), "x (y)");
  EXPECT_EQ(go_url_string("testdata/a.tar.gz"), "testdata/a.tar.gz");
  EXPECT_EQ(go_url_string("My Image.tar"), "My%20Image.tar");
  EXPECT_EQ(go_url_string("a/b@c!$'(x)"), "a/b@c!$'(x)");
  EXPECT_EQ(go_url_string("caf\xC3\xA9/x"), "caf%C3%A9/x");
  EXPECT_EQ(go_url_string("C:/images/x.tar"), "C:/images/x.tar");  // a scheme, as Go reads it
  EXPECT_EQ(go_url_string("dir/x:y"), "dir/x:y");
  EXPECT_EQ(go_url_string("100%"), "");  // url.Parse fails
  EXPECT_EQ(go_url_string("https://avd.aquasec.com/nvd/cve-2019-1549"), "https://avd.aquasec.com/nvd/cve-2019-1549");
}

TEST(ReportSarif, GoJsonStrings) {
  EXPECT_EQ(go_json_string("a\"b\\c\nd\te\r"), "\"a\\\"b\\\\c\\nd\\te\\r\"");
  EXPECT_EQ(go_json_string("<b>&</b>"), "\"\\u003cb\\u003e\\u0026\\u003c/b\\u003e\"");
  EXPECT_EQ(go_json_string(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(go_json_string("line\xE2\x80\xA8sep"), "\"line\\u2028sep\"");
  EXPECT_EQ(go_json_string("caf\xC3\xA9"), "\"caf\xC3\xA9\"");
}

// ---- JUnit ----------------------------------------------------------------------------------------
TEST(ReportJunit, MisconfigurationSuitesAndSecrets) {
  auto s = scan(data("filters.json"), Format::junit);
  std::string x = rendered(Format::junit, s);
  EXPECT_NE(x.find("<testsuite tests=\"23\" failures=\"3\" name=\"app/Dockerfile\" errors=\"0\" skipped=\"0\" time=\"\">"),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("<testcase classname=\"Dockerfile Security Check\" name=\"[LOW] DS005\" time=\"\">\n        "
                   "</testcase>"),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("<failure message=\"Image user should not be &#39;root&#39;\" type=\"description\">Running as "
                   "root.</failure>"),
            std::string::npos);
  EXPECT_NE(x.find("<testsuite tests=\"2\" failures=\"2\" name=\"app/config/.env\" time=\"0\">"), std::string::npos);
  EXPECT_NE(x.find("<testcase classname=\"github-pat\" name=\"[CRITICAL] GitHub Personal Access Token\">"),
            std::string::npos);
  EXPECT_NE(x.find("glibc: | pipe &lt;b&gt;and&lt;/b&gt; tags"), std::string::npos);
  // A Result without Type has no properties.
  EXPECT_EQ(x.find("<property name=\"type\" value=\"\">"), std::string::npos);
}

TEST(ReportJunit, XmlEscape) {
  EXPECT_EQ(xml_escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&#34;e&#39;f");
  EXPECT_EQ(xml_escape("t\tn\nr\r"), "t&#x9;n&#xA;r&#xD;");
  EXPECT_EQ(xml_escape(std::string("x\x01y", 3)), "x\xEF\xBF\xBDy");  // not an XML character
  EXPECT_EQ(xml_escape("bad\xff"), "bad\xEF\xBF\xBD");                // invalid UTF-8
  EXPECT_EQ(xml_escape("caf\xC3\xA9 \xF0\x9F\x94\x92"), "caf\xC3\xA9 \xF0\x9F\x94\x92");
  EXPECT_EQ(xml_escape("\xEF\xBF\xBE"), "\xEF\xBF\xBD");  // U+FFFE
}

// ---- JSON summary (CLI.md) ------------------------------------------------------------------------
TEST(ReportJson, SummaryShape) {
  auto s = scan(data("filters.json"), Format::json, trivy::Severity::high);
  Context ctx;
  ctx.image = "app";
  ctx.reference = "registry.example/team/app:1.2.3";
  json j = json::parse(rendered(Format::json, s, ctx));
  EXPECT_EQ(j["counts"], json({{"CRITICAL", 1}, {"HIGH", 3}, {"MEDIUM", 3}, {"LOW", 1}, {"UNKNOWN", 1}}));
  EXPECT_EQ(j["misconfigurations"], 3);
  EXPECT_EQ(j["secrets"], 2);
  EXPECT_EQ(j["policy"], json({{"failOn", "HIGH"}, {"passed", false}, {"violations", 6}}));
  EXPECT_EQ(j["image"], "app");
  EXPECT_EQ(j["targets"].size(), 5u);
  EXPECT_EQ(j["targets"][3]["misconfigurations"], 3);
  EXPECT_EQ(j["report"]["sha256"].get<std::string>().size(), 64u);
  // Key order of counts: most severe first.
  std::string text = rendered(Format::json, s, ctx);
  EXPECT_LT(text.find("\"CRITICAL\""), text.find("\"UNKNOWN\""));

  auto passed = scan(data("filters.json"), Format::json);
  json p = json::parse(rendered(Format::json, passed));
  EXPECT_EQ(p["policy"], json({{"failOn", nullptr}, {"passed", true}, {"violations", 0}}));
  EXPECT_TRUE(p["image"].is_null());
}

// ---- table and Markdown ---------------------------------------------------------------------------
TEST(ReportTable, PerTargetBySeverity) {
  auto s = scan(data("filters.json"), Format::table, trivy::Severity::critical);
  std::string t = rendered(Format::table, s);
  EXPECT_NE(t.find("registry.example/team/app:1.2.3 (debian 12.5) [debian]\n"
                   "  Vulnerabilities: 6 (CRITICAL: 1, HIGH: 2, MEDIUM: 1, LOW: 1, UNKNOWN: 1)"),
            std::string::npos)
      << t;
  // Most severe first within a target.
  EXPECT_LT(t.find("CVE-2024-0001"), t.find("CVE-2024-0002"));
  EXPECT_LT(t.find("CVE-2024-0003"), t.find("CVE-2024-0004"));
  EXPECT_NE(t.find("  Misconfigurations: 3 (CRITICAL: 0, HIGH: 1, MEDIUM: 1, LOW: 1, UNKNOWN: 0)"), std::string::npos);
  EXPECT_NE(t.find("  Secrets: 2"), std::string::npos);
  EXPECT_NE(t.find("Total: 9 vulnerabilities (CRITICAL: 1, HIGH: 3, MEDIUM: 3, LOW: 1, UNKNOWN: 1), "
                   "3 misconfigurations, 2 secrets"),
            std::string::npos);
  EXPECT_NE(t.find("Policy: --fail-on CRITICAL: FAILED (2 findings at or above CRITICAL)"), std::string::npos) << t;
  EXPECT_EQ(t.find("\x1b["), std::string::npos);  // no colour unless asked
  Context color;
  color.color = true;
  EXPECT_NE(rendered(Format::table, s, color).find("\x1b[1;31mCRITICAL\x1b[0m"), std::string::npos);
}

TEST(ReportTable, NoFindings) {
  IMGF_REQUIRE_SHARED(shared);
  auto s = scan(shared / "fixtures/trivy/alpine-39-skip.json.golden", Format::table);
  std::string t = rendered(Format::table, s);
  EXPECT_NE(t.find("no results"), std::string::npos) << t;
  EXPECT_NE(t.find("Total: 0 vulnerabilities"), std::string::npos);
}

TEST(ReportMarkdown, StepSummary) {
  auto s = scan(data("filters.json"), Format::markdown, trivy::Severity::high);
  std::string m = rendered(Format::markdown, s);
  EXPECT_NE(m.find("## Trivy scan: registry.example/team/app:1.2.3\n"), std::string::npos) << m;
  EXPECT_NE(m.find("**Policy:** :x: failed (`--fail-on HIGH`): 6 findings at or above HIGH"), std::string::npos);
  EXPECT_NE(m.find("| CRITICAL | 1 | 0 | 1 |"), std::string::npos) << m;
  EXPECT_NE(m.find("| **Total** | **9** | **3** | **2** |"), std::string::npos);
  EXPECT_NE(m.find("[CVE-2024-0001](https://avd.aquasec.com/nvd/cve-2024-0001)"), std::string::npos);
  // Cells cannot break the table or inject HTML.
  EXPECT_NE(m.find("glibc: \\| pipe &lt;b&gt;and&lt;/b&gt; tags"), std::string::npos) << m;
  // The cap on listed findings.
  Context few;
  few.markdown_limit = 3;
  std::string capped = rendered(Format::markdown, s, few);
  EXPECT_NE(capped.find("_11 of 14 findings are not listed here"), std::string::npos) << capped;
}

TEST(ReportFormats, Names) {
  for (Format f : {Format::table, Format::json, Format::sarif, Format::junit, Format::markdown})
    EXPECT_EQ(parse_format(to_string(f)), f);
  EXPECT_FALSE(parse_format("xml"));
  EXPECT_EQ(detail_for(Format::json), trivy::Detail::counts);
  EXPECT_EQ(detail_for(Format::table), trivy::Detail::summary);
  EXPECT_EQ(detail_for(Format::sarif), trivy::Detail::full);
}
