// A small ordered YAML tree and a deterministic block-style emitter for the Kargo manifests.
//
// Why not yaml-cpp's Emitter: its quoting decisions depend on its own heuristics (for
// example it leaves "0.6.5" or "2024-01-01" plain, which YAML 1.1 readers such as PyYAML
// and kubectl's reader turn into a float-like string or a date) and its output style is
// not something we control line by line. Here every scalar is plain only when it provably
// reads back as the same string; everything else is single- or double-quoted, and the
// layout (two-space indent, indented sequences, as kubectl writes) is fixed.
#include <array>
#include <cctype>
#include <stdexcept>

#include "imgfactory/kargo.hpp"
#include "imgfactory/yamlquote.hpp"

namespace imgf::kargo::yaml {

Node Node::str(std::string value) {
  Node n(Kind::string);
  n.scalar_ = std::move(value);
  return n;
}

Node Node::integer(std::int64_t value) {
  Node n(Kind::literal);
  n.scalar_ = std::to_string(value);
  return n;
}

Node Node::boolean(bool value) {
  Node n(Kind::literal);
  n.scalar_ = value ? "true" : "false";
  return n;
}

Node& Node::set(std::string key, Node value) {
  if (kind_ != Kind::map) throw std::logic_error("yaml::Node::set on a non-map");
  for (const auto& e : entries_)
    if (e.first == key) throw std::logic_error("yaml::Node::set: duplicate key " + key);
  entries_.emplace_back(std::move(key), std::move(value));
  return entries_.back().second;
}

Node& Node::at(std::string_view key) {
  for (auto& e : entries_)
    if (e.first == key) return e.second;
  throw std::out_of_range("yaml::Node::at: no key " + std::string(key));
}

Node& Node::push(Node value) {
  if (kind_ != Kind::seq) throw std::logic_error("yaml::Node::push on a non-sequence");
  items_.push_back(std::move(value));
  return items_.back();
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Words that YAML 1.1 (PyYAML, the Kubernetes reader) or 1.2 resolve to non-strings.
bool reserved_word(std::string_view s) {
  static const std::array<std::string_view, 17> words = {
      "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n",
      ".inf", "-.inf", "+.inf", ".nan", "=", "<<", "none"};
  const std::string l = lower(s);
  for (auto w : words)
    if (l == w) return true;
  return false;
}

// Could a YAML 1.1/1.2 reader take it for a number, a timestamp or a sexagesimal value?
// Conservative: a leading digit, sign or dot followed only by characters that occur in such
// values (hex digits, x/o prefixes, '.', '_', ':', '+', '-', timestamp 't'/'z' and spaces).
bool number_like(std::string_view s) {
  const char c0 = s.front();
  if (!(std::isdigit(static_cast<unsigned char>(c0)) || c0 == '+' || c0 == '-' || c0 == '.')) return false;
  for (char c : s) {
    const bool ok = std::isxdigit(static_cast<unsigned char>(c)) || c == 'x' || c == 'X' || c == 'o' ||
                    c == 'O' || c == '.' || c == '_' || c == ':' || c == '+' || c == '-' || c == 't' ||
                    c == 'T' || c == 'z' || c == 'Z' || c == ' ';
    if (!ok) return false;
  }
  return true;
}

bool has_control_or_non_ascii(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) return true;
  }
  return false;
}

std::string scalar_text(const Node& n) {
  if (n.kind() == Node::Kind::literal) return n.scalar();
  const std::string& s = n.scalar();
  if (!needs_quotes(s)) return s;
  // Single quotes read best for text full of double quotes or backslashes (JSON bodies,
  // regexes); double quotes are the only way to write control or non-ASCII characters safely.
  if (!has_control_or_non_ascii(s) && (s.find('"') != std::string::npos || s.find('\\') != std::string::npos))
    return yamlquote::single_quoted(s);
  return yamlquote::double_quoted(s);
}

std::string key_text(const std::string& key) { return needs_quotes(key) ? yamlquote::double_quoted(key) : key; }

void emit_map(const Node& n, int indent, bool first_inline, std::string& out);
void emit_seq(const Node& n, int indent, std::string& out);

// Writes " value\n" or a nested block after "key:" / "-".
void emit_value(const Node& v, int indent, std::string& out) {
  switch (v.kind()) {
    case Node::Kind::string:
    case Node::Kind::literal:
      out += ' ';
      out += scalar_text(v);
      out += '\n';
      return;
    case Node::Kind::map:
      if (v.empty()) {
        out += " {}\n";
        return;
      }
      out += '\n';
      emit_map(v, indent + 2, false, out);
      return;
    case Node::Kind::seq:
      if (v.empty()) {
        out += " []\n";
        return;
      }
      out += '\n';
      emit_seq(v, indent + 2, out);
      return;
  }
}

void emit_map(const Node& n, int indent, bool first_inline, std::string& out) {
  bool first = true;
  for (const auto& [key, value] : n.entries()) {
    if (!(first && first_inline)) out.append(static_cast<std::size_t>(indent), ' ');
    first = false;
    out += key_text(key);
    out += ':';
    emit_value(value, indent, out);
  }
}

void emit_seq(const Node& n, int indent, std::string& out) {
  for (const Node& item : n.items()) {
    out.append(static_cast<std::size_t>(indent), ' ');
    out += '-';
    if (item.kind() == Node::Kind::map && !item.empty()) {
      out += ' ';
      emit_map(item, indent + 2, true, out);
    } else {
      emit_value(item, indent, out);
    }
  }
}

}  // namespace

bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  if (s.front() == ' ' || s.back() == ' ') return true;
  if (has_control_or_non_ascii(s)) return true;
  static constexpr std::string_view indicators = "?:,[]{}#&*!|>'\"%@`";
  if (indicators.find(s.front()) != std::string_view::npos) return true;
  // "-" begins a plain scalar only when followed by a non-space ("--depth" is fine, "- x" is not).
  if (s.front() == '-' && (s.size() == 1 || s[1] == ' ')) return true;
  if (s.starts_with("---") || s.starts_with("...")) return true;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) return true;
  if (s.back() == ':') return true;
  if (reserved_word(s)) return true;
  if (number_like(s)) return true;
  return false;
}

void emit(const Node& node, std::string& out) {
  switch (node.kind()) {
    case Node::Kind::map:
      if (node.empty()) out += "{}\n";
      else emit_map(node, 0, false, out);
      return;
    case Node::Kind::seq:
      if (node.empty()) out += "[]\n";
      else emit_seq(node, 0, out);
      return;
    case Node::Kind::string:
    case Node::Kind::literal:
      out += scalar_text(node);
      out += '\n';
      return;
  }
}

std::string emit(const Node& node) {
  std::string out;
  emit(node, out);
  return out;
}

}  // namespace imgf::kargo::yaml
