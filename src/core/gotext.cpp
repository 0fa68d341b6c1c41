#include "gotext.hpp"

#include <clocale>
#include <cwctype>
#include <locale.h>  // NOLINT: newlocale/towlower_l are POSIX, declared here
#include <wctype.h>  // NOLINT

namespace imgf::gotext {

namespace {

locale_t utf8_locale() {
  static locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (l == static_cast<locale_t>(nullptr))
      l = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", static_cast<locale_t>(nullptr));
    return l;
  }();
  return loc;
}

bool in(char32_t r, char32_t lo, char32_t hi) { return r >= lo && r <= hi; }

// Unicode "Cf" (format) characters, which Go does not count as printable.
bool is_format(char32_t r) {
  return r == 0xAD || in(r, 0x600, 0x605) || r == 0x61C || r == 0x6DD || r == 0x70F ||
         r == 0x890 || r == 0x891 || r == 0x8E2 || r == 0x180E || in(r, 0x200B, 0x200F) ||
         in(r, 0x202A, 0x202E) || in(r, 0x2060, 0x2064) || in(r, 0x2066, 0x206F) ||
         r == 0xFEFF || in(r, 0xFFF9, 0xFFFB) || r == 0x110BD || r == 0x110CD ||
         in(r, 0x13430, 0x1343F) || in(r, 0x1BCA0, 0x1BCA3) || in(r, 0x1D173, 0x1D17A) ||
         r == 0xE0001 || in(r, 0xE0020, 0xE007F);
}

}  // namespace

Decoded decode(std::string_view s) {
  auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return {b0, 1};
  auto cont = [&](std::size_t i) {
    return i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80;
  };
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return {kRuneError, 1};
    return {static_cast<char32_t>(((b0 & 0x1F) << 6) | (byte(1) & 0x3F)), 2};
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return {kRuneError, 1};
    if (b0 == 0xE0 && byte(1) < 0xA0) return {kRuneError, 1};  // overlong
    if (b0 == 0xED && byte(1) > 0x9F) return {kRuneError, 1};  // surrogate
    return {static_cast<char32_t>(((b0 & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F)),
            3};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return {kRuneError, 1};
    if (b0 == 0xF0 && byte(1) < 0x90) return {kRuneError, 1};
    if (b0 == 0xF4 && byte(1) > 0x8F) return {kRuneError, 1};
    return {static_cast<char32_t>(((b0 & 0x07) << 18) | ((byte(1) & 0x3F) << 12) |
                                  ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F)),
            4};
  }
  return {kRuneError, 1};
}

void append_rune(std::string& out, char32_t r) {
  if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = kRuneError;
  if (r < 0x80) {
    out.push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (r >> 6)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (r >> 12)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (r >> 18)));
    out.push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

std::vector<char32_t> runes(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  while (!s.empty()) {
    Decoded d = decode(s);
    out.push_back(d.rune);
    s.remove_prefix(d.width);
  }
  return out;
}

std::string from_runes(const std::vector<char32_t>& rs) {
  std::string out;
  out.reserve(rs.size());
  for (char32_t r : rs) append_rune(out, r);
  return out;
}

bool is_space(char32_t r) {
  switch (r) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return r >= 0x2000 && r <= 0x200A;
  }
}

bool is_letter(char32_t r) {
  if (r < 0x80) return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
  if (r == 0xAA || r == 0xB5 || r == 0xBA) return true;
  if (r < 0xC0) return false;
  if (r == 0xD7 || r == 0xF7) return false;
  locale_t loc = utf8_locale();
  if (loc == static_cast<locale_t>(nullptr)) return r <= 0x24F;
  return iswalpha_l(static_cast<wint_t>(r), loc) != 0;
}

bool is_digit(char32_t r) {
  if (r < 0x80) return r >= '0' && r <= '9';
  // Decimal digits of other scripts: the common blocks of Unicode's Nd category.
  static constexpr char32_t starts[] = {0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66,
                                        0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0, 0xF20,
                                        0x1040, 0x1090, 0x17E0, 0x1810, 0xFF10};
  for (char32_t s : starts)
    if (r >= s && r <= s + 9) return true;
  return false;
}

bool is_print(char32_t r) {
  if (r < 0x20 || r == 0x7F) return false;
  if (r < 0x7F) return true;
  if (r < 0xA0) return false;
  if (is_space(r)) return false;  // Go: only U+0020 of the spaces is printable
  if (is_format(r)) return false;
  if (in(r, 0xD800, 0xDFFF) || in(r, 0xE000, 0xF8FF) || r > 0xEFFFF) return false;  // Cs, Co
  if ((r & 0xFFFE) == 0xFFFE) return false;  // noncharacters
  if (in(r, 0xFDD0, 0xFDEF)) return false;
  locale_t loc = utf8_locale();
  if (loc == static_cast<locale_t>(nullptr)) return true;
  return iswgraph_l(static_cast<wint_t>(r), loc) != 0;
}

char32_t to_lower(char32_t r) {
  if (r < 0x80) return (r >= 'A' && r <= 'Z') ? r + 32 : r;
  locale_t loc = utf8_locale();
  if (loc == static_cast<locale_t>(nullptr)) return r;
  return static_cast<char32_t>(towlower_l(static_cast<wint_t>(r), loc));
}

char32_t to_upper(char32_t r) {
  if (r < 0x80) return (r >= 'a' && r <= 'z') ? r - 32 : r;
  locale_t loc = utf8_locale();
  if (loc == static_cast<locale_t>(nullptr)) return r;
  return static_cast<char32_t>(towupper_l(static_cast<wint_t>(r), loc));
}

std::string_view trim_left_space(std::string_view s) {
  while (!s.empty()) {
    Decoded d = decode(s);
    if (!is_space(d.rune) || (d.rune == kRuneError && d.width == 1)) break;
    s.remove_prefix(d.width);
  }
  return s;
}

std::string_view trim_space(std::string_view s) {
  s = trim_left_space(s);
  // Trailing: walk back over whole runes.
  while (!s.empty()) {
    std::size_t start = s.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && s.size() - start < 4)
      --start;
    Decoded d = decode(s.substr(start));
    if (d.width != s.size() - start) {  // the last byte is not the end of a valid rune
      break;
    }
    if (!is_space(d.rune)) break;
    s.remove_suffix(d.width);
  }
  return s;
}

namespace {
template <typename F>
std::string map_runes(std::string_view s, F f) {
  bool ascii = true;
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) ascii = false;
  std::string out;
  out.reserve(s.size());
  if (ascii) {
    for (char c : s) out.push_back(static_cast<char>(f(static_cast<unsigned char>(c))));
    return out;
  }
  while (!s.empty()) {
    Decoded d = decode(s);
    append_rune(out, f(d.rune));
    s.remove_prefix(d.width);
  }
  return out;
}
}  // namespace

std::string to_lower(std::string_view s) {
  return map_runes(s, [](char32_t r) { return to_lower(r); });
}
std::string to_upper(std::string_view s) {
  return map_runes(s, [](char32_t r) { return to_upper(r); });
}

std::string quote(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  while (!s.empty()) {
    Decoded d = decode(s);
    char32_t r = d.rune;
    if (d.width == 1 && r == kRuneError) {
      auto b = static_cast<unsigned char>(s[0]);
      out += "\\x";
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 0xF]);
      s.remove_prefix(1);
      continue;
    }
    s.remove_prefix(d.width);
    if (r == '"' || r == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(r));
      continue;
    }
    if (is_print(r)) {
      append_rune(out, r);
      continue;
    }
    switch (r) {
      case '\a': out += "\\a"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\v': out += "\\v"; continue;
      default: break;
    }
    if (r < ' ' || r == 0x7F) {
      out += "\\x";
      out.push_back(hex[(r >> 4) & 0xF]);
      out.push_back(hex[r & 0xF]);
    } else if (r < 0x10000) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out.push_back(hex[(r >> shift) & 0xF]);
    } else {
      out += "\\U";
      for (int shift = 28; shift >= 0; shift -= 4) out.push_back(hex[(r >> shift) & 0xF]);
    }
  }
  out.push_back('"');
  return out;
}

bool valid_utf8(std::string_view s, std::size_t* bad_offset) {
  std::size_t off = 0;
  while (off < s.size()) {
    Decoded d = decode(s.substr(off));
    if (d.rune == kRuneError && d.width == 1) {
      if (bad_offset) *bad_offset = off;
      return false;
    }
    off += d.width;
  }
  return true;
}

}  // namespace imgf::gotext
