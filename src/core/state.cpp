#include "imgfactory/state.hpp"

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "imgfactory/error.hpp"
#include "imgfactory/yamlquote.hpp"

namespace imgf::state {
namespace {

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    std::string_view l = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    lines.emplace_back(l);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return lines;
}

bool blank(std::string_view l) { return l.find_first_not_of(" \t") == std::string_view::npos; }

std::string_view rtrim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits the text after "key:" into the value and a trailing comment.
void split_value(std::string_view rest, std::string& value, std::string& comment) {
  std::size_t i = rest.find_first_not_of(" \t");
  if (i == std::string_view::npos) return;
  rest = rest.substr(i);
  std::size_t end = std::string_view::npos;  // one past the value
  if (rest.front() == '\'') {
    for (std::size_t k = 1; k < rest.size(); ++k) {
      if (rest[k] != '\'') continue;
      if (k + 1 < rest.size() && rest[k + 1] == '\'') {
        ++k;
        continue;
      }
      end = k + 1;
      break;
    }
  } else if (rest.front() == '"') {
    for (std::size_t k = 1; k < rest.size(); ++k) {
      if (rest[k] == '\\') {
        ++k;
        continue;
      }
      if (rest[k] == '"') {
        end = k + 1;
        break;
      }
    }
  }
  std::size_t hash = std::string_view::npos;
  std::size_t from = end == std::string_view::npos ? 0 : end;
  if (from < rest.size() && rest[from] == '#' && from > 0) hash = from;
  for (std::size_t k = std::max<std::size_t>(from, 1); hash == std::string_view::npos && k < rest.size(); ++k)
    if (rest[k] == '#' && (rest[k - 1] == ' ' || rest[k - 1] == '\t')) hash = k;
  if (rest.front() == '#') hash = 0;
  if (hash == std::string_view::npos) {
    value = std::string(rtrim(rest));
  } else {
    value = std::string(rtrim(rest.substr(0, hash)));
    comment = std::string(rest.substr(hash));
  }
}

// The key of a top-level "key: value" line and the position of its colon, or nullopt for
// any other line.
std::optional<std::pair<std::string, std::size_t>> top_level_key(std::string_view l) {
  if (l.empty() || l[0] == ' ' || l[0] == '\t' || l[0] == '#' || l[0] == '-') return std::nullopt;
  if (l == "---" || l == "...") return std::nullopt;
  std::size_t colon = std::string_view::npos;
  std::string key;
  if (l[0] == '"' || l[0] == '\'') {
    std::size_t close = l.find(l[0], 1);
    if (close == std::string_view::npos) return std::nullopt;
    if (close + 1 < l.size() && l[close + 1] == ':') colon = close + 1;
    key = std::string(l.substr(1, close - 1));
  } else {
    for (std::size_t k = 0; k < l.size(); ++k)
      if (l[k] == ':' && (k + 1 == l.size() || l[k + 1] == ' ' || l[k + 1] == '\t')) {
        colon = k;
        break;
      }
    if (colon != std::string_view::npos) key = std::string(rtrim(l.substr(0, colon)));
  }
  if (colon == std::string_view::npos) return std::nullopt;
  return std::make_pair(key, colon);
}

// Regular expressions of YAML 1.1 implicit types (what PyYAML resolves), plus YAML 1.2's
// 0o octal: a plain scalar matching one of them would not read back as a string.
bool resolves_to_non_string(std::string_view v) {
  static const RE2 re(
      "(?:"
      "yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|y|Y|n|N"
      "|~|null|Null|NULL|None"
      "|[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|0o[0-7]+"
      "|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"
      "|[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
      "|[-+]?\\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*"
      "|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)"
      "|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:(?:[Tt]|[ \\t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9]"
      "(?:\\.[0-9]*)?(?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)?"
      "|<<|="
      ")");
  return RE2::FullMatch(re2::StringPiece(v.data(), v.size()), re);
}

bool plain_ok(std::string_view v) {
  if (v.empty() || v.front() == ' ' || v.back() == ' ') return false;
  static constexpr std::string_view indicators = "?:,[]{}#&*!|>'\"%@`";
  if (indicators.find(v.front()) != std::string_view::npos) return false;
  if (v.front() == '-' && (v.size() == 1 || v[1] == ' ')) return false;
  if (v.back() == ':') return false;
  if (yamlquote::needs_escapes(v)) return false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c == ':' && i + 1 < v.size() && v[i + 1] == ' ') return false;
    if (c == '#' && i > 0 && v[i - 1] == ' ') return false;
  }
  return !resolves_to_non_string(v);
}

class Out {
 public:
  void line(std::string_view l = {}) {
    text_ += l;
    text_ += '\n';
  }
  void kv(std::string_view key, std::string_view value, std::string_view comment = {}) {
    text_ += key;
    text_ += ':';
    if (!value.empty()) {
      text_ += ' ';
      text_ += value;
    }
    if (!comment.empty()) {
      text_ += "  ";
      text_ += comment;
    }
    text_ += '\n';
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

bool is_null_text(std::string_view v) { return v.empty() || v == "null" || v == "~" || v == "None" || v == "Null" || v == "NULL"; }

// A runtime field: the existing entry verbatim (a Python "None" that leaked into an old file
// becomes null), else the default. `canonical_comment` is the original's comment on that line.
void runtime(Out& out, const Document* existing, std::string_view key, std::string_view fallback,
             std::string_view canonical_comment = {}, const std::vector<std::string>& fallback_block = {}) {
  const Entry* e = existing ? existing->find(key) : nullptr;
  if (e == nullptr) {
    out.kv(key, fallback, canonical_comment);
    for (const auto& l : fallback_block) out.line(l);
    return;
  }
  std::string_view comment = !canonical_comment.empty() ? canonical_comment : std::string_view(e->comment);
  if (!e->block.empty()) {
    out.kv(key, e->value, comment);
    for (const auto& l : e->block) out.line(l);
    return;
  }
  out.kv(key, (e->value.empty() || e->value == "None") ? std::string_view("null") : std::string_view(e->value),
         comment);
}

// A timestamp kept from the existing file when it holds one, else `now`.
std::string kept_time(const Document* existing, std::string_view key, std::string_view now) {
  const Entry* e = existing ? existing->find(key) : nullptr;
  if (e && e->block.empty() && !is_null_text(e->value)) return e->value;
  return timestamp_text(now);
}

void extras(Out& out, const Document* existing, const std::set<std::string_view>& owned) {
  if (!existing) return;
  for (const auto& e : existing->entries()) {
    if (owned.contains(e.key)) continue;
    if (e.blank_before) out.line();
    for (const auto& c : e.comments) out.line(c);
    out.line(e.text);
    for (const auto& l : e.block) out.line(l);
  }
}

std::string bool_text(bool b) { return b ? "true" : "false"; }

void enrollment_block(Out& out, const enrollment::Image& image) {
  out.line("# Enrollment configuration (copied from images.yaml for reference)");
  out.line("enrollment:");
  out.line("  registry: " + scalar_text(image.registry.empty() ? "docker.io" : image.registry));
  out.line("  repository: " + scalar_text(image.repository));
  if (image.source) {
    out.line("  source:");
    for (const auto& [k, v] : image.source->fields) out.line("    " + k + ": " + scalar_text(v));
  }
  if (image.local) {
    const auto& l = *image.local;
    out.line("  local:");
    out.line("    dir: " + scalar_text(l.dir));
    out.line("    dockerfile: " + scalar_text(l.dockerfile));
    if (!l.patch_files.empty()) {
      out.line("    patchFiles:");
      for (const auto& p : l.patch_files) out.line("      - " + scalar_text(p));
    }
    if (!l.version_file.empty()) out.line("    versionFile: " + scalar_text(l.version_file));
  }
  out.line("  rebuildDelay: " + scalar_text(image.rebuild_delay));
  out.line("  autoRebuild: " + bool_text(image.auto_rebuild));
  if (!image.updates.empty()) {
    out.line("  updates:");
    for (const auto& u : image.updates) {
      bool first = true;
      for (const auto& [k, v] : u.fields) {
        out.line(std::string(first ? "    - " : "      ") + k + ": " + scalar_text(v));
        first = false;
      }
      if (first) out.line("    - {}");
    }
  }
}

}  // namespace

// --- Document ------------------------------------------------------------------------------

void Document::load() const {
  if (loaded_) return;
  YAML::Node root;
  try {
    root = YAML::Load(text_);
  } catch (const YAML::Exception& ex) {
    throw input_error("invalid YAML in state file: " + ex.msg, label_, ex.mark.line >= 0 ? ex.mark.line + 1 : 0,
                      "fix or remove the file; analyze writes it anew");
  }
  if (root && !root.IsNull() && !root.IsMap())
    throw input_error("a state file must be a YAML mapping", label_, 1, "fix or remove the file; analyze writes it anew");
  if (root.IsMap()) {
    for (const auto& kv : root) {
      if (!kv.first.IsScalar()) continue;
      const std::string key = kv.first.Scalar();
      if (kv.second.IsScalar()) {
        scalars_.emplace_back(key, kv.second.Scalar());
      } else if (kv.second.IsNull()) {
        scalars_.emplace_back(key, std::nullopt);
      } else if (kv.second.IsSequence()) {
        std::vector<std::string> items;
        for (const auto& item : kv.second)
          if (item.IsScalar()) items.push_back(item.Scalar());
        sequences_.emplace_back(key, std::move(items));
      }
    }
  }
  loaded_ = true;
}

void Document::validate() const { load(); }

Document Document::parse(std::string_view text, const std::string& file_label, bool validate) {
  Document d;
  d.text_ = std::string(text);
  d.label_ = file_label;
  if (validate) d.load();

  std::vector<std::string> lines = split_lines(text);
  std::vector<std::string> pending_comments;
  int pending_blanks = 0;     // blank lines since the last key, value or comment line
  bool blank_seen = false;    // a blank line since the last key or value line
  bool seen_content = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (blank(l)) {
      ++pending_blanks;
      blank_seen = true;
      continue;
    }
    if (auto key = top_level_key(l)) {
      Entry e;
      e.key = key->first;
      e.text = l;
      e.line = static_cast<int>(i) + 1;
      e.blank_before = seen_content && blank_seen;
      e.comments = std::move(pending_comments);
      pending_comments.clear();
      split_value(std::string_view(l).substr(key->second + 1), e.value, e.comment);
      d.entries_.push_back(std::move(e));
      pending_blanks = 0;
      blank_seen = false;
      seen_content = true;
      continue;
    }
    if (l[0] == '#') {
      // A comment at column 0 belongs to the next key.
      pending_comments.push_back(l);
      pending_blanks = 0;
      continue;
    }
    if (l == "---" || l == "...") continue;
    // An indented line (or an indentless "- item"): part of the current entry's value.
    if (d.entries_.empty()) continue;
    Entry& cur = d.entries_.back();
    for (int b = 0; b < pending_blanks; ++b) cur.block.emplace_back();
    for (auto& c : pending_comments) cur.block.push_back(std::move(c));
    pending_comments.clear();
    pending_blanks = 0;
    blank_seen = false;
    cur.block.push_back(l);
  }
  return d;
}

const Entry* Document::find(std::string_view key) const {
  for (const auto& e : entries_)
    if (e.key == key) return &e;
  return nullptr;
}

namespace {

// The value of a one-line scalar when it can be read without a YAML parser: plain text, or
// single-quoted text. nullopt: ask the parser.
std::optional<std::string> simple_scalar(std::string_view v) {
  if (v.empty()) return std::nullopt;
  if (v.front() == '\'') {
    if (v.size() < 2 || v.back() != '\'') return std::nullopt;
    std::string out;
    for (std::size_t i = 1; i + 1 < v.size(); ++i) {
      if (v[i] == '\'') {
        if (i + 2 < v.size() && v[i + 1] == '\'') {
          out += '\'';
          ++i;
          continue;
        }
        return std::nullopt;
      }
      out += v[i];
    }
    return out;
  }
  static constexpr std::string_view indicators = "\"[]{}&*!|>%@`,?:#-";
  if (indicators.find(v.front()) != std::string_view::npos) return std::nullopt;
  return std::string(v);
}

}  // namespace

std::optional<std::string> Document::scalar(std::string_view key) const {
  if (!loaded_) {
    const Entry* e = find(key);
    if (e == nullptr) return std::nullopt;
    if (e->block.empty()) {
      if (is_null_text(e->value)) return std::nullopt;
      if (auto v = simple_scalar(e->value)) return v;
    }
    load();
  }
  for (const auto& [k, v] : scalars_)
    if (k == key) return v;
  return std::nullopt;
}

std::vector<std::string> Document::sequence(std::string_view key) const {
  if (!loaded_) {
    const Entry* e = find(key);
    if (e == nullptr) return {};
    if (e->value == "[]" && e->block.empty()) return {};
    if (e->value.empty() && !e->block.empty()) {
      std::vector<std::string> items;
      bool simple = true;
      for (const auto& l : e->block) {
        std::string_view t = l;
        t.remove_prefix(std::min(t.find_first_not_of(' '), t.size()));
        if (t.empty()) continue;
        std::optional<std::string> item;
        if (t.starts_with("- ")) {
          t.remove_prefix(2);
          std::string value, comment;
          split_value(t, value, comment);
          item = simple_scalar(value);
        }
        if (!item) {
          simple = false;
          break;
        }
        items.push_back(std::move(*item));
      }
      if (simple) return items;
    }
    load();
  }
  for (const auto& [k, v] : sequences_)
    if (k == key) return v;
  return {};
}

// --- rendering -----------------------------------------------------------------------------

std::string_view to_string(Discovery d) {
  switch (d) {
    case Discovery::success: return "success";
    case Discovery::failed: return "failed";
    case Discovery::external: return "external";
  }
  return "failed";
}

std::string scalar_text(std::string_view value) {
  if (plain_ok(value)) return std::string(value);
  // Single quotes as the original wrote them; double quotes (escapes) only where needed.
  return yamlquote::needs_escapes(value) ? yamlquote::double_quoted(value) : yamlquote::single_quoted(value);
}

std::string timestamp_text(std::string_view iso8601) { return "'" + std::string(iso8601) + "'"; }

std::string allow_tags_for(std::string_view tag) {
  static constexpr std::string_view meta = "\\.+*?()|[]{}^$";
  std::string out = "^";
  for (char c : tag) {
    if (meta.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out + "$";
}

std::string repo_url_for(const enrollment::Image& image) {
  std::string registry = image.registry.empty() ? "docker.io" : image.registry;
  std::string repository = image.repository;
  if ((registry == "docker.io" || registry == "index.docker.io" || registry == "registry-1.docker.io") &&
      repository.find('/') == std::string::npos)
    repository = "library/" + repository;
  return registry + "/" + repository;
}

std::string render_image(const enrollment::Image& image, Discovery status, std::vector<std::string> base_images,
                         const Document* existing, std::string_view now) {
  std::sort(base_images.begin(), base_images.end());
  base_images.erase(std::unique(base_images.begin(), base_images.end()), base_images.end());
  const bool external = status == Discovery::external;
  const std::string enrolled_at = kept_time(existing, "enrolledAt", now);

  auto build = [&](std::string_view last_discovery) {
    Out out;
    out.line("# Auto-generated by Image Factory");
    out.line("# This file tracks the state of the " + image.name + " image");
    out.kv("name", scalar_text(image.name));
    out.kv("enrolledAt", enrolled_at);
    out.kv("lastDiscovery", last_discovery);
    out.kv("discoveryStatus", to_string(status));
    out.line();
    enrollment_block(out, image);
    out.line();
    if (external) {
      out.line("# Warehouse configuration (for CDK8s)");
      out.kv("allowTags", scalar_text(image.allow_tags.empty() ? "^.*$" : image.allow_tags));
      out.kv("imageSelectionStrategy",
             scalar_text(image.image_selection_strategy.empty() ? "Lexical" : image.image_selection_strategy));
      out.kv("repoURL", scalar_text(repo_url_for(image)));
      out.line();
    }
    out.line("# Discovered from Dockerfile parsing");
    if (!external) out.line("# References to base image state files (not inline data)");
    if (base_images.empty()) {
      out.kv("baseImages", "[]");
    } else {
      out.line("baseImages:");
      for (const auto& b : base_images) out.line("  - " + scalar_text(b));
    }
    out.line();
    out.line("# Current published state (from registry/Kargo)");
    runtime(out, existing, "currentVersion", "null");
    runtime(out, existing, "currentDigest", "null");
    runtime(out, existing, "lastBuilt", "null");
    extras(out, existing,
           {"name", "enrolledAt", "lastDiscovery", "discoveryStatus", "enrollment", "allowTags",
            "imageSelectionStrategy", "repoURL", "baseImages", "currentVersion", "currentDigest", "lastBuilt"});
    return out.take();
  };

  const Entry* ld = existing ? existing->find("lastDiscovery") : nullptr;
  std::string previous = (ld && ld->block.empty() && !is_null_text(ld->value)) ? ld->value : "null";
  std::string text = build(previous);
  if (existing == nullptr || text != existing->text()) text = build(timestamp_text(now));
  return text;
}

std::string render_base_image(std::string_view name, const BaseRef& ref, std::string_view full_image,
                              const Document* existing, std::string_view now) {
  const std::string first = kept_time(existing, "firstDiscovered", now);
  auto build = [&](std::string_view last_checked) {
    Out out;
    out.line("# Auto-generated by Image Factory");
    out.line("# This file tracks the upstream " + std::string(full_image) + " base image");
    out.line();
    out.line("# Normalized identifier (used as filename and reference)");
    out.kv("name", scalar_text(name));
    out.line();
    out.line("# Original image reference");
    out.kv("fullImage", scalar_text(full_image));
    out.kv("registry", scalar_text(ref.registry));
    out.kv("repository", scalar_text(ref.repository));
    out.kv("tag", ref.tag.empty() ? "null" : scalar_text(ref.tag));
    if (!ref.digest.empty()) out.kv("digest", scalar_text(ref.digest));
    out.line();
    out.line("# Warehouse configuration (for CDK8s)");
    out.kv("allowTags", ref.tag.empty() ? "null" : scalar_text(allow_tags_for(ref.tag)));
    out.kv("imageSelectionStrategy", "Lexical");
    out.kv("repoURL", scalar_text(ref.registry + "/" + ref.repository));
    out.line();
    out.line("# Discovery");
    out.kv("firstDiscovered", first);
    out.kv("lastChecked", last_checked);
    out.line();
    out.line("# Current state");
    runtime(out, existing, "currentDigest", "null");
    runtime(out, existing, "lastUpdated", "null", "# Will be set when digest first changes");
    runtime(out, existing, "previousDigest", "null");
    out.line();
    out.line("# Rebuild eligibility");
    runtime(out, existing, "rebuildEligibleAt", "", "",
            {"  default: null  # Will be calculated as lastUpdated + rebuildDelay"});
    out.line();
    out.line("# Metadata from registry");
    runtime(out, existing, "metadata", "{}");
    out.line();
    out.line("# Update history (last 10 digest changes)");
    runtime(out, existing, "updateHistory", "[]");
    extras(out, existing,
           {"name", "fullImage", "registry", "repository", "tag", "digest", "allowTags", "imageSelectionStrategy",
            "repoURL", "firstDiscovered", "lastChecked", "currentDigest", "lastUpdated", "previousDigest",
            "rebuildEligibleAt", "metadata", "updateHistory"});
    return out.take();
  };
  const Entry* lc = existing ? existing->find("lastChecked") : nullptr;
  std::string previous = (lc && lc->block.empty() && !is_null_text(lc->value)) ? lc->value : "null";
  std::string text = build(previous);
  if (existing == nullptr || text != existing->text()) text = build(timestamp_text(now));
  return text;
}

}  // namespace imgf::state
