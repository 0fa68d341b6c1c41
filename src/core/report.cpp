// Table, JSON summary and Markdown renderers, and the format dispatch.
#include "imgfactory/report.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

namespace imgf::report {
namespace {

using trivy::Counts;
using trivy::kSeveritiesDescending;
using trivy::Severity;

// Width in code points (close enough to terminal columns for the text in reports).
std::size_t width(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

// One line, at most `max` code points.
std::string cell(std::string_view s, std::size_t max) {
  std::string out;
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      if (n == max) {
        // Drop the last code point for the ellipsis.
        while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
        if (!out.empty()) out.pop_back();
        return out + "\xE2\x80\xA6";
      }
      ++n;
    }
    out += c;
  }
  return out;
}

std::string counts_text(const Counts& c) {
  std::string s;
  for (Severity x : kSeveritiesDescending) {
    if (!s.empty()) s += ", ";
    s += std::string(trivy::to_string(x)) + ": " + std::to_string(c[x]);
  }
  return s;
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

const char* color_of(Severity s) {
  switch (s) {
    case Severity::critical: return "\x1b[1;31m";
    case Severity::high: return "\x1b[31m";
    case Severity::medium: return "\x1b[33m";
    case Severity::low: return "\x1b[34m";
    case Severity::unknown: break;
  }
  return "";
}

// A plain text table: columns padded to their widest cell; the first column is a severity.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : header_(std::move(header)) {}
  void row(Severity s, std::vector<std::string> cells) { rows_.emplace_back(s, std::move(cells)); }
  void print(std::ostream& os, bool color, const char* indent) const {
    std::vector<std::size_t> w(header_.size(), 0);
    for (std::size_t c = 0; c < header_.size(); ++c) w[c] = width(header_[c]);
    for (const auto& [s, cells] : rows_)
      for (std::size_t c = 0; c < cells.size() && c < w.size(); ++c) w[c] = std::max(w[c], width(cells[c]));
    auto line = [&](const std::vector<std::string>& cells, const char* first_color) {
      std::string out = indent;
      for (std::size_t c = 0; c < cells.size(); ++c) {
        bool last = c + 1 == cells.size();
        if (c == 0 && first_color && *first_color) out += std::string(first_color) + cells[c] + "\x1b[0m";
        else out += cells[c];
        if (!last) out += std::string(w[c] - width(cells[c]) + 2, ' ');
      }
      while (!out.empty() && out.back() == ' ') out.pop_back();
      os << out << '\n';
    };
    line(header_, nullptr);
    for (const auto& [s, cells] : rows_) line(cells, color ? color_of(s) : nullptr);
  }

 private:
  std::vector<std::string> header_;
  std::vector<std::pair<Severity, std::vector<std::string>>> rows_;
};

// Indexes of `items` by severity, most severe first, report order within a severity.
template <typename T>
std::vector<const T*> by_severity(const std::vector<T>& items) {
  std::vector<const T*> out;
  out.reserve(items.size());
  for (const auto& i : items) out.push_back(&i);
  std::stable_sort(out.begin(), out.end(), [](const T* a, const T* b) { return a->severity > b->severity; });
  return out;
}

std::string lines_of(int start, int end) {
  if (start <= 0) return {};
  if (end <= start) return std::to_string(start);
  return std::to_string(start) + "-" + std::to_string(end);
}

std::string subject(const trivy::ScanOutcome& scan, const Context& ctx) {
  if (!ctx.reference.empty()) return ctx.image.empty() ? ctx.reference : ctx.image + " (" + ctx.reference + ")";
  if (!scan.header.artifact_name.empty()) return scan.header.artifact_name;
  return scan.source;
}

std::string filtered_text(const trivy::Summary& s) {
  std::vector<std::string> parts;
  if (s.ignored_by_severity) parts.push_back(std::to_string(s.ignored_by_severity) + " below --severity");
  if (s.ignored_unfixed) parts.push_back(std::to_string(s.ignored_unfixed) + " unfixed");
  if (s.ignored_by_file) parts.push_back(std::to_string(s.ignored_by_file) + " by the ignore file");
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out;
}

std::string policy_text(const trivy::PolicyVerdict& p) {
  if (!p.fail_on) return "none (no --fail-on)";
  std::string sev(trivy::to_string(*p.fail_on));
  if (p.passed) return "--fail-on " + sev + ": passed";
  return "--fail-on " + sev + ": FAILED (" + plural(p.total(), "finding", "findings") + " at or above " + sev + ")";
}

// ---- Markdown ---------------------------------------------------------------------------------
std::string md(std::string_view s, std::size_t max = 200) {
  std::string in = cell(s, max);
  std::string out;
  for (char c : in) {
    switch (c) {
      case '|': out += "\\|"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '`': out += "\\`"; break;
      case '*': out += "\\*"; break;
      case '_': out += "\\_"; break;
      case '[': out += "\\["; break;
      case ']': out += "\\]"; break;
      default: out += c;
    }
  }
  return out;
}

std::string md_link(std::string_view id, std::string_view url) {
  if (url.substr(0, 8) == "https://" && url.find_first_of(" ()<>\n") == std::string_view::npos)
    return "[" + md(id) + "](" + std::string(url) + ")";
  return md(id);
}

}  // namespace

std::optional<Format> parse_format(std::string_view name) {
  if (name == "table") return Format::table;
  if (name == "json") return Format::json;
  if (name == "sarif") return Format::sarif;
  if (name == "junit") return Format::junit;
  if (name == "markdown") return Format::markdown;
  return std::nullopt;
}

std::string_view to_string(Format f) {
  switch (f) {
    case Format::table: return "table";
    case Format::json: return "json";
    case Format::sarif: return "sarif";
    case Format::junit: return "junit";
    case Format::markdown: break;
  }
  return "markdown";
}

trivy::Detail detail_for(Format f) {
  switch (f) {
    case Format::json: return trivy::Detail::counts;
    case Format::table:
    case Format::markdown: return trivy::Detail::summary;
    case Format::sarif:
    case Format::junit: break;
  }
  return trivy::Detail::full;
}

void render(Format format, const trivy::ScanOutcome& scan, const Context& ctx, std::ostream& out) {
  switch (format) {
    case Format::table: render_table(scan, ctx, out); return;
    case Format::json: render_json(scan, ctx, out); return;
    case Format::sarif: render_sarif(scan, out); return;
    case Format::junit: render_junit(scan, out); return;
    case Format::markdown: render_markdown(scan, ctx, out); return;
  }
}

void render_json(const trivy::ScanOutcome& scan, const Context& ctx, std::ostream& out) {
  using oj = nlohmann::ordered_json;
  auto counts = [](const Counts& c) {
    oj o = oj::object();
    for (Severity s : kSeveritiesDescending) o[std::string(trivy::to_string(s))] = c[s];
    return o;
  };
  const auto& s = scan.summary;
  oj j = oj::object();
  j["image"] = ctx.image.empty() ? oj(nullptr) : oj(ctx.image);
  j["reference"] = ctx.reference.empty() ? oj(nullptr) : oj(ctx.reference);
  j["artifact"] = {{"name", scan.header.artifact_name}, {"type", scan.header.artifact_type}};
  j["counts"] = counts(s.vulnerabilities);
  j["misconfigurations"] = s.misconfigurations.total();
  j["secrets"] = s.secrets.total();
  j["misconfigurationCounts"] = counts(s.misconfigurations);
  j["secretCounts"] = counts(s.secrets);
  j["filtered"] = {{"severity", s.ignored_by_severity}, {"unfixed", s.ignored_unfixed}, {"ignoreFile", s.ignored_by_file}};
  oj expired = oj::array();
  for (const auto& e : s.expired_ignores)
    expired.push_back({{"id", e.id}, {"expired", e.expires}, {"file", e.file}, {"line", e.line}});
  j["expiredIgnores"] = std::move(expired);
  const auto& p = s.policy;
  oj tail = oj::object();
  tail["policy"] = {{"failOn", p.fail_on ? oj(std::string(trivy::to_string(*p.fail_on))) : oj(nullptr)},
                    {"passed", p.passed},
                    {"violations", p.total()}};
  tail["report"] = {{"file", scan.source.empty() ? oj(nullptr) : oj(scan.source)},
                    {"sha256", scan.sha256},
                    {"bytes", scan.bytes},
                    {"createdAt", scan.header.created_at},
                    {"trivyVersion", scan.header.trivy_version}};
  constexpr auto replace = nlohmann::ordered_json::error_handler_t::replace;
  // The per-target list can be long (one entry per Result): streamed, one object at a time,
  // between the head and the tail, in the layout dump(2) gives the whole document.
  std::string head = j.dump(2, ' ', false, replace);
  head.resize(head.size() - 2);  // "\n}"
  out << head << ",\n  \"targets\": [";
  bool first = true;
  for (const auto& t : s.targets) {
    oj o = {{"target", t.target},
            {"class", t.klass},
            {"type", t.type},
            {"counts", counts(t.vulnerabilities)},
            {"misconfigurations", t.misconfigurations.total()},
            {"secrets", t.secrets.total()}};
    std::string text = o.dump(2, ' ', false, replace);
    std::string indented;
    indented.reserve(text.size() + 64);
    for (char c : text) {
      indented += c;
      if (c == '\n') indented += "    ";
    }
    out << (first ? "\n    " : ",\n    ") << indented;
    first = false;
  }
  out << (first ? "]," : "\n  ],");
  std::string rest = tail.dump(2, ' ', false, replace);
  out << rest.substr(1) << '\n';  // without the opening "{"
}

void render_table(const trivy::ScanOutcome& scan, const Context& ctx, std::ostream& os) {
  const auto& s = scan.summary;
  os << subject(scan, ctx) << '\n';
  for (const auto& r : scan.results) {
    const bool any = !r.vulnerabilities.empty() || !r.secrets.empty() ||
                     std::any_of(r.misconfigurations.begin(), r.misconfigurations.end(),
                                 [](const trivy::Misconfiguration& m) { return m.failed(); });
    os << '\n' << cell(r.target, 500);
    if (!r.type.empty()) os << " [" << r.type << "]";
    if (!any) {
      os << ": no findings\n";
      continue;
    }
    os << '\n';
    bool first = true;
    auto section = [&] {
      if (!first) os << '\n';
      first = false;
    };
    if (!r.vulnerabilities.empty()) {
      section();
      Counts c;
      for (const auto& v : r.vulnerabilities) c.add(v.severity);
      os << "  Vulnerabilities: " << c.total() << " (" << counts_text(c) << ")\n\n";
      TextTable t({"SEVERITY", "ID", "PACKAGE", "INSTALLED", "FIXED", "TITLE"});
      for (const auto* v : by_severity(r.vulnerabilities))
        t.row(v->severity, {std::string(trivy::to_string(v->severity)), cell(v->id, 40),
                            cell(v->pkg_path.empty() ? v->pkg_name : v->pkg_name + " (" + v->pkg_path + ")", 60),
                            cell(v->installed_version, 40), cell(v->fixed_version, 40), cell(v->title, 80)});
      t.print(os, ctx.color, "  ");
    }
    std::vector<const trivy::Misconfiguration*> failed;
    for (const auto* m : by_severity(r.misconfigurations))
      if (m->failed()) failed.push_back(m);
    if (!failed.empty()) {
      section();
      Counts c;
      for (const auto* m : failed) c.add(m->severity);
      os << "  Misconfigurations: " << c.total() << " (" << counts_text(c) << ")\n\n";
      TextTable t({"SEVERITY", "ID", "LINES", "TITLE", "MESSAGE"});
      for (const auto* m : failed)
        t.row(m->severity, {std::string(trivy::to_string(m->severity)), cell(m->id, 40),
                            lines_of(m->start_line, m->end_line), cell(m->title, 60), cell(m->message, 100)});
      t.print(os, ctx.color, "  ");
    }
    if (!r.secrets.empty()) {
      section();
      Counts c;
      for (const auto& x : r.secrets) c.add(x.severity);
      os << "  Secrets: " << c.total() << " (" << counts_text(c) << ")\n\n";
      TextTable t({"SEVERITY", "RULE", "CATEGORY", "LINES", "TITLE"});
      for (const auto* x : by_severity(r.secrets))
        t.row(x->severity, {std::string(trivy::to_string(x->severity)), cell(x->rule_id, 40), cell(x->category, 30),
                            lines_of(x->start_line, x->end_line), cell(x->title, 80)});
      t.print(os, ctx.color, "  ");
    }
  }
  if (scan.results.empty()) os << "\nno results: Trivy found nothing to scan in this artifact\n";
  os << "\nTotal: " << plural(s.vulnerabilities.total(), "vulnerability", "vulnerabilities") << " ("
     << counts_text(s.vulnerabilities) << "), "
     << plural(s.misconfigurations.total(), "misconfiguration", "misconfigurations") << ", "
     << plural(s.secrets.total(), "secret", "secrets") << '\n';
  if (auto f = filtered_text(s); !f.empty()) os << "Filtered out: " << f << '\n';
  for (const auto& e : s.expired_ignores)
    os << "Expired ignore entry: " << e.file << ":" << e.line << ": " << (e.id.empty() ? "(paths)" : e.id)
       << " (expired " << e.expires << ")\n";
  os << "Policy: " << policy_text(s.policy) << '\n';
}

void render_markdown(const trivy::ScanOutcome& scan, const Context& ctx, std::ostream& os) {
  const auto& s = scan.summary;
  os << "## Trivy scan: " << md(subject(scan, ctx), 300) << "\n\n";
  if (!s.policy.fail_on) {
    os << "**Policy:** none (no `--fail-on`)\n\n";
  } else {
    std::string sev(trivy::to_string(*s.policy.fail_on));
    if (s.policy.passed) os << "**Policy:** :white_check_mark: passed (`--fail-on " << sev << "`)\n\n";
    else
      os << "**Policy:** :x: failed (`--fail-on " << sev << "`): " << plural(s.policy.total(), "finding", "findings")
         << " at or above " << sev << "\n\n";
  }
  os << "| Severity | Vulnerabilities | Misconfigurations | Secrets |\n|---|---:|---:|---:|\n";
  for (Severity x : kSeveritiesDescending)
    os << "| " << trivy::to_string(x) << " | " << s.vulnerabilities[x] << " | " << s.misconfigurations[x] << " | "
       << s.secrets[x] << " |\n";
  os << "| **Total** | **" << s.vulnerabilities.total() << "** | **" << s.misconfigurations.total() << "** | **"
     << s.secrets.total() << "** |\n\n";
  if (auto f = filtered_text(s); !f.empty()) os << "Filtered out: " << md(f) << ".\n\n";
  for (const auto& e : s.expired_ignores)
    os << "> [!WARNING]\n> The ignore entry for `" << (e.id.empty() ? "(paths)" : e.id) << "` (" << md(e.file) << ":"
       << e.line << ") expired on " << md(e.expires) << ": its findings are reported again.\n\n";

  std::size_t listed = 0, total = 0;
  for (const auto& r : scan.results) {
    std::vector<const trivy::Misconfiguration*> failed;
    for (const auto* m : by_severity(r.misconfigurations))
      if (m->failed()) failed.push_back(m);
    const std::size_t n = r.vulnerabilities.size() + failed.size() + r.secrets.size();
    total += n;
    if (n == 0) continue;
    os << "### " << md(r.target, 300);
    if (!r.type.empty()) os << " (" << md(r.type) << ")";
    os << "\n\n";
    if (listed >= ctx.markdown_limit) {
      os << "_" << n << " findings not listed._\n\n";
      continue;
    }
    if (!r.vulnerabilities.empty()) {
      os << "| Severity | ID | Package | Installed | Fixed | Title |\n|---|---|---|---|---|---|\n";
      for (const auto* v : by_severity(r.vulnerabilities)) {
        if (listed >= ctx.markdown_limit) break;
        ++listed;
        os << "| " << trivy::to_string(v->severity) << " | " << md_link(v->id, v->primary_url) << " | "
           << md(v->pkg_name) << " | " << md(v->installed_version) << " | " << md(v->fixed_version) << " | "
           << md(v->title) << " |\n";
      }
      os << '\n';
    }
    if (!failed.empty() && listed < ctx.markdown_limit) {
      os << "| Severity | ID | Lines | Title | Message |\n|---|---|---|---|---|\n";
      for (const auto* m : failed) {
        if (listed >= ctx.markdown_limit) break;
        ++listed;
        os << "| " << trivy::to_string(m->severity) << " | " << md_link(m->id, m->primary_url) << " | "
           << lines_of(m->start_line, m->end_line) << " | " << md(m->title) << " | " << md(m->message) << " |\n";
      }
      os << '\n';
    }
    if (!r.secrets.empty() && listed < ctx.markdown_limit) {
      os << "| Severity | Rule | Category | Lines | Title |\n|---|---|---|---|---|\n";
      for (const auto* x : by_severity(r.secrets)) {
        if (listed >= ctx.markdown_limit) break;
        ++listed;
        os << "| " << trivy::to_string(x->severity) << " | " << md(x->rule_id) << " | " << md(x->category) << " | "
           << lines_of(x->start_line, x->end_line) << " | " << md(x->title) << " |\n";
      }
      os << '\n';
    }
  }
  if (total > listed)
    os << "_" << (total - listed) << " of " << total
       << " findings are not listed here; see the JSON or SARIF report for all of them._\n";
}

}  // namespace imgf::report
