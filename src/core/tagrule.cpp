// The tag rule shared by synth (what an image's Warehouse selects) and build (which tag it
// pushes). See include/imgfactory/tagrule.hpp.
#include "imgfactory/tagrule.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "imgfactory/error.hpp"
#include "imgfactory/reference.hpp"

namespace imgf::tagrule {
namespace {

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool to_number(const std::string& s, unsigned long long& out) {
  if (s.empty()) return true;  // absent part: 0
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Masterminds semver v3.4.0 (Kargo v1.11's go.mod) with its default CoerceNewVersion = true:
// NewVersion matches the loose pattern below (leading zeros in MAJOR.MINOR.PATCH are coerced,
// "01.2" is 1.2.0), then validates the prerelease (no empty identifier, no numeric identifier
// with a leading zero) and the metadata.
const RE2& loose_re() {
  static const RE2 re(R"(v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?)"
                      R"((?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?)"
                      R"((?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?)");
  return re;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Masterminds validatePrerelease: every identifier non-empty; a numeric one has no leading zero.
bool valid_prerelease(std::string_view p) {
  std::size_t i = 0;
  while (true) {
    const std::size_t e = std::min(p.find('.', i), p.size());
    const std::string_view id = p.substr(i, e - i);
    if (id.empty()) return false;
    if (all_digits(id) && id.size() > 1 && id.front() == '0') return false;
    if (e == p.size()) return true;
    i = e + 1;
  }
}

// Masterminds StrictNewVersion: exactly MAJOR.MINOR.PATCH (each digits only, no leading zero),
// then an optional -prerelease and +metadata taken from the third part.
bool strict_new_version(std::string_view v) {
  const std::size_t d1 = v.find('.');
  if (d1 == std::string_view::npos) return false;
  const std::size_t d2 = v.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  std::string_view parts[3] = {v.substr(0, d1), v.substr(d1 + 1, d2 - d1 - 1), v.substr(d2 + 1)};
  if (const auto plus = parts[2].find('+'); plus != std::string_view::npos) parts[2] = parts[2].substr(0, plus);
  if (const auto dash = parts[2].find('-'); dash != std::string_view::npos) parts[2] = parts[2].substr(0, dash);
  for (const auto& part : parts) {
    unsigned long long n = 0;
    if (!all_digits(part) || (part.size() > 1 && part.front() == '0')) return false;
    if (!to_number(std::string(part), n)) return false;
  }
  return true;
}

// Prerelease precedence (semver 2.0.0 section 11): identifiers compared one by one,
// numeric < alphanumeric, numbers numerically, others by ASCII; a shorter prefix is lower.
int compare_prerelease(std::string_view a, std::string_view b) {
  if (a == b) return 0;
  if (a.empty()) return 1;  // a release is higher than any prerelease
  if (b.empty()) return -1;
  std::size_t i = 0, j = 0;
  while (i <= a.size() && j <= b.size()) {
    std::size_t ea = a.find('.', i), eb = b.find('.', j);
    if (ea == std::string_view::npos) ea = a.size();
    if (eb == std::string_view::npos) eb = b.size();
    std::string_view x = a.substr(i, ea - i), y = b.substr(j, eb - j);
    const bool nx = all_digits(x), ny = all_digits(y);
    int c = 0;
    if (nx && ny) {
      c = x.size() != y.size() ? (x.size() < y.size() ? -1 : 1) : x.compare(y);
    } else if (nx != ny) {
      c = nx ? -1 : 1;
    } else {
      c = x.compare(y);
    }
    if (c != 0) return c < 0 ? -1 : 1;
    const bool enda = ea >= a.size(), endb = eb >= b.size();
    if (enda || endb) return enda == endb ? 0 : (enda ? -1 : 1);
    i = ea + 1;
    j = eb + 1;
  }
  return 0;
}

bool allowed(const Selection& s, std::string_view tag) {
  if (s.allow_tags_regexes.empty()) return true;
  for (const auto& re : s.allow_tags_regexes) {
    RE2 r(re, RE2::Quiet);
    if (r.ok() && RE2::PartialMatch(re2::StringPiece(tag.data(), tag.size()), r)) return true;
  }
  return false;
}

bool strict_of(const Selection& s) { return s.strict_semvers.value_or(true); }  // Kargo's default

}  // namespace

std::optional<Semver> parse_semver(std::string_view tag, bool strict) {
  std::string maj, min, pat, pre, meta;
  const re2::StringPiece in(tag.data(), tag.size());
  if (!RE2::FullMatch(in, loose_re(), &maj, &min, &pat, &pre, &meta)) return std::nullopt;
  Semver v;
  if (!to_number(maj, v.major) || !to_number(min, v.minor) || !to_number(pat, v.patch)) return std::nullopt;
  if (!pre.empty() && !valid_prerelease(pre)) return std::nullopt;
  v.prerelease = pre;
  v.metadata = meta;
  // Kargo's strict reading (pkg/controller/semver.Parse): NewVersion succeeds AND
  // StrictNewVersion succeeds on the tag without one leading 'v' ("v1.2.3" is strict).
  if (strict && !strict_new_version(tag.starts_with('v') ? tag.substr(1) : tag)) return std::nullopt;
  return v;
}

int compare(const Semver& a, const Semver& b) {
  auto cmp = [](unsigned long long x, unsigned long long y) { return x < y ? -1 : (x > y ? 1 : 0); };
  if (int c = cmp(a.major, b.major)) return c;
  if (int c = cmp(a.minor, b.minor)) return c;
  if (int c = cmp(a.patch, b.patch)) return c;
  return compare_prerelease(a.prerelease, b.prerelease);
}

Selection image_selection(const enrollment::Image& img, const std::string& images_file) {
  Selection s;
  s.strategy = img.image_selection_strategy.empty() ? "SemVer" : img.image_selection_strategy;
  if (s.strategy != "SemVer" && s.strategy != "Lexical" && s.strategy != "NewestBuild" && s.strategy != "Digest")
    throw input_error("imageSelectionStrategy must be one of SemVer, Lexical, NewestBuild, Digest, not '" +
                          s.strategy + "'",
                      images_file, img.line);
  if (s.strategy == "Digest") {
    s.constraint = "latest";  // every build pushes latest; Digest follows it
    return s;
  }
  if (s.strategy == "SemVer") s.strict_semvers = false;
  if (!img.allow_tags.empty()) s.allow_tags_regexes.push_back(img.allow_tags);
  else if (s.strategy == "SemVer") s.allow_tags_regexes.emplace_back(kVersionTags);
  else if (s.strategy == "Lexical") s.allow_tags_regexes.emplace_back("^latest$");
  return s;
}

bool discovers(const Selection& s, std::string_view tag) {
  if (s.strategy == "Digest") return tag == s.constraint;
  if (!allowed(s, tag)) return false;
  if (s.strategy == "SemVer") return parse_semver(tag, strict_of(s)).has_value();
  return true;
}

bool prefers(const Selection& s, std::string_view candidate, std::string_view current) {
  if (s.strategy == "SemVer") {
    auto a = parse_semver(candidate, strict_of(s)), b = parse_semver(current, strict_of(s));
    if (!a) return false;
    if (!b) return true;
    if (const int c = compare(*a, *b); c != 0) return c > 0;
    return candidate > current;  // equal versions ("1.2" and "1.2.0"): Kargo sorts by the tag text
  }
  if (s.strategy == "Lexical") return candidate > current;
  return true;  // NewestBuild and Digest: the newest push wins
}

Decision decide(const Inputs& in, const Selection& sel) {
  using builder::Increment;
  Decision d;
  const Increment inc = in.increment == Increment::none ? Increment::patch : in.increment;
  const std::string file_version = trim(in.version_file);
  if (!in.explicit_tag.empty()) {
    if (in.increment != Increment::none)
      throw input_error("--tag and --increment exclude each other", {}, 0,
                        "--increment says how to compute the next version; --tag names it");
    d.tag = in.explicit_tag;
    d.origin = "--tag";
  } else if (in.has_version_file) {
    if (file_version.empty())
      throw input_error("the version file is empty", {}, 0, "write a version such as 1.0.0 into it");
    d.tag = file_version;
    d.origin = "versionFile";
    // The version file names the next version. When the state already records it (or a
    // later one) as pushed — a migrated original state, a bump that did not land — pushing
    // it again would overwrite a released tag that the Warehouse already holds: take the
    // recorded version bumped instead, and move the file past it.
    const std::string current = trim(in.current_version);
    const auto fv = parse_semver(file_version, false), cv = parse_semver(current, false);
    if (fv && cv && compare(*fv, *cv) <= 0) {
      d.tag = builder::bump_version(current, inc);
      d.origin = "versionFile " + file_version + " already pushed (currentVersion " + current + "), bumped";
    }
    if (in.suffix.empty()) d.bumped_version = builder::bump_version(d.tag, inc);
  } else if (sel.strategy == "Digest" || (sel.strategy == "Lexical" && discovers(sel, "latest") &&
                                          !discovers(sel, "0.0.1"))) {
    d.tag = "latest";
    d.origin = sel.strategy + " Warehouse follows latest";
  } else {
    std::string current = trim(in.current_version);
    std::string base = "0.0.0";
    d.origin = "first version";
    if (!current.empty() && parse_semver(current, false)) {
      base = current;
      d.origin = "currentVersion " + current + " + " +
                 (inc == Increment::major ? "major" : inc == Increment::minor ? "minor" : "patch");
    }
    d.tag = builder::bump_version(base, inc);
  }
  if (!in.suffix.empty() && d.tag != "latest") d.tag += builder::version_suffix(in.suffix);
  if (!reference::is_valid_tag(d.tag))
    throw input_error("'" + d.tag + "' is not a valid image tag", {}, 0,
                      "a tag is 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'");
  d.selected = discovers(sel, d.tag);
  if (!d.selected && d.origin != "--tag") {
    std::string why;
    if (!allowed(sel, d.tag))
      why = "allowTagsRegexes '" + sel.allow_tags_regexes.front() + "' excludes it" +
            (sel.allow_tags_regexes.front() == kVersionTags ? " (the default for SemVer: MAJOR.MINOR at least)" : "");
    else
      why = "it is not a version Kargo's " + sel.strategy + " selection reads";
    throw input_error("tag '" + d.tag + "' (from " + d.origin + ") would not be selected by the image's Warehouse: " +
                          why,
                      {}, 0, "change allowTags/imageSelectionStrategy in images.yaml or the version, or pass --tag");
  }
  d.tags.push_back(d.tag);
  if (d.tag != "latest") d.tags.emplace_back("latest");
  return d;
}

}  // namespace imgf::tagrule
