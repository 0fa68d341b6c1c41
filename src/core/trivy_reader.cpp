// Streaming reader of Trivy JSON reports (SchemaVersion 2).
//
// nlohmann::json::sax_parse drives a handler that walks the report's known shape with a small
// stack of frames; everything it does not need (Metadata.ImageConfig, References, Layer, Code,
// unknown keys of newer Trivy versions) is skipped with a depth counter, so memory is bounded
// by the finding being built, whatever the file size or nesting depth. The input is read in
// 1 MiB chunks that are also hashed (sha256) and used to locate errors by line.
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "imgfactory/error.hpp"
#include "trivy_internal.hpp"

namespace imgf::trivy::detail {
namespace {

using json = nlohmann::json;

constexpr std::size_t kChunk = std::size_t{1} << 20;
// Deeper nesting (only possible in skipped parts) is refused rather than followed further.
constexpr std::size_t kMaxDepth = 1'000'000;

// ---- chunked input with hashing and line accounting -------------------------------------------
class ChunkStream {
 public:
  explicit ChunkStream(ByteSource& src) : src_(src), buf_(new char[kChunk]), ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
      throw failure("cannot initialise sha256");
    pos_ = end_ = buf_.get();
  }
  ~ChunkStream() { EVP_MD_CTX_free(ctx_); }
  ChunkStream(const ChunkStream&) = delete;
  ChunkStream& operator=(const ChunkStream&) = delete;

  bool more() {
    if (pos_ != end_) return true;
    return refill();
  }
  [[nodiscard]] const char& current() const { return *pos_; }
  void advance() { ++pos_; }

  // 1-based line of the byte about to be read (the parser has consumed up to here).
  [[nodiscard]] int line() const {
    std::uint64_t l = lines_before_ + static_cast<std::uint64_t>(std::count(buf_.get(), pos_, '\n')) + 1;
    return l > static_cast<std::uint64_t>(std::numeric_limits<int>::max()) ? std::numeric_limits<int>::max()
                                                                             : static_cast<int>(l);
  }
  [[nodiscard]] std::uint64_t bytes() const { return total_; }

  // Reads what is left (so the hash covers the whole input), then returns the hex digest.
  std::string finish() {
    while (refill()) {
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_, md, &len) != 1) throw failure("cannot compute sha256");
    static const char* digits = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) {
      hex += digits[md[i] >> 4];
      hex += digits[md[i] & 0xf];
    }
    return hex;
  }

 private:
  bool refill() {
    if (eof_) return false;
    lines_before_ += static_cast<std::uint64_t>(std::count(buf_.get(), end_, '\n'));
    std::size_t n = src_.read(buf_.get(), kChunk);
    pos_ = buf_.get();
    end_ = pos_ + n;
    if (n == 0) {
      eof_ = true;
      return false;
    }
    total_ += n;
    if (EVP_DigestUpdate(ctx_, buf_.get(), n) != 1) throw failure("cannot compute sha256");
    return true;
  }

  ByteSource& src_;
  std::unique_ptr<char[]> buf_;
  char* pos_ = nullptr;
  char* end_ = nullptr;
  bool eof_ = false;
  std::uint64_t lines_before_ = 0;
  std::uint64_t total_ = 0;
  EVP_MD_CTX* ctx_;
};

// An input iterator over a ChunkStream for nlohmann's iterator_input_adapter. A default
// (null) iterator is the end.
class StreamIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  StreamIterator() = default;
  explicit StreamIterator(ChunkStream* s) : s_(s) {}
  reference operator*() const { return s_->current(); }
  StreamIterator& operator++() {
    s_->advance();
    return *this;
  }
  StreamIterator operator++(int) {
    StreamIterator old = *this;
    s_->advance();
    return old;
  }
  friend bool operator==(const StreamIterator& a, const StreamIterator& b) { return a.at_end() == b.at_end(); }
  friend bool operator!=(const StreamIterator& a, const StreamIterator& b) { return !(a == b); }

 private:
  [[nodiscard]] bool at_end() const { return s_ == nullptr || !s_->more(); }
  ChunkStream* s_ = nullptr;
};

// ---- the handler ------------------------------------------------------------------------------
enum class Frame : std::uint8_t {
  root,
  trivy,
  metadata,
  repo_tags,
  repo_digests,
  results,
  result,
  misconf_summary,
  packages,
  package,
  pkg_locations,
  pkg_location,
  vulns,
  vuln,
  pkg_identifier,
  cvss,
  cvss_entry,
  misconfs,
  misconf,
  cause,
  secrets,
  secret,
};

enum class Field : std::uint8_t {
  skip,
  // root
  schema_version, artifact_name, artifact_type, created_at, trivy, metadata, results,
  // Trivy / Metadata
  version, image_id, repo_tags, repo_digests,
  // Result
  target, klass, type, packages, vulnerabilities, misconfigurations, secrets, misconf_summary,
  successes, failures, exceptions,
  // Package
  name, pkg_version, locations, start_line, end_line,
  // Vulnerability
  vuln_id, pkg_id, pkg_name, pkg_path, installed_version, fixed_version, status, severity, title,
  primary_url, description, severity_source, pkg_identifier, purl, cvss,
  v2_vector, v3_vector, v40_vector, v2_score, v3_score, v40_score,
  // Misconfiguration
  m_type, m_id, avd_id, message, resolution, cause_metadata,
  // Secret
  rule_id, category, match,
};

struct KeyDef {
  std::string_view key;
  Field field;
  Detail needs;
};

constexpr KeyDef kRootKeys[] = {
    {"SchemaVersion", Field::schema_version, Detail::counts},
    {"Results", Field::results, Detail::counts},
    {"ArtifactName", Field::artifact_name, Detail::counts},
    {"ArtifactType", Field::artifact_type, Detail::counts},
    {"CreatedAt", Field::created_at, Detail::counts},
    {"Trivy", Field::trivy, Detail::counts},
    {"Metadata", Field::metadata, Detail::counts},
};
constexpr KeyDef kTrivyKeys[] = {{"Version", Field::version, Detail::counts}};
constexpr KeyDef kMetadataKeys[] = {
    {"ImageID", Field::image_id, Detail::counts},
    {"RepoTags", Field::repo_tags, Detail::counts},
    {"RepoDigests", Field::repo_digests, Detail::counts},
};
constexpr KeyDef kResultKeys[] = {
    {"Target", Field::target, Detail::counts},
    {"Class", Field::klass, Detail::counts},
    {"Type", Field::type, Detail::counts},
    {"Vulnerabilities", Field::vulnerabilities, Detail::counts},
    {"Misconfigurations", Field::misconfigurations, Detail::counts},
    {"Secrets", Field::secrets, Detail::counts},
    {"MisconfSummary", Field::misconf_summary, Detail::counts},
    {"Packages", Field::packages, Detail::full},
};
constexpr KeyDef kMisconfSummaryKeys[] = {
    {"Successes", Field::successes, Detail::counts},
    {"Failures", Field::failures, Detail::counts},
    {"Exceptions", Field::exceptions, Detail::counts},
};
constexpr KeyDef kPackageKeys[] = {
    {"Name", Field::name, Detail::full},
    {"Version", Field::pkg_version, Detail::full},
    {"Locations", Field::locations, Detail::full},
};
constexpr KeyDef kLocationKeys[] = {
    {"StartLine", Field::start_line, Detail::full},
    {"EndLine", Field::end_line, Detail::full},
};
constexpr KeyDef kVulnKeys[] = {
    {"VulnerabilityID", Field::vuln_id, Detail::counts},
    {"PkgName", Field::pkg_name, Detail::counts},
    {"InstalledVersion", Field::installed_version, Detail::counts},
    {"FixedVersion", Field::fixed_version, Detail::counts},
    {"Severity", Field::severity, Detail::counts},
    {"Status", Field::status, Detail::counts},
    {"PkgID", Field::pkg_id, Detail::counts},
    {"PkgPath", Field::pkg_path, Detail::counts},
    {"PkgIdentifier", Field::pkg_identifier, Detail::counts},
    {"Title", Field::title, Detail::summary},
    {"PrimaryURL", Field::primary_url, Detail::summary},
    {"Description", Field::description, Detail::full},
    {"SeveritySource", Field::severity_source, Detail::full},
    {"CVSS", Field::cvss, Detail::full},
};
constexpr KeyDef kPkgIdentifierKeys[] = {{"PURL", Field::purl, Detail::counts}};
constexpr KeyDef kCvssEntryKeys[] = {
    {"V2Vector", Field::v2_vector, Detail::full},   {"V3Vector", Field::v3_vector, Detail::full},
    {"V40Vector", Field::v40_vector, Detail::full}, {"V2Score", Field::v2_score, Detail::full},
    {"V3Score", Field::v3_score, Detail::full},     {"V40Score", Field::v40_score, Detail::full},
};
constexpr KeyDef kMisconfKeys[] = {
    {"ID", Field::m_id, Detail::counts},
    {"AVDID", Field::avd_id, Detail::counts},
    {"Severity", Field::severity, Detail::counts},
    {"Status", Field::status, Detail::counts},
    {"Type", Field::m_type, Detail::summary},
    {"Title", Field::title, Detail::summary},
    {"Message", Field::message, Detail::summary},
    {"PrimaryURL", Field::primary_url, Detail::summary},
    {"CauseMetadata", Field::cause_metadata, Detail::summary},
    {"Description", Field::description, Detail::full},
    {"Resolution", Field::resolution, Detail::full},
};
constexpr KeyDef kCauseKeys[] = {
    {"StartLine", Field::start_line, Detail::summary},
    {"EndLine", Field::end_line, Detail::summary},
};
constexpr KeyDef kSecretKeys[] = {
    {"RuleID", Field::rule_id, Detail::counts},
    {"Severity", Field::severity, Detail::counts},
    {"Category", Field::category, Detail::summary},
    {"Title", Field::title, Detail::summary},
    {"StartLine", Field::start_line, Detail::summary},
    {"EndLine", Field::end_line, Detail::summary},
    {"Match", Field::match, Detail::full},
};

template <std::size_t N>
const KeyDef* lookup(const KeyDef (&defs)[N], std::string_view key) {
  for (const auto& d : defs)
    if (d.key == key) return &d;
  return nullptr;
}

// A scalar event.
struct Scalar {
  enum Kind { null, boolean, integer, number, string } kind = null;
  bool b = false;
  std::int64_t i = 0;   // integer (when it fits)
  double d = 0;         // integer and number
  bool int_ok = false;  // i holds the exact value
  std::string* s = nullptr;
};

class Handler {
 public:
  Handler(ChunkStream& in, const std::string& label, Detail detail, ReportSink& sink)
      : in_(in), label_(label), detail_(detail), sink_(sink) {}

  ReportHeader header;
  bool saw_schema = false;
  bool done = false;

  // --- nlohmann SAX interface ---
  bool null() { return scalar(Scalar{}); }
  bool boolean(bool v) {
    Scalar s;
    s.kind = Scalar::boolean;
    s.b = v;
    return scalar(s);
  }
  bool number_integer(json::number_integer_t v) {
    Scalar s;
    s.kind = Scalar::integer;
    s.i = v;
    s.d = static_cast<double>(v);
    s.int_ok = true;
    return scalar(s);
  }
  bool number_unsigned(json::number_unsigned_t v) {
    Scalar s;
    s.kind = Scalar::integer;
    s.d = static_cast<double>(v);
    if (v <= static_cast<json::number_unsigned_t>(std::numeric_limits<std::int64_t>::max())) {
      s.i = static_cast<std::int64_t>(v);
      s.int_ok = true;
    }
    return scalar(s);
  }
  bool number_float(json::number_float_t v, const json::string_t& /*text*/) {
    Scalar s;
    s.kind = Scalar::number;
    s.d = v;
    if (std::nearbyint(v) == v && std::fabs(v) < 9.0e18) {
      s.i = static_cast<std::int64_t>(v);
      s.int_ok = true;
    }
    return scalar(s);
  }
  bool string(json::string_t& v) {
    Scalar s;
    s.kind = Scalar::string;
    s.s = &v;
    return scalar(s);
  }
  bool binary(json::binary_t& /*v*/) { return scalar(Scalar{}); }  // not produced by the JSON lexer

  bool key(json::string_t& k) {
    if (skip_ > 0) return true;
    const std::string_view kv = k;
    const KeyDef* def = nullptr;
    switch (top()) {
      case Frame::root: def = lookup(kRootKeys, kv); break;
      case Frame::trivy: def = lookup(kTrivyKeys, kv); break;
      case Frame::metadata: def = lookup(kMetadataKeys, kv); break;
      case Frame::result: def = lookup(kResultKeys, kv); break;
      case Frame::misconf_summary: def = lookup(kMisconfSummaryKeys, kv); break;
      case Frame::package: def = lookup(kPackageKeys, kv); break;
      case Frame::pkg_location: def = lookup(kLocationKeys, kv); break;
      case Frame::vuln: def = lookup(kVulnKeys, kv); break;
      case Frame::pkg_identifier: def = lookup(kPkgIdentifierKeys, kv); break;
      case Frame::cvss:
        // Each key is a source (nvd, redhat, ...); its object is a cvss_entry.
        cvss_.emplace_back(k, Cvss{});
        field_ = Field::cvss;
        key_ = "<source>";
        return true;
      case Frame::cvss_entry: def = lookup(kCvssEntryKeys, kv); break;
      case Frame::misconf: def = lookup(kMisconfKeys, kv); break;
      case Frame::cause: def = lookup(kCauseKeys, kv); break;
      case Frame::secret: def = lookup(kSecretKeys, kv); break;
      default: break;
    }
    if (def != nullptr && def->needs <= detail_) {
      field_ = def->field;
      key_ = def->key;
    } else {
      field_ = Field::skip;
    }
    return true;
  }

  bool start_object(std::size_t /*n*/) {
    if (skip_ > 0) return enter_skip();
    if (stack_.empty()) {
      push(Frame::root);
      return true;
    }
    switch (top()) {
      case Frame::root:
        if (field_ == Field::trivy) return push(Frame::trivy);
        if (field_ == Field::metadata) return push(Frame::metadata);
        if (field_ == Field::skip) return enter_skip();
        mismatch();
      case Frame::results:
        begin_result();
        return push(Frame::result);
      case Frame::result:
        if (field_ == Field::misconf_summary) {
          misconf_summary_ = MisconfSummary{};
          return push(Frame::misconf_summary);
        }
        if (field_ == Field::skip) return enter_skip();
        mismatch();
      case Frame::packages:
        pkg_name_.clear();
        pkg_version_.clear();
        pkg_locations_.clear();
        return push(Frame::package);
      case Frame::pkg_locations:
        location_ = PackageLocation{};
        return push(Frame::pkg_location);
      case Frame::vulns:
        vuln_ = Vulnerability{};
        cvss_.clear();
        ++finding_index_;
        return push(Frame::vuln);
      case Frame::vuln:
        if (field_ == Field::pkg_identifier) return push(Frame::pkg_identifier);
        if (field_ == Field::cvss) return push(Frame::cvss);
        if (field_ == Field::skip) return enter_skip();
        mismatch();
      case Frame::cvss: return push(Frame::cvss_entry);
      case Frame::misconfs:
        misconf_ = Misconfiguration{};
        ++finding_index_;
        return push(Frame::misconf);
      case Frame::misconf:
        if (field_ == Field::cause_metadata) return push(Frame::cause);
        if (field_ == Field::skip) return enter_skip();
        mismatch();
      case Frame::secrets:
        secret_ = Secret{};
        ++finding_index_;
        return push(Frame::secret);
      case Frame::repo_tags:
      case Frame::repo_digests: wrong_element("a string", "an object");
      default:
        if (field_ == Field::skip) return enter_skip();
        mismatch();
    }
  }

  bool end_object() {
    if (skip_ > 0) return leave_skip();
    Frame f = top();
    stack_.pop_back();
    switch (f) {
      case Frame::root: done = true; break;
      case Frame::result: end_result(); break;
      case Frame::package:
        if (!pkg_locations_.empty() && !pkg_name_.empty())
          package_locations_[pkg_name_ + "@" + pkg_version_] = std::move(pkg_locations_);
        pkg_locations_.clear();
        break;
      case Frame::pkg_location: pkg_locations_.push_back(location_); break;
      case Frame::vuln: end_vuln(); break;
      case Frame::misconf: deliver_misconf(); break;
      case Frame::secret: deliver_secret(); break;
      default: break;
    }
    after_value();
    return true;
  }

  bool start_array(std::size_t /*n*/) {
    if (skip_ > 0) return enter_skip();
    if (stack_.empty()) wrong_top("an array");
    switch (top()) {
      case Frame::root:
        if (field_ == Field::results) return push(Frame::results);
        if (field_ == Field::skip) return enter_skip();
        mismatch();
      case Frame::metadata:
        if (field_ == Field::repo_tags) {
          header.has_repo_tags = true;
          header.repo_tags.clear();
          return push(Frame::repo_tags);
        }
        if (field_ == Field::repo_digests) {
          header.repo_digests.emplace();
          return push(Frame::repo_digests);
        }
        if (field_ == Field::skip) return enter_skip();
        mismatch();
      case Frame::result:
        switch (field_) {
          case Field::packages: return push(Frame::packages);
          case Field::vulnerabilities: finding_index_ = -1; return push(Frame::vulns);
          case Field::misconfigurations: finding_index_ = -1; return push(Frame::misconfs);
          case Field::secrets: finding_index_ = -1; return push(Frame::secrets);
          case Field::skip: return enter_skip();
          default: mismatch();
        }
      case Frame::package:
        if (field_ == Field::locations) return push(Frame::pkg_locations);
        if (field_ == Field::skip) return enter_skip();
        mismatch();
      case Frame::results:
      case Frame::packages:
      case Frame::pkg_locations:
      case Frame::vulns:
      case Frame::misconfs:
      case Frame::secrets: wrong_element("an object", "an array");
      case Frame::repo_tags:
      case Frame::repo_digests: wrong_element("a string", "an array");
      default:
        if (field_ == Field::skip) return enter_skip();
        mismatch();
    }
  }

  bool end_array() {
    if (skip_ > 0) return leave_skip();
    stack_.pop_back();
    after_value();
    return true;
  }

  bool parse_error(std::size_t position, const std::string& /*last_token*/, const nlohmann::detail::exception& ex) {
    // ex.what(): "[json.exception.parse_error.101] parse error at line L, column C: <message>"
    std::string what = ex.what();
    int line = in_.line();
    std::string column;
    if (auto at = what.find(" at line "); at != std::string::npos) {
      line = std::atoi(what.c_str() + at + 9);
      if (auto c = what.find("column ", at); c != std::string::npos)
        column = what.substr(c + 7, what.find(':', c) - (c + 7));
    }
    std::string msg = what;
    if (auto colon = what.find(": ", what.find(" at line ") == std::string::npos ? 0 : what.find(" at line "));
        colon != std::string::npos)
      msg = what.substr(colon + 2);
    else if (auto b = what.find("] "); b != std::string::npos)
      msg = what.substr(b + 2);
    // The lexer quotes the offending bytes: keep the message short and printable.
    for (auto& c : msg)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    if (msg.size() > 240) msg = msg.substr(0, 240) + "...";
    std::string where = column.empty() ? "" : " (column " + column + ", byte " + std::to_string(position) + ")";
    bool truncated = position >= in_.bytes() && in_.bytes() > 0 && msg.find("end of input") != std::string::npos;
    throw input_error("not a valid Trivy JSON report: " + msg + where, label_, line,
                      truncated ? "the report is truncated: re-run the scan or check the disk space"
                                : "check that the file is a complete JSON report written by 'trivy --format json'");
  }

  // Called after parsing: the root must have been an object with SchemaVersion 2.
  void finish() {
    if (!saw_schema)
      throw input_error("not a Trivy JSON report: it has no SchemaVersion", label_, 1,
                        "write it with 'trivy image --format json' (Trivy 0.20 or later)");
  }

 private:
  [[nodiscard]] Frame top() const { return stack_.back(); }
  bool push(Frame f) {
    stack_.push_back(f);
    field_ = Field::skip;
    return true;
  }
  bool enter_skip() {
    if (++skip_ + stack_.size() > kMaxDepth)
      throw input_error("JSON nested deeper than " + std::to_string(kMaxDepth) + " levels", label_, in_.line(),
                        "this is not a Trivy report");
    return true;
  }
  bool leave_skip() {
    if (--skip_ == 0) after_value();
    return true;
  }
  // After a complete value in an object the next event is a key; in an array, the next element.
  void after_value() {
    if (!stack_.empty()) field_ = Field::skip;
  }

  // ---- errors ----
  [[nodiscard]] std::string path() const {
    std::string p;
    for (Frame f : stack_) {
      switch (f) {
        case Frame::results: p += "Results"; break;
        case Frame::result: p += "[" + std::to_string(result_index_) + "]"; break;
        case Frame::vulns: p += ".Vulnerabilities"; break;
        case Frame::misconfs: p += ".Misconfigurations"; break;
        case Frame::secrets: p += ".Secrets"; break;
        case Frame::packages: p += ".Packages"; break;
        case Frame::vuln:
        case Frame::misconf:
        case Frame::secret: p += "[" + std::to_string(finding_index_) + "]"; break;
        case Frame::trivy: p += "Trivy"; break;
        case Frame::metadata: p += "Metadata"; break;
        case Frame::pkg_identifier: p += ".PkgIdentifier"; break;
        case Frame::cvss: p += ".CVSS"; break;
        case Frame::cause: p += ".CauseMetadata"; break;
        case Frame::misconf_summary: p += ".MisconfSummary"; break;
        default: break;
      }
    }
    return p;
  }
  // The JSON type a known field must have.
  static const char* expected(Field f) {
    switch (f) {
      case Field::trivy:
      case Field::metadata:
      case Field::misconf_summary:
      case Field::pkg_identifier:
      case Field::cvss:
      case Field::cause_metadata: return "an object";
      case Field::results:
      case Field::repo_tags:
      case Field::repo_digests:
      case Field::packages:
      case Field::vulnerabilities:
      case Field::misconfigurations:
      case Field::secrets:
      case Field::locations: return "an array";
      case Field::schema_version:
      case Field::v2_score:
      case Field::v3_score:
      case Field::v40_score: return "a number";
      case Field::successes:
      case Field::failures:
      case Field::exceptions:
      case Field::start_line:
      case Field::end_line: return "a non-negative integer";
      default: return "a string";
    }
  }
  [[noreturn]] void mismatch() const { wrong(expected(field_)); }
  [[noreturn]] void wrong(const char* expected) const {
    std::string p = path();
    if (!p.empty()) p += ".";
    throw input_error("not a Trivy JSON report: " + p + std::string(key_) + " must be " + expected, label_, in_.line(),
                      "the report does not have the shape of Trivy's JSON (SchemaVersion 2)");
  }
  [[noreturn]] void wrong_element(const char* expected, const char* got) const {
    throw input_error("not a Trivy JSON report: the elements of " + path() + " must be " + expected + ", not " + got,
                      label_, in_.line(), "the report does not have the shape of Trivy's JSON (SchemaVersion 2)");
  }
  [[noreturn]] void wrong_top(const char* got) const {
    throw input_error(std::string("not a Trivy JSON report: the document is ") + got + ", not an object", label_,
                      in_.line(), "write it with 'trivy image --format json'");
  }

  // ---- scalar values ----
  std::string take_string(const Scalar& v) {
    if (v.kind == Scalar::string) return std::move(*v.s);
    wrong("a string");
  }
  int take_int(const Scalar& v) {
    if ((v.kind == Scalar::integer || v.kind == Scalar::number) && v.int_ok && v.i >= 0 &&
        v.i <= std::numeric_limits<int>::max())
      return static_cast<int>(v.i);
    wrong("a non-negative integer");
  }
  std::int64_t take_count(const Scalar& v) {
    if ((v.kind == Scalar::integer || v.kind == Scalar::number) && v.int_ok && v.i >= 0) return v.i;
    wrong("a non-negative integer");
  }
  double take_number(const Scalar& v) {
    if (v.kind == Scalar::integer || v.kind == Scalar::number) return v.d;
    wrong("a number");
  }
  Severity take_severity(const Scalar& v) {
    std::string s = take_string(v);
    if (s.empty()) return Severity::unknown;
    if (auto sev = parse_severity(s)) return *sev;
    std::string shown = s.size() > 40 ? s.substr(0, 40) + "..." : s;
    throw input_error("not a Trivy JSON report: " + path() + "." + std::string(key_) + " is \"" + shown +
                          "\", not one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN",
                      label_, in_.line());
  }

  bool scalar(const Scalar& v) {
    if (skip_ > 0) return true;
    if (stack_.empty()) wrong_top("a scalar");
    const Frame f = top();
    // Array elements.
    switch (f) {
      case Frame::repo_tags:
      case Frame::repo_digests:
        if (v.kind == Scalar::null) return true;
        (f == Frame::repo_tags ? header.repo_tags : *header.repo_digests).push_back(take_string(v));
        return true;
      case Frame::results:
      case Frame::packages:
      case Frame::pkg_locations:
      case Frame::vulns:
      case Frame::misconfs:
      case Frame::secrets:
        if (v.kind == Scalar::null) return true;  // tolerated: nothing there
        wrong_element("an object", v.kind == Scalar::string ? "a string" : "a scalar");
      default: break;
    }
    const Field field = field_;
    field_ = Field::skip;
    if (field == Field::skip) return true;
    if (v.kind == Scalar::null) {
      if (field == Field::schema_version) wrong("a number");
      return true;  // absent
    }
    switch (field) {
      case Field::schema_version: {
        if (!(v.kind == Scalar::integer || v.kind == Scalar::number)) wrong("a number");
        saw_schema = true;
        header.schema_version = v.int_ok ? v.i : -1;
        if (header.schema_version != 2)
          throw input_error("unsupported Trivy report: SchemaVersion is " +
                                (v.int_ok ? std::to_string(v.i) : std::to_string(v.d)) + ", not 2",
                            label_, in_.line(), "write the report with Trivy 0.20 or later ('--format json')");
        return true;
      }
      case Field::artifact_name: header.artifact_name = take_string(v); return true;
      case Field::artifact_type: header.artifact_type = take_string(v); return true;
      case Field::created_at: header.created_at = take_string(v); return true;
      case Field::version: header.trivy_version = take_string(v); return true;
      case Field::image_id: header.image_id = take_string(v); return true;
      case Field::trivy:
      case Field::metadata:
      case Field::results:
      case Field::repo_tags:
      case Field::repo_digests: wrong(expected(field));
      default: break;
    }
    switch (f) {
      case Frame::result:
        switch (field) {
          case Field::target:
            meta_.target = take_string(v);
            target_known_ = true;
            flush_pending();
            return true;
          case Field::klass: meta_.klass = take_string(v); return true;
          case Field::type: meta_.type = take_string(v); return true;
          default: wrong(expected(field));
        }
      case Frame::misconf_summary:
        if (field == Field::successes) misconf_summary_->successes = take_count(v);
        if (field == Field::failures) misconf_summary_->failures = take_count(v);
        if (field == Field::exceptions) misconf_summary_->exceptions = take_count(v);
        return true;
      case Frame::package:
        if (field == Field::name) pkg_name_ = take_string(v);
        else if (field == Field::pkg_version) pkg_version_ = take_string(v);
        else wrong(expected(field));
        return true;
      case Frame::pkg_location:
        if (field == Field::start_line) location_.start_line = take_int(v);
        if (field == Field::end_line) location_.end_line = take_int(v);
        return true;
      case Frame::vuln: vuln_field(field, v); return true;
      case Frame::pkg_identifier: vuln_.purl = take_string(v); return true;
      case Frame::cvss_entry: {
        Cvss& c = cvss_.back().second;
        switch (field) {
          case Field::v2_vector: c.v2_vector = take_string(v); break;
          case Field::v3_vector: c.v3_vector = take_string(v); break;
          case Field::v40_vector: c.v40_vector = take_string(v); break;
          case Field::v2_score: c.v2_score = take_number(v); break;
          case Field::v3_score: c.v3_score = take_number(v); break;
          case Field::v40_score: c.v40_score = take_number(v); break;
          default: break;
        }
        return true;
      }
      case Frame::cvss: wrong(expected(field));
      case Frame::misconf: misconf_field(field, v); return true;
      case Frame::cause:
        if (field == Field::start_line) misconf_.start_line = take_int(v);
        if (field == Field::end_line) misconf_.end_line = take_int(v);
        return true;
      case Frame::secret: secret_field(field, v); return true;
      default: return true;
    }
  }

  void vuln_field(Field field, const Scalar& v) {
    switch (field) {
      case Field::vuln_id: vuln_.id = take_string(v); break;
      case Field::pkg_id: vuln_.pkg_id = take_string(v); break;
      case Field::pkg_name: vuln_.pkg_name = take_string(v); break;
      case Field::pkg_path: vuln_.pkg_path = take_string(v); break;
      case Field::installed_version: vuln_.installed_version = take_string(v); break;
      case Field::fixed_version: vuln_.fixed_version = take_string(v); break;
      case Field::status: vuln_.status = take_string(v); break;
      case Field::severity: vuln_.severity = take_severity(v); break;
      case Field::title: vuln_.title = take_string(v); break;
      case Field::primary_url: vuln_.primary_url = take_string(v); break;
      case Field::description: vuln_.description = take_string(v); break;
      case Field::severity_source: vuln_.severity_source = take_string(v); break;
      default: wrong(expected(field));  // PkgIdentifier, CVSS
    }
  }
  void misconf_field(Field field, const Scalar& v) {
    switch (field) {
      case Field::m_id: misconf_.id = take_string(v); break;
      case Field::avd_id: misconf_.avd_id = take_string(v); break;
      case Field::severity: misconf_.severity = take_severity(v); break;
      case Field::status: misconf_.status = take_string(v); break;
      case Field::m_type: misconf_.type = take_string(v); break;
      case Field::title: misconf_.title = take_string(v); break;
      case Field::message: misconf_.message = take_string(v); break;
      case Field::primary_url: misconf_.primary_url = take_string(v); break;
      case Field::description: misconf_.description = take_string(v); break;
      case Field::resolution: misconf_.resolution = take_string(v); break;
      default: wrong(expected(field));  // CauseMetadata
    }
  }
  void secret_field(Field field, const Scalar& v) {
    switch (field) {
      case Field::rule_id: secret_.rule_id = take_string(v); break;
      case Field::severity: secret_.severity = take_severity(v); break;
      case Field::category: secret_.category = take_string(v); break;
      case Field::title: secret_.title = take_string(v); break;
      case Field::start_line: secret_.start_line = take_int(v); break;
      case Field::end_line: secret_.end_line = take_int(v); break;
      case Field::match: secret_.match = take_string(v); break;
      default: break;
    }
  }

  // ---- results and findings ----
  void begin_result() {
    ++result_index_;
    meta_ = ResultMeta{};
    meta_.index = static_cast<std::size_t>(result_index_);
    target_known_ = false;
    misconf_summary_.reset();
    package_locations_.clear();
    pending_vulns_.clear();
    pending_misconfs_.clear();
    pending_secrets_.clear();
  }
  void end_vuln() {
    if (!cvss_.empty()) {
      for (auto& [source, c] : cvss_)
        if (source == vuln_.severity_source) vuln_.cvss = std::move(c);
      cvss_.clear();
    }
    if (target_known_) sink_.vulnerability(meta_, std::move(vuln_));
    else pending_vulns_.push_back(std::move(vuln_));
  }
  void deliver_misconf() {
    if (target_known_) sink_.misconfiguration(meta_, std::move(misconf_));
    else pending_misconfs_.push_back(std::move(misconf_));
  }
  void deliver_secret() {
    if (target_known_) sink_.secret(meta_, std::move(secret_));
    else pending_secrets_.push_back(std::move(secret_));
  }
  // Findings that came before the Result's Target (not Trivy's key order, but valid JSON).
  void flush_pending() {
    for (auto& v : pending_vulns_) sink_.vulnerability(meta_, std::move(v));
    for (auto& m : pending_misconfs_) sink_.misconfiguration(meta_, std::move(m));
    for (auto& s : pending_secrets_) sink_.secret(meta_, std::move(s));
    pending_vulns_.clear();
    pending_misconfs_.clear();
    pending_secrets_.clear();
  }
  void end_result() {
    target_known_ = true;
    flush_pending();
    sink_.result_end(meta_, misconf_summary_, std::move(package_locations_));
    package_locations_.clear();
  }

  ChunkStream& in_;
  const std::string& label_;
  Detail detail_;
  ReportSink& sink_;

  std::vector<Frame> stack_;
  std::size_t skip_ = 0;
  Field field_ = Field::skip;
  std::string_view key_;  // the current known key (static storage), for messages

  std::int64_t result_index_ = -1;
  std::int64_t finding_index_ = -1;
  ResultMeta meta_;
  bool target_known_ = false;
  std::optional<MisconfSummary> misconf_summary_;
  std::unordered_map<std::string, std::vector<PackageLocation>> package_locations_;
  std::string pkg_name_, pkg_version_;
  std::vector<PackageLocation> pkg_locations_;
  PackageLocation location_;
  Vulnerability vuln_;
  std::vector<std::pair<std::string, Cvss>> cvss_;
  Misconfiguration misconf_;
  Secret secret_;
  std::vector<Vulnerability> pending_vulns_;
  std::vector<Misconfiguration> pending_misconfs_;
  std::vector<Secret> pending_secrets_;
};

}  // namespace

ReportHeader read_report(ByteSource& source, const std::string& label, Detail detail, ReportSink& sink,
                         ReadStats& stats) {
  ChunkStream in(source);
  Handler handler(in, label, detail, sink);
  if (!in.more())
    throw input_error("not a Trivy JSON report: the file is empty", label, 1,
                      "re-run the scan; Trivy writes its JSON report with '--format json'");
  if (!json::sax_parse(StreamIterator(&in), StreamIterator(), &handler, json::input_format_t::json, true, false))
    throw input_error("not a valid Trivy JSON report", label, in.line());
  handler.finish();
  stats.sha256 = in.finish();
  stats.bytes = in.bytes();
  return std::move(handler.header);
}

}  // namespace imgf::trivy::detail
