// Shell-word expansion with the semantics of BuildKit's frontend/dockerfile/shell lexer:
// quotes, the escape token, $VAR and ${VAR...} forms (:-, -, :+, +, :?, ?, #, ##, %, %%,
// /, //), word splitting of expansion results. Works on runes like Go's text/scanner
// (invalid UTF-8 becomes U+FFFD, a leading BOM is dropped). Nesting of ${...} is bounded so
// hostile input cannot exhaust the stack.
#include <re2/re2.h>

#include <algorithm>

#include "gotext.hpp"
#include "imgfactory/dockerfile.hpp"
#include "imgfactory/error.hpp"

namespace imgf::dockerfile::shell {

namespace {

constexpr char32_t kEOF = static_cast<char32_t>(-1);
constexpr int kMaxNesting = 200;

struct LexError {
  std::string message;
};

std::string utf8(char32_t r) {
  std::string s;
  gotext::append_rune(s, r == kEOF ? gotext::kRuneError : r);
  return s;
}

class Word {
 public:
  Word(std::string_view word, const Env& env, const Options& opt) : env_(env), opt_(opt) {
    text_ = gotext::runes(word);
    if (!text_.empty() && text_.front() == 0xFEFF) pos_ = 1;  // text/scanner drops a leading BOM
    raw_escapes_ = opt.raw_escapes;
  }

  Result run() {
    Result r;
    auto [result, words] = process_stop_on(kEOF, raw_escapes_);
    r.result = std::move(result);
    r.words = std::move(words);
    r.matched = std::move(matched_);
    r.unmatched = std::move(unmatched_);
    return r;
  }

 private:
  // The words being collected. BuildKit shares one buffer between nested calls; so do we,
  // to split words identically.
  struct Words {
    std::string* buf;
    std::vector<std::string> words;
    bool in_word = false;
    void add_char(char32_t ch) {
      if (gotext::is_space(ch) && in_word) {
        if (!buf->empty()) {
          words.push_back(*buf);
          buf->clear();
          in_word = false;
        }
      } else if (!gotext::is_space(ch)) {
        add_raw_char(ch);
      }
    }
    void add_raw_char(char32_t ch) {
      gotext::append_rune(*buf, ch);
      in_word = true;
    }
    void add_string(const std::string& s) {
      for (char32_t r : gotext::runes(s)) add_char(r);
    }
    void add_raw_string(const std::string& s) {
      *buf += s;
      in_word = true;
    }
    std::vector<std::string> get_words() {
      if (!buf->empty()) {
        words.push_back(*buf);
        buf->clear();
        in_word = false;
      }
      return words;
    }
  };

  char32_t peek() const { return pos_ < text_.size() ? text_[pos_] : kEOF; }
  char32_t next() { return pos_ < text_.size() ? text_[pos_++] : kEOF; }

  std::pair<std::string, std::vector<std::string>> process_stop_on(char32_t stop, bool raw_escapes) {
    if (++depth_ > kMaxNesting) throw LexError{"substitutions nested more than " + std::to_string(kMaxNesting) + " deep"};
    std::string result;
    words_buffer_.clear();
    Words words{&words_buffer_};
    bool saved_raw = raw_escapes_;
    raw_escapes_ = raw_escapes;
    while (peek() != kEOF) {
      char32_t ch = peek();
      if (stop != kEOF && ch == stop) {
        next();
        raw_escapes_ = saved_raw;
        --depth_;
        return {result, words.get_words()};
      }
      if (ch == '$' || (!opt_.skip_process_quotes && (ch == '\'' || ch == '"'))) {
        std::string tmp = ch == '$' ? process_dollar() : ch == '\'' ? process_single_quote() : process_double_quote();
        result += tmp;
        if (ch == '$')
          words.add_string(tmp);
        else
          words.add_raw_string(tmp);
        continue;
      }
      ch = next();
      if (ch == opt_.escape_token) {
        if (raw_escapes_) {
          words.add_raw_char(ch);
          gotext::append_rune(result, ch);
        }
        ch = next();
        if (ch == kEOF) break;
        words.add_raw_char(ch);
      } else {
        words.add_char(ch);
      }
      gotext::append_rune(result, ch);
    }
    raw_escapes_ = saved_raw;
    --depth_;
    if (stop != kEOF)
      throw LexError{"unexpected end of statement while looking for matching " + utf8(stop)};
    return {result, words.get_words()};
  }

  std::string process_single_quote() {
    std::string result;
    char32_t ch = next();
    if (opt_.raw_quotes) gotext::append_rune(result, ch);
    while (true) {
      ch = next();
      if (ch == kEOF) throw LexError{"unexpected end of statement while looking for matching single-quote"};
      if (ch == '\'') {
        if (opt_.raw_quotes) gotext::append_rune(result, ch);
        return result;
      }
      gotext::append_rune(result, ch);
    }
  }

  std::string process_double_quote() {
    std::string result;
    char32_t ch = next();
    if (opt_.raw_quotes) gotext::append_rune(result, ch);
    while (true) {
      char32_t p = peek();
      if (p == kEOF) throw LexError{"unexpected end of statement while looking for matching double-quote"};
      if (p == '"') {
        ch = next();
        if (opt_.raw_quotes) gotext::append_rune(result, ch);
        return result;
      }
      if (p == '$') {
        result += process_dollar();
        continue;
      }
      ch = next();
      if (ch == opt_.escape_token) {
        if (raw_escapes_) gotext::append_rune(result, ch);
        char32_t q = peek();
        if (q == kEOF) continue;
        if (q == '"' || q == '$' || q == opt_.escape_token) ch = next();
      }
      gotext::append_rune(result, ch);
    }
  }

  std::pair<std::string, bool> get_env(const std::string& name) {
    auto it = env_.find(name);
    if (it != env_.end()) {
      matched_.insert(name);
      return {it->second, true};
    }
    unmatched_.insert(name);
    return {std::string(), false};
  }

  std::string process_dollar() {
    next();  // '$'
    if (peek() != '{') {
      std::string name = process_name();
      if (name.empty()) return "$";
      auto [value, found] = get_env(name);
      if (!found && opt_.skip_unset_env) return "$" + name;
      return value;
    }
    next();  // '{'
    char32_t p = peek();
    if (p == kEOF) throw LexError{"syntax error: missing '}'"};
    if (p == '{' || p == '}' || p == ':') throw LexError{"syntax error: bad substitution"};
    std::string name = process_name();
    char32_t ch = next();
    if (ch == kEOF) throw LexError{"syntax error: missing '}'"};
    std::string chs = utf8(ch);
    bool null_is_unset = false;
    switch (ch) {
      case '}': {
        auto [value, set] = get_env(name);
        if (!set && opt_.skip_unset_env) return "${" + name + "}";
        return value;
      }
      case ':':
        null_is_unset = true;
        ch = next();
        if (ch == kEOF) throw LexError{"syntax error: missing '}'"};
        chs += utf8(ch);
        [[fallthrough]];
      case '+':
      case '-':
      case '?':
      case '#':
      case '%': {
        bool raw = ch == '#' || ch == '%';
        if (null_is_unset && raw) throw LexError{"unsupported modifier (" + chs + ") in substitution"};
        std::string word;
        try {
          word = process_stop_on('}', raw).first;
        } catch (const LexError&) {
          if (peek() == kEOF) throw LexError{"syntax error: missing '}'"};
          throw;
        }
        auto [value, set] = get_env(name);
        if (opt_.skip_unset_env && !set) return "${" + name + chs + word + "}";
        switch (ch) {
          case '-':
            return (!set || (null_is_unset && value.empty())) ? word : value;
          case '+':
            return (!set || (null_is_unset && value.empty())) ? std::string() : word;
          case '?':
            if (!set) throw LexError{name + ": " + (word.empty() ? "is not allowed to be unset" : word)};
            if (null_is_unset && value.empty())
              throw LexError{name + ": " + (word.empty() ? "is not allowed to be empty" : word)};
            return value;
          case '%':
          case '#': {
            bool greedy = false;
            if (!word.empty() && static_cast<char32_t>(static_cast<unsigned char>(word[0])) == ch) {
              greedy = true;
              word = word.substr(1);
            }
            return ch == '%' ? trim_suffix(word, value, greedy) : trim_prefix(word, value, greedy);
          }
          default:
            throw LexError{"unsupported modifier (" + chs + ") in substitution"};
        }
      }
      case '/': {
        bool replace_all = peek() == '/';
        if (replace_all) next();
        std::string pattern;
        try {
          pattern = process_stop_on('/', true).first;
        } catch (const LexError&) {
          if (peek() == kEOF) throw LexError{"syntax error: missing '/' in ${}"};
          throw;
        }
        std::string replacement;
        try {
          replacement = process_stop_on('}', true).first;
        } catch (const LexError&) {
          if (peek() == kEOF) throw LexError{"syntax error: missing '}'"};
          throw;
        }
        auto [value, set] = get_env(name);
        if (opt_.skip_unset_env && !set) return "${" + name + "/" + pattern + "/" + replacement + "}";
        return replace(pattern, replacement, value, replace_all);
      }
      default:
        throw LexError{"unsupported modifier (" + chs + ") in substitution"};
    }
  }

  std::string process_name() {
    std::string name;
    while (peek() != kEOF) {
      char32_t ch = peek();
      if (name.empty() && gotext::is_digit(ch)) {
        while (peek() != kEOF && gotext::is_digit(peek())) gotext::append_rune(name, next());
        return name;
      }
      if (name.empty() && (ch == '@' || ch == '*' || ch == '#' || ch == '?' || ch == '-' ||
                           ch == '$' || ch == '!' || ch == '0')) {
        return utf8(next());
      }
      if (!gotext::is_letter(ch) && !gotext::is_digit(ch) && ch != '_') break;
      gotext::append_rune(name, next());
    }
    return name;
  }

  // A shell pattern (* ? and \-escapes) as an RE2/Go regular expression.
  static std::string pattern_to_regex(const std::string& pattern, bool greedy, bool anchored) {
    std::vector<char32_t> rs = gotext::runes(pattern);
    std::string out;
    if (anchored) out.push_back('^');
    for (std::size_t i = 0; i < rs.size(); ++i) {
      char32_t tok = rs[i];
      switch (tok) {
        case '*':
          out += greedy ? ".*" : ".*?";
          continue;
        case '?':
          out.push_back('.');
          continue;
        case '\\': {
          char32_t nx = i + 1 < rs.size() ? rs[i + 1] : kEOF;
          if (nx == '}' || nx == '/') continue;
          out.push_back('\\');
          ++i;
          if (nx != '*' && nx != '?' && nx != '\\') throw LexError{"invalid escape '\\" + utf8(nx) + "'"};
          tok = nx;
          break;
        }
        case '[': case ']': case '{': case '}': case '.': case '+': case '(': case ')':
        case '|': case '^': case '$':
          out.push_back('\\');
          break;
        default:
          break;
      }
      gotext::append_rune(out, tok);
    }
    return out;
  }

  static std::unique_ptr<RE2> compile(const std::string& pattern, bool greedy, bool anchored) {
    std::string rx;
    try {
      rx = pattern_to_regex(pattern, greedy, anchored);
    } catch (const LexError& e) {
      throw LexError{"invalid pattern (" + pattern + ") in substitution: " + e.message};
    }
    RE2::Options o;
    o.set_log_errors(false);
    o.set_dot_nl(true);
    auto re = std::make_unique<RE2>(rx, o);
    if (!re->ok()) throw LexError{"invalid pattern (" + pattern + ") in substitution: " + re->error()};
    return re;
  }

  static std::string trim_prefix(const std::string& word, const std::string& value, bool greedy) {
    auto re = compile(word, greedy, true);
    re2::StringPiece m;
    if (re->Match(value, 0, value.size(), RE2::UNANCHORED, &m, 1))
      return value.substr(static_cast<std::size_t>(m.data() - value.data()) + m.size());
    return value;
  }

  static std::string reverse_runes(const std::string& s) {
    std::vector<char32_t> rs = gotext::runes(s);
    std::reverse(rs.begin(), rs.end());
    return gotext::from_runes(rs);
  }

  static std::string reverse_pattern(const std::string& pattern) {
    std::vector<char32_t> in = gotext::runes(pattern);
    std::vector<char32_t> out(in.size());
    std::size_t n = in.size();
    for (std::size_t i = 0; i < n;) {
      std::size_t out_idx = n - 1 - i;
      if (in[i] == '\\' && i != n - 1) {
        out[out_idx - 1] = in[i];
        out[out_idx] = in[i + 1];
        i += 2;
      } else {
        out[out_idx] = in[i];
        ++i;
      }
    }
    return gotext::from_runes(out);
  }

  static std::string trim_suffix(const std::string& pattern, const std::string& value, bool greedy) {
    return reverse_runes(trim_prefix(reverse_pattern(pattern), reverse_runes(value), greedy));
  }

  // regexp.ReplaceAllString / the first match only, with Go's $-expansion of the replacement
  // (the pattern has no groups, so only $0 refers to anything).
  static std::string replace(const std::string& pattern, const std::string& repl, const std::string& value,
                             bool all) {
    auto re = compile(pattern, true, false);
    auto expand = [&](std::string& dst, re2::StringPiece m) {
      std::size_t i = 0;
      while (i < repl.size()) {
        std::size_t d = repl.find('$', i);
        if (d == std::string::npos) {
          dst.append(repl, i, std::string::npos);
          return;
        }
        dst.append(repl, i, d - i);
        i = d + 1;
        if (i < repl.size() && repl[i] == '$') {
          dst.push_back('$');
          ++i;
          continue;
        }
        bool brace = i < repl.size() && repl[i] == '{';
        std::size_t j = brace ? i + 1 : i;
        std::size_t start = j;
        while (j < repl.size()) {
          gotext::Decoded dr = gotext::decode(std::string_view(repl).substr(j));
          if (!gotext::is_letter(dr.rune) && !gotext::is_digit(dr.rune) && dr.rune != '_') break;
          j += dr.width;
        }
        std::string name = repl.substr(start, j - start);
        if (name.empty() || (brace && (j >= repl.size() || repl[j] != '}'))) {
          dst.push_back('$');
          continue;
        }
        i = brace ? j + 1 : j;
        if (name == "0") dst.append(m.data(), m.size());
      }
    };
    std::string out;
    std::size_t search = 0;
    std::size_t last_end = 0;
    bool any = false;
    while (search <= value.size()) {
      re2::StringPiece m;
      if (!re->Match(value, search, value.size(), RE2::UNANCHORED, &m, 1)) break;
      std::size_t a0 = static_cast<std::size_t>(m.data() - value.data());
      std::size_t a1 = a0 + m.size();
      out.append(value, last_end, a0 - last_end);
      if (a1 > last_end || a0 == 0) expand(out, m);
      last_end = a1;
      any = true;
      if (!all) break;
      std::size_t width = search < value.size() ? gotext::decode(std::string_view(value).substr(search)).width : 0;
      if (search + width > a1)
        search += width;
      else if (search + 1 > a1)
        ++search;
      else
        search = a1;
    }
    if (!any) return value;
    out.append(value, last_end, std::string::npos);
    return out;
  }

  std::vector<char32_t> text_;
  std::size_t pos_ = 0;
  const Env& env_;
  const Options& opt_;
  bool raw_escapes_ = false;
  int depth_ = 0;
  std::string words_buffer_;
  std::set<std::string> matched_;
  std::set<std::string> unmatched_;
};

}  // namespace

Result process(std::string_view word, const Env& env, const Options& options) {
  try {
    return Word(word, env, options).run();
  } catch (const LexError& e) {
    throw input_error("failed to process \"" + std::string(word) + "\": " + e.message);
  }
}

}  // namespace imgf::dockerfile::shell
