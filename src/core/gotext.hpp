#pragma once
// Internal to imgf_core: the few pieces of Go's string semantics that BuildKit's Dockerfile
// parser relies on (UTF-8 decoding with U+FFFD for bad bytes, unicode.IsSpace,
// strings.TrimSpace/ToLower, strconv.Quote). Reproducing them is what makes our AST dump
// byte-identical to BuildKit's.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace imgf::gotext {

inline constexpr char32_t kRuneError = 0xFFFD;

struct Decoded {
  char32_t rune;
  std::size_t width;  // 1 for an invalid byte (rune == kRuneError)
};

// utf8.DecodeRuneInString: s must be non-empty.
Decoded decode(std::string_view s);
// Appends the UTF-8 encoding of r (invalid code points become U+FFFD, like Go).
void append_rune(std::string& out, char32_t r);
// []rune(s): decodes the whole string (invalid bytes -> U+FFFD).
std::vector<char32_t> runes(std::string_view s);
std::string from_runes(const std::vector<char32_t>& rs);

bool is_space(char32_t r);   // unicode.IsSpace
bool is_letter(char32_t r);  // unicode.IsLetter (glibc C.UTF-8 tables beyond Latin-1)
bool is_digit(char32_t r);   // unicode.IsDigit (ASCII + glibc tables)
bool is_print(char32_t r);   // strconv.IsPrint (approximation outside the BMP's common blocks)
char32_t to_lower(char32_t r);
char32_t to_upper(char32_t r);

std::string_view trim_space(std::string_view s);       // strings.TrimSpace
std::string_view trim_left_space(std::string_view s);  // strings.TrimLeftFunc(unicode.IsSpace)
std::string to_lower(std::string_view s);              // strings.ToLower
std::string to_upper(std::string_view s);              // strings.ToUpper
std::string quote(std::string_view s);                 // strconv.Quote
bool valid_utf8(std::string_view s, std::size_t* bad_offset = nullptr);

}  // namespace imgf::gotext
