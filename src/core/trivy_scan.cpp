// The scan pipeline: reader -> filters (severity, unfixed, ignore file) -> summary and policy
// (always) -> collected results (unless Detail::counts).
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "imgfactory/error.hpp"
#include "trivy_internal.hpp"

namespace imgf::trivy {
namespace {

using detail::ResultMeta;

class FdSource final : public detail::ByteSource {
 public:
  explicit FdSource(const std::filesystem::path& path) : path_(path.string()) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      int err = errno;
      if (err == ENOENT) throw input_error("no such file", path_, 0, "check the path given to --report");
      throw input_error(std::string("cannot open the report: ") + std::strerror(err), path_);
    }
#ifdef POSIX_FADV_SEQUENTIAL
    (void)::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  }
  ~FdSource() override {
    if (fd_ >= 0) ::close(fd_);
  }
  FdSource(const FdSource&) = delete;
  FdSource& operator=(const FdSource&) = delete;

  std::size_t read(char* buf, std::size_t n) override {
    while (true) {
      ssize_t r = ::read(fd_, buf, n);
      if (r >= 0) return static_cast<std::size_t>(r);
      if (errno == EINTR) continue;
      int err = errno;
      if (err == EISDIR) throw input_error("is a directory, not a report", path_);
      throw failure(std::string("error while reading the report: ") + std::strerror(err), path_);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

class StringSource final : public detail::ByteSource {
 public:
  explicit StringSource(std::string_view data) : data_(data) {}
  std::size_t read(char* buf, std::size_t n) override {
    std::size_t k = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

// Ignore entries indexed by ID, split into active and expired at construction.
class IgnoreMatcher {
 public:
  IgnoreMatcher() = default;
  IgnoreMatcher(const std::vector<IgnoreEntry>& entries, std::chrono::system_clock::time_point now,
                std::vector<ExpiredIgnore>& expired, std::vector<std::pair<std::string, int>>& reported) {
    for (const auto& e : entries) {
      if (e.expires && *e.expires < now) {
        // .trivyignore lines apply to every kind: report each expired line once.
        std::pair<std::string, int> key{e.file, e.line};
        if (std::find(reported.begin(), reported.end(), key) == reported.end()) {
          reported.push_back(key);
          expired.push_back(ExpiredIgnore{e.id, e.expires_text, e.file, e.line});
          spdlog::warn("{}:{}: the ignore entry for {} expired on {}: its findings are reported again", e.file,
                       e.line, e.id.empty() ? "(paths)" : e.id, e.expires_text);
        }
        continue;
      }
      if (e.id.empty()) without_id_.push_back(&e);
      else by_id_[e.id].push_back(&e);
    }
  }
  [[nodiscard]] bool empty() const { return by_id_.empty() && without_id_.empty(); }

  // An entry for `id` whose paths match one of `paths` (or has none) and whose purls match
  // `purl` (or has none).
  const IgnoreEntry* match(std::string_view id, std::initializer_list<std::string_view> paths,
                           std::string_view purl) const {
    if (auto it = by_id_.find(std::string(id)); it != by_id_.end())
      for (const IgnoreEntry* e : it->second)
        if (applies(*e, paths, purl)) return e;
    for (const IgnoreEntry* e : without_id_)
      if (applies(*e, paths, purl)) return e;
    return nullptr;
  }

 private:
  static bool applies(const IgnoreEntry& e, std::initializer_list<std::string_view> paths, std::string_view purl) {
    if (!e.paths.empty()) {
      bool any = false;
      for (std::string_view p : paths) {
        if (p.empty()) continue;
        for (const auto& pat : e.paths)
          if (glob_match(pat, p)) any = true;
      }
      if (!any) return false;
    }
    if (!e.purls.empty() && !purl.empty()) {
      bool any = false;
      for (const auto& pat : e.purls)
        if (purl_match(pat, purl)) any = true;
      if (!any) return false;
    }
    return true;
  }
  std::unordered_map<std::string, std::vector<const IgnoreEntry*>> by_id_;
  std::vector<const IgnoreEntry*> without_id_;
};

class Pipeline final : public detail::ReportSink {
 public:
  Pipeline(const ScanOptions& options, ScanOutcome& out) : opt_(options), out_(out) {
    const auto now = options.filters.now.value_or(std::chrono::system_clock::now());
    std::vector<std::pair<std::string, int>> reported;
    auto& expired = out.summary.expired_ignores;
    vulns_ = IgnoreMatcher(options.filters.ignores.vulnerabilities, now, expired, reported);
    misconfs_ = IgnoreMatcher(options.filters.ignores.misconfigurations, now, expired, reported);
    secrets_ = IgnoreMatcher(options.filters.ignores.secrets, now, expired, reported);
    out.summary.policy.fail_on = options.policy.fail_on;
  }

  void vulnerability(const ResultMeta& meta, Vulnerability&& v) override {
    TargetSummary& t = target(meta);
    if (!severity_kept(v.severity)) return;
    if (opt_.filters.ignore_unfixed && !is_fixed(v)) {
      ++out_.summary.ignored_unfixed;
      return;
    }
    if (!vulns_.empty() && vulns_.match(v.id, {meta.target, v.pkg_path}, v.purl) != nullptr) {
      ++out_.summary.ignored_by_file;
      return;
    }
    out_.summary.vulnerabilities.add(v.severity);
    t.vulnerabilities.add(v.severity);
    if (violates(v.severity)) {
      out_.summary.policy.vulnerabilities.add(v.severity);
      example("vulnerability", v.id, meta.target,
              v.pkg_name.empty() ? v.pkg_id : v.pkg_name + "@" + v.installed_version, v.severity);
    }
    if (collect()) result(meta).vulnerabilities.push_back(std::move(v));
  }

  void misconfiguration(const ResultMeta& meta, Misconfiguration&& m) override {
    TargetSummary& t = target(meta);
    auto& delta = deltas_[meta.index];
    if (!severity_kept(m.severity)) {
      bucket(delta, m.status) -= 1;
      return;
    }
    if (!misconfs_.empty() && (misconfs_.match(m.id, {meta.target}, {}) != nullptr ||
                               (!m.avd_id.empty() && misconfs_.match(m.avd_id, {meta.target}, {}) != nullptr))) {
      ++out_.summary.ignored_by_file;
      bucket(delta, m.status) -= 1;
      delta.exceptions += 1;
      return;
    }
    if (m.failed()) {
      out_.summary.misconfigurations.add(m.severity);
      t.misconfigurations.add(m.severity);
      if (violates(m.severity)) {
        out_.summary.policy.misconfigurations.add(m.severity);
        example("misconfiguration", m.id, meta.target, {}, m.severity);
      }
    } else {
      ++out_.summary.misconfigurations_passed;
    }
    if (collect()) result(meta).misconfigurations.push_back(std::move(m));
  }

  void secret(const ResultMeta& meta, Secret&& s) override {
    TargetSummary& t = target(meta);
    if (!severity_kept(s.severity)) return;
    if (!secrets_.empty() && secrets_.match(s.rule_id, {meta.target}, {}) != nullptr) {
      ++out_.summary.ignored_by_file;
      return;
    }
    out_.summary.secrets.add(s.severity);
    t.secrets.add(s.severity);
    if (violates(s.severity)) {
      out_.summary.policy.secrets.add(s.severity);
      example("secret", s.rule_id, meta.target, {}, s.severity);
    }
    if (collect()) result(meta).secrets.push_back(std::move(s));
  }

  void result_end(const ResultMeta& meta, std::optional<MisconfSummary> summary,
                  std::unordered_map<std::string, std::vector<PackageLocation>>&& locations) override {
    TargetSummary& t = target(meta);
    t.target = meta.target;
    t.klass = meta.klass;
    t.type = meta.type;
    if (summary) {
      if (auto it = deltas_.find(meta.index); it != deltas_.end()) {
        summary->successes = std::max<std::int64_t>(0, summary->successes + it->second.successes);
        summary->failures = std::max<std::int64_t>(0, summary->failures + it->second.failures);
        summary->exceptions = std::max<std::int64_t>(0, summary->exceptions + it->second.exceptions);
      }
    }
    deltas_.erase(meta.index);
    if (collect()) {
      Result& r = result(meta);
      r.target = meta.target;
      r.klass = meta.klass;
      r.type = meta.type;
      r.misconf_summary = summary;
      r.package_locations = std::move(locations);
    }
  }

  void finish() {
    auto& p = out_.summary.policy;
    p.passed = !p.fail_on || p.total() == 0;
  }

 private:
  [[nodiscard]] bool collect() const { return opt_.detail != Detail::counts; }
  bool severity_kept(Severity s) {
    if (opt_.filters.severities[static_cast<std::size_t>(s)]) return true;
    ++out_.summary.ignored_by_severity;
    return false;
  }
  // Fixed when Trivy says so; reports without Status: when there is a fixed version.
  static bool is_fixed(const Vulnerability& v) {
    if (!v.status.empty()) return v.status == "fixed";
    return !v.fixed_version.empty();
  }
  [[nodiscard]] bool violates(Severity s) const { return opt_.policy.fail_on && s >= *opt_.policy.fail_on; }
  void example(const char* kind, const std::string& id, const std::string& target, std::string package, Severity s) {
    auto& ex = out_.summary.policy.examples;
    if (ex.size() >= kPolicyExamples) return;
    ex.push_back(PolicyFinding{kind, id, target, std::move(package), s});
  }
  static std::int64_t& bucket(MisconfSummary& d, const std::string& status) {
    if (status == "PASS") return d.successes;
    if (status == "EXCEPTION") return d.exceptions;
    return d.failures;
  }
  TargetSummary& target(const ResultMeta& meta) {
    auto& ts = out_.summary.targets;
    if (ts.empty() || last_index_ != meta.index) {
      ts.push_back(TargetSummary{meta.target, meta.klass, meta.type, {}, {}, {}});
      last_index_ = meta.index;
    }
    return ts.back();
  }
  Result& result(const ResultMeta& meta) {
    auto& rs = out_.results;
    if (rs.empty() || last_result_index_ != meta.index) {
      rs.emplace_back();
      rs.back().target = meta.target;
      rs.back().klass = meta.klass;
      rs.back().type = meta.type;
      last_result_index_ = meta.index;
    }
    return rs.back();
  }

  const ScanOptions& opt_;
  ScanOutcome& out_;
  IgnoreMatcher vulns_, misconfs_, secrets_;
  std::unordered_map<std::size_t, MisconfSummary> deltas_;
  std::size_t last_index_ = 0, last_result_index_ = 0;
};

ScanOutcome run(detail::ByteSource& source, const std::string& label, const ScanOptions& options) {
  ScanOutcome out;
  out.source = label;
  Pipeline pipeline(options, out);
  detail::ReadStats stats;
  detail::CheckedSource checked(source, options.check_interrupt);
  out.header = detail::read_report(checked, label, options.detail, pipeline, stats);
  pipeline.finish();
  out.sha256 = std::move(stats.sha256);
  out.bytes = stats.bytes;
  return out;
}

}  // namespace

std::uint64_t Counts::total() const {
  std::uint64_t t = 0;
  for (auto c : by_severity) t += c;
  return t;
}

std::uint64_t Counts::at_or_above(Severity s) const {
  std::uint64_t t = 0;
  for (std::size_t i = static_cast<std::size_t>(s); i < kSeverityCount; ++i) t += by_severity[i];
  return t;
}

ScanOutcome scan_file(const std::filesystem::path& path, const ScanOptions& options) {
  FdSource source(path);
  return run(source, path.string(), options);
}

ScanOutcome scan_string(std::string_view json, const std::string& label, const ScanOptions& options) {
  StringSource source(json);
  return run(source, label, options);
}

std::string describe_policy_failure(const PolicyVerdict& v) {
  if (v.passed || !v.fail_on) return {};
  std::string sev(to_string(*v.fail_on));
  std::string out = "--fail-on " + sev + ": " + std::to_string(v.total()) + " finding" + (v.total() == 1 ? "" : "s") +
                    " at or above " + sev;
  auto part = [](const Counts& c, const char* one, const char* many) {
    std::string s;
    if (c.total() == 0) return s;
    s = std::to_string(c.total()) + " " + (c.total() == 1 ? one : many) + " (";
    bool first = true;
    for (Severity x : kSeveritiesDescending) {
      if (c[x] == 0) continue;
      if (!first) s += ", ";
      s += std::string(to_string(x)) + ": " + std::to_string(c[x]);
      first = false;
    }
    return s + ")";
  };
  std::vector<std::string> parts;
  for (const auto& s : {part(v.vulnerabilities, "vulnerability", "vulnerabilities"),
                        part(v.misconfigurations, "misconfiguration", "misconfigurations"),
                        part(v.secrets, "secret", "secrets")})
    if (!s.empty()) parts.push_back(s);
  out += ": ";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  for (const auto& e : v.examples) {
    out += "\n  " + std::string(to_string(e.severity)) + " " + e.kind + " " + e.id;
    if (!e.package.empty()) out += " in " + e.package;
    if (!e.target.empty()) out += " (" + e.target + ")";
  }
  if (v.total() > v.examples.size())
    out += "\n  ... and " + std::to_string(v.total() - v.examples.size()) + " more";
  return out;
}

}  // namespace imgf::trivy
