// JUnit XML as Trivy's contrib/junit.tpl writes it: per Result a test suite of its
// vulnerabilities, one of its misconfigurations (counts from MisconfSummary) and, when there
// are any, one of its secrets. Unlike the template, every value is XML-escaped (the template
// leaves targets, package names and IDs raw, which can make invalid XML).
#include <cstdint>

#include "imgfactory/report.hpp"

namespace imgf::report {
namespace {

bool xml_char_ok(char32_t r) {
  return r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) ||
         (r >= 0x10000 && r <= 0x10FFFF);
}

// Decodes one UTF-8 sequence at s[i]; returns its length, 0 when invalid.
std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp) {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

std::string attr_count(std::int64_t n) { return std::to_string(n); }

}  // namespace

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    std::size_t len = decode_utf8(s, i, cp);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
      continue;
    }
    switch (cp) {
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\t': out += "&#x9;"; break;
      case '\n': out += "&#xA;"; break;
      case '\r': out += "&#xD;"; break;
      default:
        if (xml_char_ok(cp)) out.append(s.substr(i, len));
        else out += "\xEF\xBF\xBD";
    }
    i += len;
  }
  return out;
}

void render_junit(const trivy::ScanOutcome& scan, std::ostream& os) {
  os << "<?xml version=\"1.0\" ?>\n<testsuites name=\"trivy\">";
  for (const auto& r : scan.results) {
    const std::string target = xml_escape(r.target);
    auto properties = [&] {
      if (r.type.empty()) return;
      os << "\n        <properties>\n            <property name=\"type\" value=\"" << xml_escape(r.type)
         << "\"></property>\n        </properties>";
    };
    // Vulnerabilities.
    const auto nv = r.vulnerabilities.size();
    os << "\n    <testsuite tests=\"" << nv << "\" failures=\"" << nv << "\" name=\"" << target
       << "\" errors=\"0\" skipped=\"0\" time=\"\">";
    properties();
    for (const auto& v : r.vulnerabilities) {
      os << "\n        <testcase classname=\"" << xml_escape(v.pkg_name) << "-" << xml_escape(v.installed_version)
         << "\" name=\"[" << trivy::to_string(v.severity) << "] " << xml_escape(v.id) << "\" time=\"\">"
         << "\n            <failure message=\"" << xml_escape(v.title) << "\" type=\"description\">"
         << xml_escape(v.description) << "</failure>\n        </testcase>";
    }
    os << "\n    </testsuite>";
    // Misconfigurations.
    if (r.misconf_summary) {
      const auto& s = *r.misconf_summary;
      os << "\n    <testsuite tests=\"" << attr_count(s.successes + s.failures) << "\" failures=\""
         << attr_count(s.failures) << "\" name=\"" << target << "\" errors=\"0\" skipped=\""
         << attr_count(s.exceptions) << "\" time=\"\">";
    } else {
      os << "\n    <testsuite tests=\"0\" failures=\"0\" name=\"" << target
         << "\" errors=\"0\" skipped=\"0\" time=\"\">";
    }
    properties();
    for (const auto& m : r.misconfigurations) {
      os << "\n        <testcase classname=\"" << xml_escape(m.type) << "\" name=\"[" << trivy::to_string(m.severity)
         << "] " << xml_escape(m.id) << "\" time=\"\">";
      if (m.failed())
        os << "\n            <failure message=\"" << xml_escape(m.title) << "\" type=\"description\">"
           << xml_escape(m.description) << "</failure>";
      os << "\n        </testcase>";
    }
    os << "\n    </testsuite>";
    // Secrets.
    if (!r.secrets.empty()) {
      os << "\n    <testsuite tests=\"" << r.secrets.size() << "\" failures=\"" << r.secrets.size() << "\" name=\""
         << target << "\" time=\"0\">";
      for (const auto& s : r.secrets)
        os << "\n        <testcase classname=\"" << xml_escape(s.rule_id) << "\" name=\"["
           << trivy::to_string(s.severity) << "] " << xml_escape(s.title) << "\">\n            <failure message=\""
           << xml_escape(s.title) << "\" type=\"description\">" << xml_escape(s.match)
           << "</failure>\n        </testcase>";
      os << "\n    </testsuite>";
    }
  }
  os << "\n</testsuites>\n";
}

}  // namespace imgf::report
