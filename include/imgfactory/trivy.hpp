#pragma once
// Trivy reports: a streaming reader of Trivy's JSON (SchemaVersion 2), the filters of
// `imgfactory scan` (--severity, --ignore-unfixed, --ignore-file in .trivyignore and YAML
// form), the --fail-on policy, and running Trivy itself.
//
// The reader is a SAX parser (nlohmann::json::sax_parse over a chunked file reader): memory
// stays bounded by what the caller asks to keep (`Detail`), not by the file size. Findings
// flow parser -> filter -> summary (always) and collector (unless Detail::counts).
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "imgfactory/enrollment.hpp"
#include "imgfactory/state_fields.hpp"

namespace imgf::proc {
class Runner;
}

namespace imgf::trivy {

// ---- severities -------------------------------------------------------------------------------
// Ordered: a higher value is more severe.
enum class Severity : std::uint8_t { unknown = 0, low = 1, medium = 2, high = 3, critical = 4 };
inline constexpr std::size_t kSeverityCount = 5;
// From most to least severe, the order of every output.
inline constexpr std::array<Severity, kSeverityCount> kSeveritiesDescending = {
    Severity::critical, Severity::high, Severity::medium, Severity::low, Severity::unknown};

// "CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN".
std::string_view to_string(Severity s);
// Case-insensitive; nullopt for anything else.
std::optional<Severity> parse_severity(std::string_view text);
// "HIGH,CRITICAL" (commas and/or spaces). Throws imgf::Error (exit 2) naming `option` on an
// unknown name or an empty list.
std::array<bool, kSeverityCount> parse_severity_list(std::string_view list, std::string_view option);

// ---- findings (only the fields imgfactory uses; the rest of a report is skipped) --------------
struct Cvss {
  std::string v2_vector, v3_vector, v40_vector;
  double v2_score = 0, v3_score = 0, v40_score = 0;
};

struct Vulnerability {
  std::string id;  // VulnerabilityID
  std::string pkg_id, pkg_name, pkg_path, purl, installed_version, fixed_version, status;
  Severity severity = Severity::unknown;
  // Detail::summary and up
  std::string title, primary_url;
  // Detail::full
  std::string description, severity_source;
  std::optional<Cvss> cvss;  // the CVSS entry of severity_source, when the report has one
};

struct CodeLine {
  int number = 0;
  std::string content;
  bool is_cause = false;
};

struct Misconfiguration {
  std::string id, avd_id, status;  // status: FAIL, PASS, EXCEPTION ("" counts as FAIL)
  Severity severity = Severity::unknown;
  // Detail::summary and up
  std::string type, title, message, primary_url;
  int start_line = 0, end_line = 0;
  // Detail::full
  std::string description, resolution;
  [[nodiscard]] bool failed() const { return status.empty() || status == "FAIL"; }
};

struct Secret {
  std::string rule_id;
  Severity severity = Severity::unknown;
  // Detail::summary and up
  std::string category, title;
  int start_line = 0, end_line = 0;
  // Detail::full
  std::string match;
};

struct MisconfSummary {
  std::int64_t successes = 0, failures = 0, exceptions = 0;
};

struct PackageLocation {
  int start_line = 0, end_line = 0;
};

// A Result of the report after filters (collected unless Detail::counts).
struct Result {
  std::string target, klass, type;
  std::vector<Vulnerability> vulnerabilities;
  std::vector<Misconfiguration> misconfigurations;  // failures and, for JUnit, passes
  std::vector<Secret> secrets;
  std::optional<MisconfSummary> misconf_summary;
  // Locations of packages by "name@version" (Detail::full, packages that have locations).
  std::unordered_map<std::string, std::vector<PackageLocation>> package_locations;
};

struct ReportHeader {
  std::int64_t schema_version = 0;
  std::string artifact_name, artifact_type, created_at, trivy_version;
  std::string image_id;
  std::vector<std::string> repo_tags;
  std::optional<std::vector<std::string>> repo_digests;  // nullopt: absent/null in the report
  bool has_repo_tags = false;
};

// What the reader keeps of each finding: counts (only what filters and the policy need),
// summary (+ titles, links, lines: table, markdown), full (+ descriptions, CVSS, package
// locations: SARIF, JUnit).
enum class Detail { counts, summary, full };

// ---- ignore files -----------------------------------------------------------------------------
struct IgnoreEntry {
  std::string id;                  // empty in YAML entries that match by paths/purls only
  std::vector<std::string> paths;  // doublestar globs; empty: any path
  std::vector<std::string> purls;  // package URLs (vulnerabilities); empty: any package
  std::optional<std::chrono::system_clock::time_point> expires;
  std::string expires_text;  // as written
  std::string statement;
  std::string file;
  int line = 0;
};

struct IgnoreRules {
  std::string file;
  std::vector<IgnoreEntry> vulnerabilities, misconfigurations, secrets;
  [[nodiscard]] bool empty() const {
    return vulnerabilities.empty() && misconfigurations.empty() && secrets.empty();
  }
};

// Trivy's .trivyignore: one ID a line, `#` comments, optional `exp:YYYY-MM-DD`; each ID
// applies to vulnerabilities, misconfigurations and secrets. Throws imgf::Error (exit 2,
// FILE:LINE) on a malformed expiry date.
IgnoreRules parse_trivyignore(std::string_view text, const std::string& file);
// Trivy's .trivyignore.yaml: `vulnerabilities`, `misconfigurations`, `secrets` (and
// `licenses`, accepted and unused) lists of {id, paths, purls, statement|reason,
// expired_at|expires}. Throws imgf::Error (exit 2, FILE:LINE) on a wrong shape.
IgnoreRules parse_ignore_yaml(std::string_view text, const std::string& file);
// By extension: .yaml/.yml -> YAML, anything else -> .trivyignore. A missing file is an error.
IgnoreRules load_ignore_file(const std::filesystem::path& path);

// doublestar-style glob: `**` any number of path segments, `*` and `?` within a segment,
// `[...]` classes (`!`/`^` negate), `{a,b}` alternatives, `\` escapes.
bool glob_match(std::string_view pattern, std::string_view path);
// A package URL pattern matches a package URL when type, namespace and name are equal, and
// the pattern's version (if any) and qualifiers (if any) are equal to the package's.
bool purl_match(std::string_view pattern, std::string_view purl);

// ---- filters, policy, summary ----------------------------------------------------------------
struct FilterOptions {
  std::array<bool, kSeverityCount> severities{true, true, true, true, true};  // kept severities
  bool ignore_unfixed = false;
  IgnoreRules ignores;
  // "Now" for ignore expiry; injected by tests. Default: the system clock at scan time.
  std::optional<std::chrono::system_clock::time_point> now;
};

struct Policy {
  std::optional<Severity> fail_on;
};

struct Counts {
  std::array<std::uint64_t, kSeverityCount> by_severity{};  // indexed by Severity
  [[nodiscard]] std::uint64_t total() const;
  [[nodiscard]] std::uint64_t at_or_above(Severity s) const;
  [[nodiscard]] std::uint64_t operator[](Severity s) const {
    return by_severity[static_cast<std::size_t>(s)];
  }
  void add(Severity s) { ++by_severity[static_cast<std::size_t>(s)]; }
};

struct TargetSummary {
  std::string target, klass, type;
  Counts vulnerabilities, misconfigurations, secrets;
};

struct ExpiredIgnore {
  std::string id, expires, file;
  int line = 0;
};

// A finding that violates the policy (the first few are kept for the message).
struct PolicyFinding {
  std::string kind;  // vulnerability, misconfiguration, secret
  std::string id, target, package;
  Severity severity = Severity::unknown;
};

struct PolicyVerdict {
  std::optional<Severity> fail_on;
  bool passed = true;
  Counts vulnerabilities, misconfigurations, secrets;  // failing findings by severity
  std::vector<PolicyFinding> examples;                 // at most kPolicyExamples
  [[nodiscard]] std::uint64_t total() const {
    return vulnerabilities.total() + misconfigurations.total() + secrets.total();
  }
};
inline constexpr std::size_t kPolicyExamples = 20;

struct Summary {
  Counts vulnerabilities, misconfigurations, secrets;  // after filters (failed misconfigurations)
  std::vector<TargetSummary> targets;                  // in report order
  std::uint64_t ignored_by_file = 0, ignored_unfixed = 0, ignored_by_severity = 0;
  std::uint64_t misconfigurations_passed = 0;  // not counted as findings
  std::vector<ExpiredIgnore> expired_ignores;
  PolicyVerdict policy;
};

struct ScanOptions {
  Detail detail = Detail::full;
  FilterOptions filters;
  Policy policy;
  // Called before each chunk (1 MiB) of the report is read; may throw to abandon the read
  // (the CLI passes proc::throw_if_interrupted so Ctrl-C stops a multi-GB read promptly).
  std::function<void()> check_interrupt;
};

struct ScanOutcome {
  ReportHeader header;
  Summary summary;
  std::vector<Result> results;  // empty when Detail::counts
  std::string source;           // the report file (or label)
  std::string sha256;           // of the report's bytes
  std::uint64_t bytes = 0;
};

// Streams the report at `path` through the filters and the policy. Throws imgf::Error
// (exit 2, FILE:LINE) when it is not a Trivy JSON report of SchemaVersion 2.
ScanOutcome scan_file(const std::filesystem::path& path, const ScanOptions& options);
// The same over bytes in memory; `label` names them in errors.
ScanOutcome scan_string(std::string_view json, const std::string& label, const ScanOptions& options);

// The human summary of a failed policy: "--fail-on HIGH: 3 findings at or above HIGH (...)",
// then one line per example.
std::string describe_policy_failure(const PolicyVerdict& verdict);

// ---- enrolled images -------------------------------------------------------------------------
// The pushed reference of an enrolled image: <registry>/<repository> (registry: the override if
// given, else the enrollment's) with `tag` if given, else the currentDigest recorded in its
// state file (when it is a sha256 digest), else its currentVersion, else "latest".
// `state_yaml` is the text of images/<name>.yaml ("" when there is none).
std::string pushed_reference(const enrollment::Image& image, std::string_view registry_override, std::string_view tag,
                             std::string_view state_yaml);

// The `lastScan` field recorded in an image's state file: when, what, counts by severity after
// filters, misconfigurations, secrets, the report's sha256 and the policy verdict.
state::FieldValue last_scan_field(const ScanOutcome& scan, std::string_view reference, std::string_view scanned_at);

// ---- running Trivy ----------------------------------------------------------------------------
struct RunOptions {
  std::string reference;                 // image reference to scan
  std::string trivy;                     // executable: $TRIVY, else "trivy" on PATH
  std::filesystem::path output;          // where Trivy writes its JSON report
  std::chrono::milliseconds timeout{0};  // 0: none
  std::vector<std::string> extra_args;   // appended before the reference
};

// `trivy image --format json --quiet --output OUTPUT [extra...] REF`.
std::vector<std::string> trivy_argv(const RunOptions& options);
// Runs Trivy through `runner`. Throws imgf::Error: exit 1 with Trivy's exit status and the
// tail of its stderr when it fails or times out; 130/143 when interrupted.
void run_trivy(proc::Runner& runner, const RunOptions& options);

}  // namespace imgf::trivy
