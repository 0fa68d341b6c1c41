// JSON arrays as Go's encoding/json reads them into []interface{}: the whole text must be
// one valid JSON value (trailing non-space is an error), nesting is limited to 10000
// levels, invalid UTF-8 inside strings becomes U+FFFD, lone surrogates become U+FFFD.
// Iterative, so hostile nesting cannot exhaust the stack.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "dockerfile_internal.hpp"
#include "gotext.hpp"

namespace imgf::dockerfile::detail {

namespace {

constexpr std::size_t kMaxDepth = 10000;

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}

  // Parses one value at the current position. Top-level string elements of the outer
  // array are collected into `strings`; `non_string` is set when a top-level element is
  // anything else. Returns false on a syntax error.
  bool parse_document(std::vector<std::string>& strings, bool& non_string) {
    skip_ws();
    if (!consume('[')) return false;
    // Stack of open containers: '[' or '{'. Depth 1 is the outer array.
    std::vector<char> stack{'['};
    // Within containers: state machine.
    enum class Expect { value_or_close, value, comma_or_close, key_or_close, key, colon };
    std::vector<Expect> expect{Expect::value_or_close};
    while (!stack.empty()) {
      skip_ws();
      if (pos_ >= s_.size()) return false;
      Expect& e = expect.back();
      char c = s_[pos_];
      bool top = stack.size() == 1;
      switch (e) {
        case Expect::value_or_close:
        case Expect::value: {
          if (c == ']' && e == Expect::value_or_close && stack.back() == '[') {
            ++pos_;
            stack.pop_back();
            expect.pop_back();
            if (!expect.empty()) expect.back() = Expect::comma_or_close;
            continue;
          }
          if (c == '[' || c == '{') {
            if (stack.size() >= kMaxDepth) return false;
            if (top) non_string = true;
            ++pos_;
            e = Expect::comma_or_close;  // after the nested value closes
            stack.push_back(c);
            expect.push_back(c == '[' ? Expect::value_or_close : Expect::key_or_close);
            continue;
          }
          if (c == '"') {
            std::string str;
            if (!read_string(str)) return false;
            if (top) strings.push_back(std::move(str));
          } else {
            bool overflow = false;
            if (!read_scalar(overflow)) return false;
            if (top) non_string = true;
            if (overflow) overflow_ = true;
          }
          e = Expect::comma_or_close;
          continue;
        }
        case Expect::comma_or_close: {
          char close = stack.back() == '[' ? ']' : '}';
          if (c == ',') {
            ++pos_;
            e = stack.back() == '[' ? Expect::value : Expect::key;
            continue;
          }
          if (c == close) {
            ++pos_;
            stack.pop_back();
            expect.pop_back();
            continue;
          }
          return false;
        }
        case Expect::key_or_close:
        case Expect::key: {
          if (c == '}' && e == Expect::key_or_close) {
            ++pos_;
            stack.pop_back();
            expect.pop_back();
            continue;
          }
          if (c != '"') return false;
          std::string key;
          if (!read_string(key)) return false;
          e = Expect::colon;
          continue;
        }
        case Expect::colon: {
          if (c != ':') return false;
          ++pos_;
          e = Expect::value;
          continue;
        }
      }
    }
    skip_ws();
    return pos_ == s_.size();
  }

  bool overflow() const { return overflow_; }

 private:
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool consume(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool read_hex4(char32_t& out) {
    if (pos_ + 4 > s_.size()) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      int v = hexval(s_[pos_ + static_cast<std::size_t>(i)]);
      if (v < 0) return false;
      out = out * 16 + static_cast<char32_t>(v);
    }
    pos_ += 4;
    return true;
  }

  bool read_string(std::string& out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) return false;
      auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        ++pos_;
        if (pos_ >= s_.size()) return false;
        char e = s_[pos_++];
        switch (e) {
          case '"': out.push_back('"'); break;
          case '\\': out.push_back('\\'); break;
          case '/': out.push_back('/'); break;
          case 'b': out.push_back('\b'); break;
          case 'f': out.push_back('\f'); break;
          case 'n': out.push_back('\n'); break;
          case 'r': out.push_back('\r'); break;
          case 't': out.push_back('\t'); break;
          case 'u': {
            char32_t r = 0;
            if (!read_hex4(r)) return false;
            if (r >= 0xD800 && r < 0xDC00) {
              // A high surrogate: combine with a following \uDC00-\uDFFF, else U+FFFD.
              std::size_t save = pos_;
              char32_t lo = 0;
              if (pos_ + 1 < s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
                pos_ += 2;
                if (!read_hex4(lo)) return false;
                if (lo >= 0xDC00 && lo < 0xE000) {
                  gotext::append_rune(out, 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00));
                  break;
                }
                pos_ = save;
              }
              gotext::append_rune(out, gotext::kRuneError);
            } else if (r >= 0xDC00 && r < 0xE000) {
              gotext::append_rune(out, gotext::kRuneError);
            } else {
              gotext::append_rune(out, r);
            }
            break;
          }
          default:
            return false;
        }
        continue;
      }
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      gotext::Decoded d = gotext::decode(s_.substr(pos_));
      gotext::append_rune(out, d.rune);  // invalid bytes become U+FFFD
      pos_ += d.width;
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // true/false/null or a number (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?).
  bool read_scalar(bool& overflow) {
    char c = s_[pos_];
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    std::size_t start = pos_;
    auto digit = [&](std::size_t i) { return i < s_.size() && s_[i] >= '0' && s_[i] <= '9'; };
    if (s_[pos_] == '-') ++pos_;
    if (!digit(pos_)) return false;
    if (s_[pos_] == '0') {
      ++pos_;
    } else {
      while (digit(pos_)) ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!digit(pos_)) return false;
      while (digit(pos_)) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digit(pos_)) return false;
      while (digit(pos_)) ++pos_;
    }
    // Go reports a number that does not fit a float64 as an unmarshalling error.
    std::string num(s_.substr(start, pos_ - start));
    errno = 0;
    double v = std::strtod(num.c_str(), nullptr);
    if (errno == ERANGE && std::isinf(v)) overflow = true;
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  bool overflow_ = false;
};

}  // namespace

JsonArray parse_json_array(std::string_view rest, std::vector<std::string>& out) {
  rest = gotext::trim_left_space(rest);
  if (rest.empty() || rest.front() != '[') return JsonArray::invalid;
  Reader reader(rest);
  std::vector<std::string> strings;
  bool non_string = false;
  if (!reader.parse_document(strings, non_string)) return JsonArray::invalid;
  if (reader.overflow()) return JsonArray::invalid;  // an UnmarshalTypeError, not the array error
  if (non_string) return JsonArray::not_string_array;
  out = std::move(strings);
  return JsonArray::ok;
}

}  // namespace imgf::dockerfile::detail
