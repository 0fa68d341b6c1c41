// The Dockerfile AST as BuildKit's frontend/dockerfile/parser builds it: parser directives,
// comments, line continuations (also across comments and empty lines, and at end of file),
// JSON and shell forms, heredocs, instruction flags, and its 64 KiB line limit.
#include <algorithm>

#include "dockerfile_internal.hpp"
#include "gotext.hpp"
#include "imgfactory/dockerfile.hpp"
#include "imgfactory/error.hpp"

namespace imgf::dockerfile {

namespace {

constexpr std::size_t kMaxToken = 64 * 1024;  // bufio.MaxScanTokenSize
constexpr int kMaxOnbuildNesting = 64;

struct ParseFailure {
  std::string message;
  int line;
  std::string hint;
};

[[noreturn]] void fail(std::string message, int line, std::string hint = {}) {
  throw ParseFailure{std::move(message), line, std::move(hint)};
}

// bufio.Scanner with BuildKit's scanLines (line endings kept) and the default token limit.
class LineScanner {
 public:
  explicit LineScanner(std::string_view data) : data_(data) {}
  bool scan(std::string_view& line) {
    if (too_long_ || pos_ >= data_.size()) return false;
    std::size_t nl = data_.find('\n', pos_);
    std::size_t end = nl == std::string_view::npos ? data_.size() : nl + 1;
    std::size_t len = end - pos_;
    if ((nl != std::string_view::npos && len > kMaxToken) || (nl == std::string_view::npos && len >= kMaxToken)) {
      too_long_ = true;
      return false;
    }
    line = data_.substr(pos_, len);
    pos_ = end;
    return true;
  }
  bool too_long() const { return too_long_; }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
  bool too_long_ = false;
};

bool is_go_regex_space(char c) {  // Go regexp \s
  return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}
bool is_token_ws(char c) {  // [\t\v\f\r ]
  return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' ';
}
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

struct Directives {
  char escape = '\\';
  bool done = false;
  std::vector<std::string> seen;

  void set_escape(const std::string& v) {
    if (v != "`" && v != "\\") fail("invalid escape token '" + v + "' does not match ` or \\", 0);
    escape = v[0];
  }

  // DirectiveParser.ParseLine followed by the escape handling of possibleParserDirective.
  void parse_line(std::string_view line) {
    if (done) return;
    if (line.empty() || line.front() != '#') {
      done = true;
      return;
    }
    line.remove_prefix(1);
    line = gotext::trim_left_space(line);
    // ^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$
    std::size_t i = 0;
    if (i >= line.size() || !is_alpha(line[i])) {
      done = true;
      return;
    }
    while (i < line.size() && (is_alpha(line[i]) || (line[i] >= '0' && line[i] <= '9'))) ++i;
    std::string key = gotext::to_lower(line.substr(0, i));
    while (i < line.size() && is_go_regex_space(line[i])) ++i;
    if (i >= line.size() || line[i] != '=') {
      done = true;
      return;
    }
    ++i;
    std::string_view rest = line.substr(i);
    std::size_t lead = 0;
    while (lead < rest.size() && is_go_regex_space(rest[lead])) ++lead;
    std::string_view value;
    if (lead < rest.size()) {
      value = rest.substr(lead);
      while (!value.empty() && is_go_regex_space(value.back())) value.remove_suffix(1);
    } else if (!rest.empty()) {
      value = rest.substr(rest.size() - 1);  // the lazy group takes the last space
    } else {
      done = true;
      return;
    }
    if (key != "syntax" && key != "escape" && key != "check") {
      done = true;
      return;
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      fail("only one " + key + " parser directive can be used", 0);
    seen.push_back(key);
    if (key == "escape") set_escape(std::string(value));
  }
};

std::string_view trim_newline(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool is_comment(std::string_view line) {
  line = gotext::trim_left_space(line);
  return !line.empty() && line.front() == '#';
}

bool is_empty_continuation_line(std::string_view line) {
  return gotext::trim_left_space(trim_newline(line)).empty();
}

// ([^E])E[ \t]*$|^E[ \t]*$  ->  "$1"
std::pair<std::string, bool> trim_continuation(std::string_view line, char escape) {
  std::size_t end = line.size();
  while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
  if (end == 0 || line[end - 1] != escape) return {std::string(line), true};
  std::size_t esc = end - 1;
  if (esc == 0) return {std::string(), false};
  if (line[esc - 1] == escape) return {std::string(line), true};
  return {std::string(line.substr(0, esc)), false};
}

// The first line processing: trimNewline, optional left trim, directive detection,
// comment removal.
std::string_view process_line(Directives& d, std::string_view token, bool strip_left) {
  token = trim_newline(token);
  if (strip_left) token = gotext::trim_left_space(token);
  d.parse_line(token);
  if (is_comment(token)) return {};
  return token;
}

std::vector<std::string> split_token_ws(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    if (is_token_ws(s[i])) {
      out.emplace_back(s.substr(start, i - start));
      while (i < s.size() && is_token_ws(s[i])) ++i;
      start = i;
    } else {
      ++i;
    }
  }
  out.emplace_back(s.substr(start));
  return out;
}

// extractBuilderFlags: byte-wise, as in BuildKit (a byte >= 0x80 is read as U+0080..U+00FF).
std::pair<std::string_view, std::vector<std::string>> extract_builder_flags(std::string_view line) {
  enum { in_spaces, in_word, in_quote } phase = in_spaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  auto add = [&](unsigned char b) { gotext::append_rune(word, b); };
  auto space = [](unsigned char b) { return gotext::is_space(b); };
  for (std::size_t pos = 0; pos <= line.size(); ++pos) {
    unsigned char ch = pos < line.size() ? static_cast<unsigned char>(line[pos]) : 0;
    if (phase == in_spaces) {
      if (pos == line.size()) break;
      if (space(ch)) continue;
      if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') return {line.substr(pos), words};
      phase = in_word;
    }
    if ((phase == in_word || phase == in_quote) && pos == line.size()) {
      if (word != "--" && (blank_ok || !word.empty())) words.push_back(word);
      break;
    }
    if (phase == in_word) {
      if (space(ch)) {
        phase = in_spaces;
        if (word == "--") return {line.substr(pos), words};
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = static_cast<char>(ch);
        blank_ok = true;
        phase = in_quote;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == line.size()) continue;
        ++pos;
        ch = static_cast<unsigned char>(line[pos]);
      }
      add(ch);
      continue;
    }
    // in_quote
    if (ch == static_cast<unsigned char>(quote)) {
      phase = in_word;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == line.size()) {
        phase = in_word;
        continue;
      }
      ++pos;
      ch = static_cast<unsigned char>(line[pos]);
    }
    add(ch);
  }
  return {std::string_view(), words};
}

struct Split {
  std::string cmd;
  std::vector<std::string> flags;
  std::string args;
};

Split split_command(std::string_view line) {
  Split s;
  std::string_view trimmed = gotext::trim_space(line);
  std::size_t i = 0;
  while (i < trimmed.size() && !is_token_ws(trimmed[i])) ++i;
  s.cmd = std::string(trimmed.substr(0, i));
  if (i < trimmed.size()) {
    std::size_t j = i;
    while (j < trimmed.size() && is_token_ws(trimmed[j])) ++j;
    auto [rest, flags] = extract_builder_flags(trimmed.substr(j));
    s.flags = std::move(flags);
    s.args = std::string(gotext::trim_space(rest));
  }
  return s;
}

// parseWords: words with quotes and escapes kept (rune-wise).
std::vector<std::string> parse_words(std::string_view rest, char escape) {
  enum { in_spaces, in_word, in_quote } phase = in_spaces;
  std::vector<std::string> words;
  std::string word;
  char32_t quote = 0;
  bool blank_ok = false;
  char32_t ch = 0;
  std::size_t width = 0;
  for (std::size_t pos = 0; pos <= rest.size(); pos += width) {
    if (pos != rest.size()) {
      gotext::Decoded d = gotext::decode(rest.substr(pos));
      ch = d.rune;
      width = d.width;
    }
    if (phase == in_spaces) {
      if (pos == rest.size()) break;
      if (gotext::is_space(ch)) continue;
      phase = in_word;
    }
    if ((phase == in_word || phase == in_quote) && pos == rest.size()) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == in_word) {
      if (gotext::is_space(ch)) {
        phase = in_spaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = in_quote;
      }
      if (ch == static_cast<char32_t>(escape)) {
        if (pos + width == rest.size()) continue;
        gotext::append_rune(word, ch);
        pos += width;
        gotext::Decoded d = gotext::decode(rest.substr(pos));
        ch = d.rune;
        width = d.width;
      }
      gotext::append_rune(word, ch);
      continue;
    }
    // in_quote
    if (ch == quote) phase = in_word;
    if (ch == static_cast<char32_t>(escape) && quote != '\'') {
      if (pos + width == rest.size()) {
        phase = in_word;
        continue;
      }
      pos += width;
      gotext::append_rune(word, ch);
      gotext::Decoded d = gotext::decode(rest.substr(pos));
      ch = d.rune;
      width = d.width;
    }
    gotext::append_rune(word, ch);
  }
  return words;
}

void parse_name_val(Node& n, const std::string& rest, const std::string& key, char escape) {
  std::vector<std::string> words = parse_words(rest, escape);
  if (words.empty()) return;
  if (words[0].find('=') == std::string::npos) {
    // Old form: KEY name value (split at the first run of [\t\v\f\r ]).
    std::size_t i = 0;
    while (i < rest.size() && !is_token_ws(rest[i])) ++i;
    if (i >= rest.size()) fail(key + " must have two arguments", 0);
    std::size_t j = i;
    while (j < rest.size() && is_token_ws(rest[j])) ++j;
    n.args = {rest.substr(0, i), rest.substr(j), ""};
    return;
  }
  for (const std::string& w : words) {
    std::size_t eq = w.find('=');
    if (eq == std::string::npos)
      fail("Syntax error - can't find = in " + gotext::quote(w) + ". Must be of the form: name=value", 0);
    n.args.push_back(w.substr(0, eq));
    n.args.push_back(w.substr(eq + 1));
    n.args.emplace_back("=");
  }
}

void parse_whitespace_delimited(Node& n, const std::string& rest) {
  if (rest.empty()) return;
  n.args = split_token_ws(rest);
}

void parse_maybe_json(Node& n, const std::string& rest, bool to_list) {
  if (rest.empty() && !to_list) return;
  std::vector<std::string> items;
  switch (detail::parse_json_array(rest, items)) {
    case detail::JsonArray::ok:
      n.args = std::move(items);
      n.json = true;
      return;
    case detail::JsonArray::not_string_array:
      fail("when using JSON array syntax, arrays must be comprised of strings only", 0);
    case detail::JsonArray::invalid:
      break;
  }
  if (to_list)
    parse_whitespace_delimited(n, rest);
  else
    n.args = {rest};
}

Node node_from_line(const std::string& line, const Directives& d, int depth);

void dispatch(Node& n, const std::string& rest, const Directives& d, int depth) {
  std::string cmd = gotext::to_lower(n.value);
  if (cmd == "add" || cmd == "copy" || cmd == "volume") {
    parse_maybe_json(n, rest, true);
  } else if (cmd == "cmd" || cmd == "entrypoint" || cmd == "run" || cmd == "shell") {
    parse_maybe_json(n, rest, false);
  } else if (cmd == "arg") {
    n.args = parse_words(rest, d.escape);
  } else if (cmd == "env") {
    parse_name_val(n, rest, "ENV", d.escape);
  } else if (cmd == "label") {
    parse_name_val(n, rest, "LABEL", d.escape);
  } else if (cmd == "expose" || cmd == "from") {
    parse_whitespace_delimited(n, rest);
  } else if (cmd == "healthcheck") {
    std::size_t sep = 0;
    while (sep < rest.size() && !gotext::is_space(static_cast<unsigned char>(rest[sep]))) ++sep;
    std::size_t next = sep;
    while (next < rest.size() && gotext::is_space(static_cast<unsigned char>(rest[next]))) ++next;
    if (sep == 0) return;
    Node cmd_node;
    cmd_node.value = n.value;
    parse_maybe_json(cmd_node, rest.substr(next), false);
    n.args.push_back(rest.substr(0, sep));
    for (auto& a : cmd_node.args) n.args.push_back(std::move(a));
    n.json = cmd_node.json;
  } else if (cmd == "maintainer" || cmd == "stopsignal" || cmd == "user" || cmd == "workdir") {
    if (!rest.empty()) n.args = {rest};
  } else if (cmd == "onbuild") {
    if (rest.empty()) return;
    if (depth >= kMaxOnbuildNesting) fail("ONBUILD nested more than " + std::to_string(kMaxOnbuildNesting) + " deep", 0);
    n.trigger = std::make_shared<const Node>(node_from_line(rest, d, depth + 1));
  } else {
    n.args = {std::string()};  // parseIgnore: an unknown instruction keeps an empty argument
  }
}

Node node_from_line(const std::string& line, const Directives& d, int depth) {
  Split s = split_command(line);
  Node n;
  n.value = std::move(s.cmd);
  n.flags = std::move(s.flags);
  n.original = line;
  dispatch(n, s.args, d, depth);
  return n;
}

bool can_contain_heredoc(const Node& n) {
  const Node* node = &n;
  if (gotext::to_lower(node->value) == "onbuild" && node->trigger) node = node->trigger.get();
  std::string cmd = gotext::to_lower(node->value);
  if (cmd != "add" && cmd != "copy" && cmd != "run") return false;
  return !node->json;
}

// heredocFromMatch for a word matching ^(\d*)<<(-?)([^<]*)$.
std::optional<Heredoc> heredoc_from_word(const std::string& word) {
  std::size_t i = 0;
  while (i < word.size() && word[i] >= '0' && word[i] <= '9') ++i;
  if (word.compare(i, 2, "<<") != 0) return std::nullopt;
  std::string digits = word.substr(0, i);
  i += 2;
  bool chomp = false;
  if (i < word.size() && word[i] == '-') {
    chomp = true;
    ++i;
  }
  std::string rest = word.substr(i);
  if (rest.find('<') != std::string::npos) return std::nullopt;
  if (rest.empty()) return std::nullopt;
  shell::Options o;
  o.skip_unset_env = true;
  shell::Env none;
  std::vector<std::string> words = shell::process(rest, none, o).words;
  if (words.size() != 1) return std::nullopt;
  o.raw_quotes = true;
  std::vector<std::string> raw = shell::process(rest, none, o).words;
  if (raw.size() != words.size())
    fail("internal lexing of heredoc produced inconsistent results: " + rest, 0);
  auto quotes = [](const std::string& s) {
    return std::count(s.begin(), s.end(), '\'') + std::count(s.begin(), s.end(), '"');
  };
  Heredoc h;
  h.name = words[0];
  h.expand = quotes(words[0]) == quotes(raw[0]);
  h.chomp = chomp;
  unsigned long long fd = 0;
  bool overflow = false;
  for (char c : digits) {
    fd = fd * 10 + static_cast<unsigned>(c - '0');
    if (fd > 0xFFFFFFFFull) overflow = true;
  }
  h.file_descriptor = overflow ? 0 : static_cast<unsigned>(fd);  // strconv.ParseUint error -> 0
  return h;
}

std::vector<Heredoc> heredocs_from_line(const std::string& line) {
  shell::Options o;
  o.raw_quotes = true;
  o.raw_escapes = true;
  o.skip_unset_env = true;
  std::vector<std::string> words;
  try {
    words = shell::process(line, shell::Env{}, o).words;
  } catch (const Error&) {
    words.clear();  // BuildKit ignores lexing errors here
  }
  std::vector<Heredoc> docs;
  for (const std::string& w : words) {
    try {
      if (auto h = heredoc_from_word(w)) docs.push_back(std::move(*h));
    } catch (const Error& e) {
      fail(e.message(), 0);
    }
  }
  return docs;
}

std::string_view trim_leading_tabs(std::string_view s) {
  while (!s.empty() && s.front() == '\t') s.remove_prefix(1);
  return s;
}

Ast parse_impl(std::string_view content) {
  Ast ast;
  Directives d;
  LineScanner scanner(content);
  int current_line = 0;
  std::string_view raw;
  while (scanner.scan(raw)) {
    std::string_view bytes = raw;
    if (current_line == 0 && bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
    std::string_view processed;
    try {
      processed = process_line(d, bytes, true);
    } catch (ParseFailure& f) {
      f.line = current_line + 1;
      throw;
    }
    ++current_line;
    int start_line = current_line;
    auto [first, end_of_line] = trim_continuation(processed, d.escape);
    if (end_of_line && first.empty()) continue;
    std::string line = std::move(first);
    bool empty_continuation = false;
    while (!end_of_line && scanner.scan(raw)) {
      std::string_view cont;
      try {
        cont = process_line(d, raw, false);
      } catch (ParseFailure& f) {
        f.line = current_line + 1;
        throw;
      }
      ++current_line;
      if (is_comment(raw)) continue;
      if (is_empty_continuation_line(cont)) {
        empty_continuation = true;
        continue;
      }
      auto [piece, eol] = trim_continuation(cont, d.escape);
      end_of_line = eol;
      line += piece;
    }
    if (empty_continuation)
      ast.warnings.push_back("line " + std::to_string(start_line) + ": empty continuation line found in: " + line);
    Node child;
    try {
      child = node_from_line(line, d, 0);
    } catch (ParseFailure& f) {
      f.line = start_line;
      throw;
    }
    if (can_contain_heredoc(child) && line.find("<<") != std::string::npos) {
      std::vector<Heredoc> docs;
      try {
        docs = heredocs_from_line(line);
      } catch (ParseFailure& f) {
        f.line = start_line;
        throw;
      }
      for (Heredoc& h : docs) {
        bool terminated = false;
        while (scanner.scan(raw)) {
          ++current_line;
          std::string_view candidate = trim_newline(raw);
          if (h.chomp) candidate = trim_leading_tabs(candidate);
          if (candidate == h.name) {
            terminated = true;
            break;
          }
          h.content += raw;
        }
        if (!terminated) {
          if (scanner.too_long()) break;
          fail("unterminated heredoc: no line \"" + h.name + "\" ends the heredoc started here", start_line,
               "end the heredoc with a line holding only " + h.name);
        }
        child.heredocs.push_back(std::move(h));
      }
    }
    child.start_line = start_line;
    child.end_line = current_line;
    ast.children.push_back(std::move(child));
  }
  if (scanner.too_long())
    fail("dockerfile line greater than max allowed size of " + std::to_string(kMaxToken - 1), current_line + 1,
         "BuildKit reads Dockerfile lines of at most 64 KiB; split the line with '\\' continuations");
  if (ast.children.empty())
    fail("file with no instructions", std::max(current_line, 1),
         "a Dockerfile needs at least a FROM instruction");
  ast.escape_token = d.escape;
  return ast;
}

int line_of_offset(std::string_view content, std::size_t offset) {
  return 1 + static_cast<int>(std::count(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

void require_text(std::string_view content, const std::string& label) {
  if (std::size_t nul = content.find('\0'); nul != std::string_view::npos) {
    throw input_error("NUL byte in the Dockerfile: this is not a text file", label, line_of_offset(content, nul),
                      "a Dockerfile is UTF-8 text; a UTF-16 file must be saved as UTF-8");
  }
  std::size_t bad = 0;
  if (!gotext::valid_utf8(content, &bad)) {
    std::size_t line_start = content.rfind('\n', bad == 0 ? 0 : bad - 1);
    line_start = line_start == std::string_view::npos || bad == 0 ? 0 : line_start + 1;
    throw input_error("invalid UTF-8 (byte " + std::to_string(bad - line_start + 1) + " of the line)", label,
                      line_of_offset(content, bad), "a Dockerfile is UTF-8 text; convert it with iconv");
  }
}

}  // namespace

std::string Node::dump() const {
  std::string s = gotext::to_lower(value);
  if (!flags.empty()) {
    s += " [";
    for (std::size_t i = 0; i < flags.size(); ++i) {
      if (i) s.push_back(' ');
      s += gotext::quote(flags[i]);
    }
    s += "]";
  }
  if (trigger) s += " (" + trigger->dump() + ")";
  for (const std::string& a : args) s += " " + gotext::quote(a);
  return std::string(gotext::trim_space(s));
}

Ast parse(std::string_view content, const std::string& file_label, const ParseOptions& options) {
  if (options.require_text) require_text(content, file_label);
  try {
    return parse_impl(content);
  } catch (const ParseFailure& f) {
    throw input_error(f.message, file_label, f.line, f.hint);
  }
}

std::string dump_ast(const Ast& ast) {
  std::string out;
  for (const Node& n : ast.children) out += "(" + n.dump() + ")\n";
  std::string trimmed(gotext::trim_space(out));
  return trimmed + "\n";
}

std::string dump_ast(std::string_view content, const std::string& file_label) {
  return dump_ast(parse(content, file_label));
}

}  // namespace imgf::dockerfile
