// Build inputs (issue 12), the pure half: which external images a Dockerfile uses, its
// rewriting to exact digests, and the `buildInputs:` record of images/<name>.yaml with its
// comparison. No registry, file system, environment or clock here.
#include "imgfactory/build_inputs.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/state.hpp"

namespace imgf::inputs {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The value of --NAME=VALUE among an instruction's flags (the last one), or nullopt.
std::optional<std::string> flag_value(const std::vector<std::string>& flags, std::string_view name) {
  std::optional<std::string> out;
  std::string prefix = "--" + std::string(name) + "=";
  for (const auto& f : flags)
    if (f.rfind(prefix, 0) == 0) out = f.substr(prefix.size());
  return out;
}

// RUN --mount=…: the from= and type= fields (already validated by the analysis).
struct MountFrom {
  std::string from;
  std::string type = "bind";
};
MountFrom mount_fields(const std::string& value) {
  MountFrom m;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t comma = value.find(',', start);
    std::string field = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::size_t eq = field.find('=');
    if (eq != std::string::npos) {
      std::string key = lower(field.substr(0, eq));
      std::string v = field.substr(eq + 1);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      if (key == "from") m.from = v;
      else if (key == "type") m.type = lower(v);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return m;
}

// The physical lines of a file, each with its line ending.
std::vector<std::string> physical_lines(std::string_view content) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < content.size()) {
    std::size_t nl = content.find('\n', start);
    std::size_t end = nl == std::string_view::npos ? content.size() : nl + 1;
    lines.emplace_back(content.substr(start, end - start));
    start = end;
  }
  return lines;
}

bool is_ref_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/' || c == ':' ||
         c == '@' || c == '[' || c == ']';
}

// Replaces the first `key=VALUE` in lines [first, last] (0-based) whose VALUE (optionally in
// double or single quotes) is exactly `value`, with `key=replacement`. `preceded` lists the
// characters allowed right before `key` (e.g. "-" for --from=, ",=" for a mount field).
bool replace_field(std::vector<std::string>& lines, std::size_t first, std::size_t last, std::string_view key,
                   std::string_view preceded, const std::string& value, const std::string& replacement) {
  std::string needle = std::string(key) + "=";
  for (std::size_t i = first; i <= last && i < lines.size(); ++i) {
    std::string& l = lines[i];
    std::size_t at = 0;
    while ((at = l.find(needle, at)) != std::string::npos) {
      std::size_t v = at + needle.size();
      bool ok_before = at > 0 && preceded.find(l[at - 1]) != std::string_view::npos;
      char quote = v < l.size() && (l[v] == '"' || l[v] == '\'') ? l[v] : '\0';
      std::size_t vs = quote ? v + 1 : v;
      bool match = ok_before && l.compare(vs, value.size(), value) == 0;
      std::size_t after = vs + value.size();
      if (match) {
        if (quote) match = after < l.size() && l[after] == quote;
        else match = after >= l.size() || !is_ref_char(l[after]);
      }
      if (match) {
        l.replace(vs, value.size(), replacement);
        return true;
      }
      at = v;
    }
  }
  return false;
}

std::string line_ending(const std::string& line) {
  if (line.size() >= 2 && line.compare(line.size() - 2, 2, "\r\n") == 0) return "\r\n";
  if (!line.empty() && line.back() == '\n') return "\n";
  return {};
}

using OJ = nlohmann::ordered_json;

OJ to_json(const BuildInputs& in) {
  OJ bases = OJ::array();
  for (const auto& b : in.base_images) {
    OJ platforms = OJ::object();
    for (const auto& [p, d] : b.platforms) platforms[p] = d;
    bases.push_back(OJ{{"reference", b.reference}, {"digest", b.digest}, {"platforms", platforms}});
  }
  OJ args = OJ::object();
  for (const auto& [k, v] : in.build_args) args[k] = v;
  return OJ{{"baseImages", bases},
            {"sourceRevision", in.source_revision},
            {"sourceDateEpoch", in.source_date_epoch},
            {"localContentSha256", in.local_content_sha256},
            {"dockerfile", in.dockerfile},
            {"context", in.context},
            {"buildArgs", args},
            {"platforms", in.platforms},
            {"target", in.target}};
}

std::string scalar_or_null(const std::string& v) { return v.empty() ? "null" : state::scalar_text(v); }

std::string short_digest(const std::string& d) {
  if (d.empty()) return "(unknown)";
  auto colon = d.find(':');
  return colon == std::string::npos ? d.substr(0, 12) : d.substr(0, colon + 1 + 12);
}

std::string scalar_of(const YAML::Node& n) {
  if (!n || n.IsNull() || !n.IsScalar()) return {};
  std::string v = n.Scalar();
  return v == "~" ? std::string() : v;
}

}  // namespace

// --- --base ---------------------------------------------------------------------------------------

std::optional<reference::Reference> parse_base_option(std::string_view text) {
  std::string t(text);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  std::size_t b = 0;
  while (b < t.size() && std::isspace(static_cast<unsigned char>(t[b]))) ++b;
  t = t.substr(b);
  if (t.empty()) return std::nullopt;
  std::string why;
  auto r = reference::try_parse(t, &why);
  if (!r) throw input_error("--base '" + t + "' is not an image reference: " + why, {}, 0, "give repo[:tag]@sha256:<digest>");
  if (r->digest.empty())
    throw input_error("--base '" + t + "' has no digest", {}, 0,
                      "--base pins the build to an exact image: give repo[:tag]@sha256:<digest> (Kargo's imageFrom(...).Digest)");
  return r;
}

// --- uses -------------------------------------------------------------------------------------------

const char* use_kind_name(UseKind kind) {
  switch (kind) {
    case UseKind::from: return "FROM";
    case UseKind::copy_from: return "COPY --from";
    case UseKind::mount_from: return "RUN --mount=from";
  }
  return "FROM";
}

std::vector<ImageUse> image_uses(std::string_view content, const std::string& label,
                                 const dockerfile::Options& options) {
  dockerfile::Analysis analysis = dockerfile::analyze(content, label, options);
  dockerfile::Ast ast = dockerfile::parse(content, label);
  std::set<std::string> stage_names;
  for (const auto& s : analysis.stages)
    if (!s.name.empty()) stage_names.insert(s.name);
  const int last_stage = static_cast<int>(analysis.stages.size()) - 1;

  std::vector<ImageUse> uses;
  int stage = -1;
  auto external = [&](UseKind kind, int line, const std::string& value, bool allow_index) {
    if (value.empty() || value == "scratch" || stage_names.contains(lower(value))) return;
    if (allow_index && all_digits(value)) return;
    auto ref = reference::try_parse(value);
    if (!ref) return;  // the analysis accepted the file: not an image reference after all
    uses.push_back(ImageUse{kind, line, value, value, *ref,
                            analysis.stages[static_cast<std::size_t>(stage)].resolved_platform});
  };
  for (const auto& n : ast.children) {
    std::string cmd = lower(n.value);
    if (cmd == "from") {
      ++stage;
      if (stage > last_stage) break;
      const auto& s = analysis.stages[static_cast<std::size_t>(stage)];
      if (s.kind != dockerfile::StageKind::image) continue;
      auto ref = reference::try_parse(s.resolved);
      if (!ref) continue;
      uses.push_back(ImageUse{UseKind::from, n.start_line, s.from, s.resolved, *ref, s.resolved_platform});
      continue;
    }
    if (stage < 0) continue;
    if (cmd == "copy") {
      if (auto from = flag_value(n.flags, "from")) external(UseKind::copy_from, n.start_line, *from, true);
    } else if (cmd == "run") {
      for (const auto& f : n.flags) {
        if (f.rfind("--mount=", 0) != 0) continue;
        MountFrom m = mount_fields(f.substr(8));
        if (m.type == "tmpfs" || m.type == "secret" || m.type == "ssh") continue;
        external(UseKind::mount_from, n.start_line, m.from, false);
      }
    }
  }
  return uses;
}

std::string pinned_reference(const reference::Reference& ref, std::string_view digest) {
  return ref.repository_url() + "@" + std::string(digest);
}

PinResult pin(std::string_view content, const std::string& label, const dockerfile::Options& options,
              const std::function<std::optional<std::string>(const ImageUse&)>& digest_for) {
  PinResult out;
  std::vector<ImageUse> uses = image_uses(content, label, options);
  dockerfile::Ast ast = dockerfile::parse(content, label);
  std::vector<std::string> lines = physical_lines(content);
  auto node_at = [&](int line) -> const dockerfile::Node* {
    for (const auto& n : ast.children)
      if (n.start_line == line) return &n;
    return nullptr;
  };
  for (const auto& use : uses) {
    std::optional<std::string> digest = digest_for(use);
    const dockerfile::Node* node = node_at(use.line);
    if (!digest || digest->empty() || node == nullptr || use.line < 1 ||
        static_cast<std::size_t>(use.line) > lines.size()) {
      out.unpinned.push_back(use);
      continue;
    }
    std::string to = pinned_reference(use.ref, *digest);
    std::size_t first = static_cast<std::size_t>(use.line - 1);
    std::size_t last = std::min(lines.size(), static_cast<std::size_t>(std::max(node->end_line, use.line))) - 1;
    bool done = false;
    if (use.kind == UseKind::from) {
      std::string text = node->value;
      for (const auto& f : node->flags) text += " " + f;
      text += " " + to;
      for (std::size_t i = 1; i < node->args.size(); ++i) text += " " + node->args[i];
      lines[first] = text + line_ending(lines[first]);
      for (std::size_t i = first + 1; i <= last; ++i) lines[i] = line_ending(lines[i]);  // line numbers stay
      done = true;
    } else if (use.kind == UseKind::copy_from) {
      done = replace_field(lines, first, last, "from", "-", use.written, to);
    } else {
      done = replace_field(lines, first, last, "from", ",=", use.written, to);
    }
    if (done) out.pinned.push_back(Pinned{use, to});
    else out.unpinned.push_back(use);
  }
  for (const auto& l : lines) out.content += l;
  return out;
}

std::optional<std::string> with_labels(std::string_view content, const std::string& label,
                                       const dockerfile::Options& options,
                                       const std::vector<std::pair<std::string, std::string>>& labels) {
  if (labels.empty()) return std::string(content);
  dockerfile::Ast ast = dockerfile::parse(content, label);
  const char esc = ast.escape_token;
  dockerfile::shell::Options shell_opt;
  shell_opt.escape_token = static_cast<unsigned char>(esc);
  std::string line = "LABEL";
  for (const auto& [k, v] : labels) {
    bool key_ok = !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '/';
    });
    if (!key_ok || v.find_first_of("\r\n") != std::string::npos) return std::nullopt;
    std::string quoted = "\"";
    for (char c : v) {
      if (c == '"' || c == '$' || c == esc) quoted += esc;
      quoted += c;
    }
    quoted += "\"";
    if (dockerfile::shell::process(quoted, {}, shell_opt).result != v) return std::nullopt;
    line += " " + k + "=" + quoted;
  }
  line += "\n";
  // After the target stage: at the end, or before the FROM of the stage that follows it.
  dockerfile::Analysis analysis = dockerfile::analyze(content, label, options);
  const std::size_t target = analysis.stages.size();  // FROM number (1-based) of the target stage
  std::size_t froms = 0;
  int next_from_line = 0;
  for (const auto& n : ast.children)
    if (lower(n.value) == "from" && ++froms == target + 1) {
      next_from_line = n.start_line;
      break;
    }
  std::vector<std::string> lines = physical_lines(content);
  if (next_from_line == 0) {
    std::string out(content);
    if (!out.empty() && out.back() != '\n') out += "\n";
    return out + line;
  }
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (static_cast<int>(i) + 1 == next_from_line) out += line;
    out += lines[i];
  }
  return out;
}

// --- inputs ---------------------------------------------------------------------------------------

void normalise(BuildInputs& in) {
  std::stable_sort(in.base_images.begin(), in.base_images.end(),
                   [](const BaseInput& a, const BaseInput& b) { return a.reference < b.reference; });
  in.base_images.erase(std::unique(in.base_images.begin(), in.base_images.end(),
                                   [](const BaseInput& a, const BaseInput& b) { return a.reference == b.reference; }),
                       in.base_images.end());
  for (auto& b : in.base_images) std::sort(b.platforms.begin(), b.platforms.end());
  std::map<std::string, std::string> args;
  for (const auto& [k, v] : in.build_args) args[k] = v;
  in.build_args.assign(args.begin(), args.end());
}

std::string fingerprint(const BuildInputs& inputs) {
  BuildInputs n = inputs;
  normalise(n);
  return "sha256:" + fsutil::sha256_hex(to_json(n).dump());
}

std::string render_block(const BuildInputs& inputs) {
  BuildInputs in = inputs;
  normalise(in);
  std::string out;
  auto line = [&](const std::string& l) { out += l + "\n"; };
  line("  fingerprint: " + state::scalar_text(fingerprint(in)));
  if (in.base_images.empty()) {
    line("  baseImages: []");
  } else {
    line("  baseImages:");
    for (const auto& b : in.base_images) {
      line("    - name: " + scalar_or_null(b.name));
      line("      reference: " + state::scalar_text(b.reference));
      line("      digest: " + scalar_or_null(b.digest));
      if (b.platforms.empty()) {
        line("      platforms: {}");
      } else {
        line("      platforms:");
        for (const auto& [p, d] : b.platforms) line("        " + state::scalar_text(p) + ": " + state::scalar_text(d));
      }
    }
  }
  line("  sourceRevision: " + scalar_or_null(in.source_revision));
  line("  sourceDateEpoch: " + (in.source_date_epoch < 0 ? std::string("null") : std::to_string(in.source_date_epoch)));
  line("  localContentSha256: " + scalar_or_null(in.local_content_sha256));
  line("  dockerfile: " + scalar_or_null(in.dockerfile));
  line("  context: " + scalar_or_null(in.context));
  if (in.build_args.empty()) {
    line("  buildArgs: {}");
  } else {
    line("  buildArgs:");
    for (const auto& [k, v] : in.build_args) line("    " + state::scalar_text(k) + ": " + state::scalar_text(v));
  }
  if (in.platforms.empty()) {
    line("  platforms: []");
  } else {
    line("  platforms:");
    for (const auto& p : in.platforms) line("    - " + state::scalar_text(p));
  }
  line("  target: " + scalar_or_null(in.target));
  return out;
}

std::optional<BuildInputs> parse_recorded(std::string_view state_text, std::string* why) {
  auto no = [&](const std::string& reason) -> std::optional<BuildInputs> {
    if (why) *why = reason;
    return std::nullopt;
  };
  YAML::Node root;
  try {
    root = YAML::Load(std::string(state_text));
  } catch (const YAML::Exception& e) {
    return no("the state file is not valid YAML: " + e.msg);
  }
  if (!root || root.IsNull()) return no("no buildInputs recorded (no state file yet: the first build)");
  if (!root.IsMap()) return no("the state file is not a YAML mapping");
  YAML::Node n = root["buildInputs"];
  if (!n || n.IsNull()) return no("no buildInputs recorded (first build with --if-changed, or built by an older imgfactory)");
  if (!n.IsMap()) return no("buildInputs is not a mapping");
  try {
    BuildInputs in;
    if (YAML::Node bases = n["baseImages"]; bases && !bases.IsNull()) {
      if (!bases.IsSequence()) return no("buildInputs.baseImages is not a list");
      for (const auto& b : bases) {
        if (!b.IsMap()) return no("an entry of buildInputs.baseImages is not a mapping");
        BaseInput bi;
        bi.name = scalar_of(b["name"]);
        bi.reference = scalar_of(b["reference"]);
        bi.digest = scalar_of(b["digest"]);
        if (bi.reference.empty()) return no("an entry of buildInputs.baseImages has no reference");
        if (YAML::Node p = b["platforms"]; p && p.IsMap())
          for (const auto& kv : p) bi.platforms.emplace_back(kv.first.Scalar(), scalar_of(kv.second));
        in.base_images.push_back(std::move(bi));
      }
    }
    in.source_revision = scalar_of(n["sourceRevision"]);
    if (YAML::Node e = n["sourceDateEpoch"]; e && e.IsScalar() && e.Scalar() != "null" && e.Scalar() != "~") {
      auto v = parse_epoch(e.Scalar());
      if (!v) return no("buildInputs.sourceDateEpoch is not a number of seconds");
      in.source_date_epoch = *v;
    }
    in.local_content_sha256 = scalar_of(n["localContentSha256"]);
    in.dockerfile = scalar_of(n["dockerfile"]);
    in.context = scalar_of(n["context"]);
    if (YAML::Node a = n["buildArgs"]; a && a.IsMap())
      for (const auto& kv : a) in.build_args.emplace_back(kv.first.Scalar(), scalar_of(kv.second));
    if (YAML::Node p = n["platforms"]; p && p.IsSequence())
      for (const auto& item : p) in.platforms.push_back(scalar_of(item));
    in.target = scalar_of(n["target"]);
    normalise(in);
    return in;
  } catch (const YAML::Exception& e) {
    return no("buildInputs is malformed: " + e.msg);
  }
}

std::vector<std::string> differences(const BuildInputs& recorded_in, const BuildInputs& now_in) {
  BuildInputs recorded = recorded_in;
  BuildInputs now = now_in;
  normalise(recorded);
  normalise(now);
  std::vector<std::string> out;
  std::map<std::string, const BaseInput*> before;
  for (const auto& b : recorded.base_images) before[b.reference] = &b;
  for (const auto& b : now.base_images) {
    auto it = before.find(b.reference);
    if (it == before.end()) {
      out.push_back("base image " + b.reference + " is new");
      continue;
    }
    const BaseInput& r = *it->second;
    if (b.digest.empty())
      out.push_back("base image " + b.reference + ": its digest could not be learned now");
    else if (r.digest.empty())
      out.push_back("base image " + b.reference + ": no digest was recorded");
    else if (b.digest != r.digest)
      out.push_back("base image " + b.reference + ": " + short_digest(r.digest) + " -> " + short_digest(b.digest));
    before.erase(it);
  }
  for (const auto& [ref, b] : before) out.push_back("base image " + ref + " is no longer used");
  auto cmp = [&](const char* what, const std::string& a, const std::string& b) {
    if (a != b) out.push_back(std::string(what) + ": " + (a.empty() ? "(none)" : a) + " -> " + (b.empty() ? "(none)" : b));
  };
  cmp("source revision", recorded.source_revision, now.source_revision);
  if (recorded.source_date_epoch != now.source_date_epoch || now.source_date_epoch < 0)
    out.push_back("source date epoch: " + std::to_string(recorded.source_date_epoch) + " -> " +
                  std::to_string(now.source_date_epoch));
  cmp("local content sha256", recorded.local_content_sha256, now.local_content_sha256);
  cmp("dockerfile", recorded.dockerfile, now.dockerfile);
  cmp("context", recorded.context, now.context);
  if (recorded.build_args != now.build_args) {
    std::set<std::string> keys;
    std::map<std::string, std::string> a(recorded.build_args.begin(), recorded.build_args.end());
    std::map<std::string, std::string> b(now.build_args.begin(), now.build_args.end());
    for (const auto& [k, v] : a)
      if (!b.contains(k) || b[k] != v) keys.insert(k);
    for (const auto& [k, v] : b)
      if (!a.contains(k)) keys.insert(k);
    std::string list;
    for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
    out.push_back("build args changed: " + list);
  }
  if (recorded.platforms != now.platforms) {
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
      return s;
    };
    out.push_back("platforms: " + join(recorded.platforms) + " -> " + join(now.platforms));
  }
  cmp("target", recorded.target, now.target);
  return out;
}

// --- time ---------------------------------------------------------------------------------------------

std::optional<long long> parse_epoch(std::string_view text) {
  if (!all_digits(text) || text.size() > 15) return std::nullopt;
  return std::stoll(std::string(text));
}

std::string iso8601_utc(long long epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<long long> parse_iso8601_utc(std::string_view text) {
  std::string t(text);
  if (t.size() >= 2 && (t.front() == '\'' || t.front() == '"') && t.back() == t.front()) t = t.substr(1, t.size() - 2);
  if (t.size() < 19) return std::nullopt;
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char sep = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d", &y, &mo, &d, &sep, &h, &mi, &s) != 7) return std::nullopt;
  if ((sep != 'T' && sep != 't' && sep != ' ') || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    return std::nullopt;
  std::string rest = t.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    std::size_t i = 1;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    rest = rest.substr(i);
  }
  if (!(rest.empty() || rest == "Z" || rest == "z" || rest == "+00:00" || rest == "+0000")) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<long long>(timegm(&tm));
}

}  // namespace imgf::inputs
