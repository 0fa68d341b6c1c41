// Kubernetes-safe names and the regex checks of the Kargo manifests.
#include <re2/re2.h>

#include <algorithm>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/kargo.hpp"

namespace imgf::kargo {
namespace {

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool valid_label_segment(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-') return false;
  return true;
}

}  // namespace

bool is_dns1123_label(std::string_view s) { return valid_label_segment(s); }

bool is_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    const std::string_view seg = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    // Segments of a subdomain follow the label grammar, without the 63-character limit.
    if (seg.empty() || !alnum(seg.front()) || !alnum(seg.back())) return false;
    for (char c : seg)
      if (!alnum(c) && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string kube_name(std::string_view wanted, std::size_t max_len) {
  // 1. lower-case, anything outside [a-z0-9.-] becomes '-'
  std::string s;
  s.reserve(wanted.size());
  for (char ch : wanted) {
    char c = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    s += (alnum(c) || c == '.' || c == '-') ? c : '-';
  }
  // 2. every '.'-separated segment begins and ends alphanumeric; empty segments dropped
  std::string fixed;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t dot = s.find('.', start);
    if (dot == std::string::npos) dot = s.size();
    std::string_view seg(s.data() + start, dot - start);
    while (!seg.empty() && !alnum(seg.front())) seg.remove_prefix(1);
    while (!seg.empty() && !alnum(seg.back())) seg.remove_suffix(1);
    if (!seg.empty()) {
      if (!fixed.empty()) fixed += '.';
      fixed += seg;
    }
    start = dot + 1;
  }
  if (!fixed.empty() && fixed == wanted && fixed.size() <= max_len) return fixed;
  // 3. changed or too long: cut and add a hash of the original so distinct inputs stay distinct
  const std::string suffix = "-" + fsutil::sha256_hex(wanted).substr(0, 10);
  const std::size_t keep = max_len > suffix.size() ? max_len - suffix.size() : 0;
  std::string prefix = fixed.substr(0, std::min(keep, fixed.size()));
  while (!prefix.empty() && !alnum(prefix.back())) prefix.pop_back();
  if (prefix.empty()) return suffix.substr(1);  // the hash alone (hex: a valid label)
  return prefix + suffix;
}

std::string anchored_literal(std::string_view text) {
  static constexpr std::string_view meta = R"(\.+*?()|[]{}^$)";
  std::string out = "^";
  for (char c : text) {
    if (meta.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  out += '$';
  return out;
}

void check_regex(const std::string& re, const std::string& what, const std::string& file, int line) {
  const std::string hint = "Kargo evaluates it as a Go regular expression (RE2 syntax)";
  RE2 compiled(re, RE2::Quiet);
  if (!compiled.ok())
    throw input_error(what + " '" + re + "' is not a valid regular expression: " + compiled.error(), file, line,
                      hint);
  // RE2 accepts \C (any byte); Go's regexp refuses it.
  for (std::size_t i = 0; i + 1 < re.size(); ++i) {
    if (re[i] != '\\') continue;
    if (re[i + 1] == 'C')
      throw input_error(what + " '" + re + "' uses \\C, which Go's regexp (and so Kargo) refuses", file, line,
                        hint);
    ++i;  // skip the escaped character
  }
}

}  // namespace imgf::kargo
