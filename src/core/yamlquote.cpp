#include "imgfactory/yamlquote.hpp"

#include <cstdio>

namespace imgf::yamlquote {

namespace {

// The code point of the escaped character starting at s[i] and its length in bytes, or
// {0, 0} when s[i] starts a character written as it is. "\"", "\\" are handled by the caller.
struct Special {
  unsigned code = 0;
  std::size_t len = 0;
};

Special special_at(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x20 || c == 0x7f) return {c, 1};
  // C1 controls U+0080..U+009F (NEL among them): C2 80..C2 9F.
  if (c == 0xc2 && i + 1 < s.size() && b(1) >= 0x80 && b(1) <= 0x9f) return {b(1), 2};
  if (c == 0xe2 && i + 2 < s.size() && b(1) == 0x80 && (b(2) == 0xa8 || b(2) == 0xa9))
    return {b(2) == 0xa8 ? 0x2028u : 0x2029u, 3};  // LS, PS
  if (c == 0xef && i + 2 < s.size() && b(1) == 0xbb && b(2) == 0xbf) return {0xfeff, 3};  // BOM
  if (c == 0xef && i + 2 < s.size() && b(1) == 0xbf && (b(2) == 0xbe || b(2) == 0xbf))
    return {b(2) == 0xbe ? 0xfffeu : 0xffffu, 3};  // noncharacters
  return {};
}

}  // namespace

std::string double_quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    switch (c) {
      case '"': out += "\\\""; ++i; continue;
      case '\\': out += "\\\\"; ++i; continue;
      case '\n': out += "\\n"; ++i; continue;
      case '\t': out += "\\t"; ++i; continue;
      case '\r': out += "\\r"; ++i; continue;
      default: break;
    }
    if (const Special sp = special_at(s, i); sp.len > 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", sp.code);
      out += buf;
      i += sp.len;
      continue;
    }
    out += c;
    ++i;
  }
  out += '"';
  return out;
}

std::string single_quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

bool needs_escapes(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i)
    if (special_at(s, i).len > 0) return true;
  return false;
}

}  // namespace imgf::yamlquote
