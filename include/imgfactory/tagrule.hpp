#pragma once
// The one tag rule shared by `synth` and `build`: which tags the Kargo Warehouse of an image
// we build selects, and which tag the build pushes so that the Warehouse selects it.
//
//   Warehouse (synth)      published repository, imageSelectionStrategy from images.yaml,
//                          default SemVer with strictSemvers: false (a version file may say
//                          "1.2", which Kargo's strict default would never see; "v1.2.3" is
//                          strict for Kargo, which drops one leading 'v' before the strict
//                          check) and, unless images.yaml gives allowTags, allowTagsRegexes
//                          [kVersionTags]: a loose SemVer reading alone takes an all-digit tag
//                          (a short commit hash "1234567", a date "20240115") for a major
//                          version and would pin the Warehouse to it forever, which Kargo's
//                          documentation warns about; requiring MAJOR.MINOR keeps them out.
//                          allowTags from images.yaml as allowTagsRegexes; Digest follows
//                          `latest`; Lexical without allowTags watches ^latest$.
//   Tag (build)            --tag, else the version file's version (+ "-suffix"; when the
//                          state's currentVersion is already that version or later, that
//                          currentVersion bumped: a released tag is never pushed again), else the
//                          state's currentVersion bumped (--increment, default patch; 0.0.0
//                          when there is none), else `latest` for Digest/Lexical-on-latest.
//                          Every push also pushes `latest`. After a push without --suffix
//                          the version file is bumped (--increment, default patch).
//
// Kargo's own semantics are followed where it matters: SemVer parsing as Masterminds
// semver v3.4.0 (Kargo v1.11's): NewVersion with CoerceNewVersion (leading zeros allowed in
// MAJOR.MINOR.PATCH), and with strictSemvers also StrictNewVersion of the tag without its
// leading 'v'; equal versions are ordered by their text; allowTagsRegexes as Go's
// regexp.MatchString (unanchored); Digest follows the tag named by constraint.
// Pure: no files, processes or clock.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imgfactory/builder.hpp"
#include "imgfactory/enrollment.hpp"

namespace imgf::tagrule {

// The allowTagsRegexes of a SemVer Warehouse without allowTags in images.yaml: tags that
// begin with MAJOR.MINOR (optionally 'v'); the SemVer reading checks the rest.
inline constexpr const char* kVersionTags = "^v?[0-9]+\\.[0-9]+";

struct Semver {
  unsigned long long major = 0, minor = 0, patch = 0;
  std::string prerelease;  // without the '-'
  std::string metadata;    // without the '+'
};
// A tag as Kargo reads it: NewVersion ("v1", "1.2", "01.2", "v1.2.3-rc.1+b5" all parse), and
// with strict also StrictNewVersion without the leading 'v' (MAJOR.MINOR.PATCH: "1.2.3",
// "v1.2.3", not "1.2" or "01.2.3"). nullopt when it is no version.
std::optional<Semver> parse_semver(std::string_view tag, bool strict);
// Semantic-version precedence (metadata ignored): <0, 0, >0.
int compare(const Semver& a, const Semver& b);

// What a Warehouse image subscription selects.
struct Selection {
  std::string strategy = "SemVer";  // SemVer | Lexical | NewestBuild | Digest
  std::string constraint;           // Digest: the tag followed; SemVer: empty (none)
  std::optional<bool> strict_semvers;  // written when set (SemVer only)
  std::vector<std::string> allow_tags_regexes;
};

// The subscription to the published repository of an image we build (img.managed()).
// Throws imgf::Error (exit 2, images_file:line) for an unknown imageSelectionStrategy.
Selection image_selection(const enrollment::Image& img, const std::string& images_file = {});

// Whether the Warehouse discovers `tag` at all (allowTagsRegexes, SemVer parse and
// constraint, Digest's tag).
bool discovers(const Selection& s, std::string_view tag);
// Of two discovered tags, whether the Warehouse prefers `candidate` over `current`: SemVer
// precedence, lexical order, and for NewestBuild/Digest the later push (always true).
bool prefers(const Selection& s, std::string_view candidate, std::string_view current);

struct Inputs {
  std::string explicit_tag;          // --tag
  bool has_version_file = false;     // local.versionFile is set
  std::string version_file;          // its content (trimmed)
  std::string current_version;       // images/<name>.yaml currentVersion ("" when null/absent)
  std::string suffix;                // --suffix
  builder::Increment increment = builder::Increment::none;  // none: patch
};

struct Decision {
  std::string tag;                // the version tag this build is
  std::vector<std::string> tags;  // every tag pushed: `tag`, then `latest` (once)
  // New content of the version file after a successful push (without --suffix); empty when
  // there is no version file or nothing is bumped.
  std::string bumped_version;
  std::string origin;     // where the tag came from, for logs: "--tag", "versionFile", ...
  bool selected = true;   // the image's Warehouse discovers `tag` (false only with --tag)
};

// Throws imgf::Error (exit 2): an invalid tag, --tag with --increment on an image without a
// version file, a version file that is no version, or a computed tag the Warehouse would not
// discover (allowTags that exclude it: the message says which regex).
Decision decide(const Inputs& in, const Selection& selection);

}  // namespace imgf::tagrule
