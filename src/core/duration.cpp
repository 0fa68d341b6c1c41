#include "imgfactory/duration.hpp"

#include <cmath>

namespace imgf::duration {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Milliseconds per unit; 0 for an unknown one.
double unit_ms(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1e3;
  if (unit == "m") return 60e3;
  if (unit == "h") return 3600e3;
  if (unit == "d") return 86400e3;
  if (unit == "w") return 7 * 86400e3;
  return 0;
}

constexpr double kMaxMs = 100 * 366 * 86400e3;  // 100 years: far beyond any timeout or delay

}  // namespace

std::optional<std::chrono::milliseconds> parse(std::string_view text, std::string* why, Bare bare) {
  auto fail = [&](std::string reason) -> std::optional<std::chrono::milliseconds> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  if (text.empty()) return fail("empty");
  double total = 0;
  std::size_t i = 0;
  bool first = true;
  while (i < text.size()) {
    // number: digits, at most one '.', at least one digit
    const std::size_t start = i;
    std::size_t digits = 0, dots = 0;
    for (; i < text.size() && (is_digit(text[i]) || text[i] == '.'); ++i) {
      if (text[i] == '.') ++dots;
      else ++digits;
    }
    if (i == start) return fail("expected a number");
    if (digits == 0 || dots > 1 || i - start > 18) return fail("malformed number");
    double value = 0, scale = 1;
    bool fraction = false;
    for (std::size_t k = start; k < i; ++k) {
      if (text[k] == '.') {
        fraction = true;
        continue;
      }
      if (fraction) value += (text[k] - '0') * (scale /= 10);
      else value = value * 10 + (text[k] - '0');
    }
    // unit
    const std::size_t unit_start = i;
    while (i < text.size() && is_alpha(text[i])) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      // A bare number: the whole text, read as seconds where the caller allows it.
      if (!first || i != text.size() || bare == Bare::refused) return fail("missing unit");
      total = value * 1e3;
      break;
    }
    const double ms = unit_ms(unit);
    if (ms == 0) return fail("unknown unit '" + std::string(unit) + "'");
    total += value * ms;
    if (total > kMaxMs) return fail("too long");
    first = false;
  }
  if (total > kMaxMs) return fail("too long");
  return std::chrono::milliseconds(std::llround(total));
}

}  // namespace imgf::duration
