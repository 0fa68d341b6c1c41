// The tag rule shared by synth and build: Kargo's SemVer reading, the Warehouse selection of
// an image we build, and — for every kind of image — that the tag a build pushes is one its
// Warehouse discovers and prefers over the previous version.
#include <gtest/gtest.h>

#include "imgfactory/enrollment.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/tagrule.hpp"
#include "testutil.hpp"

using namespace imgf;
using namespace imgf::tagrule;
using builder::Increment;

namespace {

int exit_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.exit_code();
  }
  return 0;
}

std::string str(const std::optional<Semver>& v) {
  if (!v) return "none";
  std::string s = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  if (!v->prerelease.empty()) s += "-" + v->prerelease;
  if (!v->metadata.empty()) s += "+" + v->metadata;
  return s;
}

enrollment::Image parse_one(const std::string& yaml) {
  auto e = enrollment::parse(yaml, "images.yaml");
  return e.images.at(0);
}

}  // namespace

TEST(TagRuleSemver, LooseAsMastermindsNewVersion) {
  EXPECT_EQ(str(parse_semver("1.2.3", false)), "1.2.3");
  EXPECT_EQ(str(parse_semver("v1.2.3", false)), "1.2.3");
  EXPECT_EQ(str(parse_semver("1.2", false)), "1.2.0");
  EXPECT_EQ(str(parse_semver("v7", false)), "7.0.0");
  EXPECT_EQ(str(parse_semver("7.2-alpine", false)), "7.2.0-alpine");
  EXPECT_EQ(str(parse_semver("3.12-slim-bookworm", false)), "3.12.0-slim-bookworm");
  EXPECT_EQ(str(parse_semver("1.0.0-rc.1+build.5", false)), "1.0.0-rc.1+build.5");
  EXPECT_EQ(str(parse_semver("latest", false)), "none");
  // Masterminds v3.4.0 coerces leading zeros in MAJOR.MINOR.PATCH (CoerceNewVersion = true)
  EXPECT_EQ(str(parse_semver("01.2.3", false)), "1.2.3");
  EXPECT_EQ(str(parse_semver("2024.01.15", false)), "2024.1.15");
  EXPECT_EQ(str(parse_semver("1.2.3.4", false)), "none");
  EXPECT_EQ(str(parse_semver("", false)), "none");
  EXPECT_EQ(str(parse_semver("1.0.0-01", false)), "none");  // numeric prerelease id with a leading zero
  EXPECT_EQ(str(parse_semver("1.0.0-", false)), "none");
  EXPECT_EQ(str(parse_semver("1.0.0-a..b", false)), "none");
  EXPECT_EQ(str(parse_semver("V1.2.3", false)), "none");  // only a lower-case v
  EXPECT_EQ(str(parse_semver("1234567", false)), "1234567.0.0");  // why SemVer Warehouses need kVersionTags
}

TEST(TagRuleSemver, StrictAsStrictNewVersion) {
  EXPECT_EQ(str(parse_semver("1.2.3", true)), "1.2.3");
  EXPECT_EQ(str(parse_semver("1.2.3-beta.2", true)), "1.2.3-beta.2");
  // Kargo (pkg/controller/semver.Parse) strips one leading 'v' before StrictNewVersion
  EXPECT_EQ(str(parse_semver("v1.2.3", true)), "1.2.3");
  EXPECT_EQ(str(parse_semver("v1.2.3-rc.1+b.5", true)), "1.2.3-rc.1+b.5");
  EXPECT_EQ(str(parse_semver("1.2", true)), "none");
  EXPECT_EQ(str(parse_semver("7.2-alpine", true)), "none");
  EXPECT_EQ(str(parse_semver("01.2.3", true)), "none");  // StrictNewVersion refuses the leading zero
  EXPECT_EQ(str(parse_semver("1.2-rc.3", true)), "none");
  EXPECT_EQ(str(parse_semver("vv1.2.3", true)), "none");
}

TEST(TagRuleSemver, Precedence) {
  auto v = [](const char* s) { return *parse_semver(s, false); };
  EXPECT_LT(compare(v("1.0.0-alpha"), v("1.0.0-alpha.1")), 0);
  EXPECT_LT(compare(v("1.0.0-alpha.1"), v("1.0.0-alpha.beta")), 0);
  EXPECT_LT(compare(v("1.0.0-alpha.beta"), v("1.0.0-beta")), 0);
  EXPECT_LT(compare(v("1.0.0-beta.2"), v("1.0.0-beta.11")), 0);
  EXPECT_LT(compare(v("1.0.0-rc.1"), v("1.0.0")), 0);
  EXPECT_LT(compare(v("0.6.5"), v("0.6.10")), 0);
  EXPECT_LT(compare(v("1.9.0"), v("1.10.0")), 0);
  EXPECT_EQ(compare(v("1.2.3+a"), v("v1.2.3+b")), 0);
  EXPECT_GT(compare(v("2.0.0"), v("1.99.99")), 0);
}

TEST(TagRuleSelection, DefaultIsLooseSemVer) {
  auto img = parse_one("- name: app\n  registry: ghcr.io\n  repository: t/app\n  source:\n    repo: t/app\n");
  Selection s = image_selection(img);
  EXPECT_EQ(s.strategy, "SemVer");
  ASSERT_TRUE(s.strict_semvers.has_value());
  EXPECT_FALSE(*s.strict_semvers);
  EXPECT_EQ(s.allow_tags_regexes, (std::vector<std::string>{kVersionTags}));
  EXPECT_TRUE(discovers(s, "1.2"));
  EXPECT_TRUE(discovers(s, "v1.2.3"));
  EXPECT_TRUE(discovers(s, "0.0.1"));
  EXPECT_TRUE(discovers(s, "1.4.2-rc1"));
  EXPECT_FALSE(discovers(s, "latest"));
  // all-digit tags (short commit hashes, dates) would read as major versions and win forever
  EXPECT_FALSE(discovers(s, "1234567"));
  EXPECT_FALSE(discovers(s, "20240115"));
  EXPECT_FALSE(discovers(s, "v7"));
  EXPECT_TRUE(prefers(s, "0.6.10", "0.6.9"));
  EXPECT_FALSE(prefers(s, "0.6.9", "0.6.10"));
  // equal versions: Kargo orders them by their text, descending
  EXPECT_TRUE(prefers(s, "1.2.0", "1.2"));
  EXPECT_FALSE(prefers(s, "1.2", "1.2.0"));
}

TEST(TagRuleSelection, StrictDefaultOfKargoWhenUnset) {
  Selection s;
  s.strategy = "SemVer";  // strict_semvers unset: Kargo's default, true
  EXPECT_FALSE(discovers(s, "7.2-alpine"));
  EXPECT_TRUE(discovers(s, "7.2.0"));
}

TEST(TagRuleSelection, AllowTagsAreUnanchoredGoRegexps) {
  Selection s;
  s.strict_semvers = false;
  s.allow_tags_regexes = {"-alpine"};
  EXPECT_TRUE(discovers(s, "7.2-alpine"));
  EXPECT_FALSE(discovers(s, "7.2"));
}

TEST(TagRuleSelection, DigestFollowsLatest) {
  auto img = parse_one(
      "- name: app\n  registry: ghcr.io\n  repository: t/app\n  imageSelectionStrategy: Digest\n"
      "  source:\n    repo: t/app\n");
  Selection s = image_selection(img);
  EXPECT_EQ(s.strategy, "Digest");
  EXPECT_EQ(s.constraint, "latest");
  EXPECT_TRUE(discovers(s, "latest"));
  EXPECT_FALSE(discovers(s, "1.0.0"));
}

TEST(TagRuleDecide, ExplicitTagWins) {
  Selection s;
  s.strict_semvers = false;
  Inputs in;
  in.explicit_tag = "v2.0.0";
  in.has_version_file = true;
  in.version_file = "1.0.0";
  Decision d = decide(in, s);
  EXPECT_EQ(d.tag, "v2.0.0");
  EXPECT_EQ(d.tags, (std::vector<std::string>{"v2.0.0", "latest"}));
  EXPECT_TRUE(d.bumped_version.empty());
  EXPECT_TRUE(d.selected);
  in.explicit_tag = "feature-x";
  d = decide(in, s);
  EXPECT_FALSE(d.selected);  // allowed: the user named it; build warns
  in.increment = Increment::minor;
  EXPECT_EQ(exit_of([&] { decide(in, s); }), 2);
}

TEST(TagRuleDecide, VersionFileAsTheOriginal) {
  Selection s;
  s.strict_semvers = false;
  Inputs in;
  in.has_version_file = true;
  in.version_file = "1.4.2\n";
  Decision d = decide(in, s);
  EXPECT_EQ(d.tag, "1.4.2");
  EXPECT_EQ(d.bumped_version, "1.4.3");
  in.increment = Increment::minor;
  EXPECT_EQ(decide(in, s).bumped_version, "1.5.0");
  in.suffix = "RC1";
  d = decide(in, s);
  EXPECT_EQ(d.tag, "1.4.2-rc1");
  EXPECT_TRUE(d.bumped_version.empty());  // a suffix build does not bump
  in.version_file = " ";
  in.suffix.clear();
  EXPECT_EQ(exit_of([&] { decide(in, s); }), 2);
  in.version_file = "not-a-version";
  EXPECT_EQ(exit_of([&] { decide(in, s); }), 2);
}

// A version file that names a version the state already records as pushed (the original
// tool's state, or a bump that did not land) is not pushed again: that would overwrite a
// released tag instead of giving the Warehouse a newer one.
TEST(TagRuleDecide, VersionFileAlreadyPushedIsNotPushedAgain) {
  Selection s;
  s.strict_semvers = false;
  Inputs in;
  in.has_version_file = true;
  in.version_file = "0.3.0\n";
  in.current_version = "0.3.0";
  Decision d = decide(in, s);
  EXPECT_EQ(d.tag, "0.3.1");
  EXPECT_EQ(d.bumped_version, "0.3.2");
  EXPECT_TRUE(prefers(s, d.tag, in.current_version));
  in.current_version = "0.4.2";  // the file is behind the state
  EXPECT_EQ(decide(in, s).tag, "0.4.3");
  in.current_version = "0.2.9";  // the file is ahead: a person bumped it
  d = decide(in, s);
  EXPECT_EQ(d.tag, "0.3.0");
  EXPECT_EQ(d.bumped_version, "0.3.1");
  in.current_version = "latest";  // not a version: the file rules
  EXPECT_EQ(decide(in, s).tag, "0.3.0");
}

TEST(TagRuleDecide, WithoutVersionFileBumpsCurrentVersion) {
  Selection s;
  s.strict_semvers = false;
  Inputs in;
  in.current_version = "0.6.5";
  Decision d = decide(in, s);
  EXPECT_EQ(d.tag, "0.6.6");
  EXPECT_TRUE(d.bumped_version.empty());
  in.increment = Increment::major;
  EXPECT_EQ(decide(in, s).tag, "1.0.0");
  in.increment = Increment::none;
  in.current_version = "";
  EXPECT_EQ(decide(in, s).tag, "0.0.1");
  in.current_version = "latest";  // recorded by an older build: not a version
  EXPECT_EQ(decide(in, s).tag, "0.0.1");
}

TEST(TagRuleDecide, RefusesATagTheWarehouseWouldNotSee) {
  Selection s;
  s.strict_semvers = false;
  s.allow_tags_regexes = {"^v"};
  Inputs in;
  in.has_version_file = true;
  in.version_file = "1.0.0";
  EXPECT_EQ(exit_of([&] { decide(in, s); }), 2);
  in.version_file = "v1.0.0";
  EXPECT_EQ(decide(in, s).tag, "v1.0.0");
  // the default SemVer selection refuses a major-only version file, and says why
  auto img = parse_one("- name: app\n  registry: ghcr.io\n  repository: t/app\n  source:\n    repo: t/app\n");
  in.version_file = "7";
  try {
    decide(in, image_selection(img));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("MAJOR.MINOR at least"), std::string::npos) << e.message();
  }
}

// Every kind of image the fixtures and examples hold: the tag the build Job pushes (no --tag:
// the Job passes none) is discovered by the image's own Warehouse and preferred over the
// version it replaces — so Kargo's Warehouse sees every build.
TEST(TagRuleEveryKind, JobTagIsSelectedByTheWarehouse) {
  struct Case {
    const char* what;
    std::string yaml;
    std::string version_file;  // "" = none
    std::string current;
    std::string suffix;
  };
  const std::string head = "- name: app\n  registry: ghcr.io\n  repository: t/app\n";
  const std::string src = "  source:\n    provider: github\n    repo: t/app\n    branch: main\n";
  const std::string local = "  local:\n    dir: app\n    dockerfile: Dockerfile\n";
  const std::vector<Case> cases = {
      {"source, semver history (fixture backstage 0.6.5)", head + src, "", "0.6.5", ""},
      {"source, never built (fixture e2e-test-runner)", head + src, "", "", ""},
      {"source, currentVersion not a version", head + src, "", "latest", ""},
      {"local dockerfile, version file 1.2.3", head + local + "    versionFile: VERSION\n", "1.2.3", "1.2.2", ""},
      {"local dockerfile, version file 1.2 (not strict)", head + local + "    versionFile: VERSION\n", "1.2", "", ""},
      {"local dockerfile, version file v2.0.0", head + local + "    versionFile: VERSION\n", "v2.0.0", "v1.9.9", ""},
      {"upstream mode with a suffix", head + src + "  local:\n    dir: app\n    versionFile: VERSION\n", "3.1.0",
       "3.0.9", "rc1"},
      {"allowTags on a managed image", head + "  allowTags: ^[0-9]+\\.[0-9]+\\.[0-9]+$\n" + src, "", "1.0.0", ""},
      {"Digest strategy", head + "  imageSelectionStrategy: Digest\n" + src, "", "", ""},
      {"NewestBuild strategy", head + "  imageSelectionStrategy: NewestBuild\n" + src, "", "4.0.0", ""},
      {"Lexical strategy, no allowTags", head + "  imageSelectionStrategy: Lexical\n" + src, "", "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    enrollment::Image img = parse_one(c.yaml);
    Selection sel = image_selection(img);
    Inputs in;
    in.has_version_file = img.local && !img.local->version_file.empty();
    in.version_file = c.version_file;
    in.current_version = c.current;
    in.suffix = c.suffix;
    Decision d = decide(in, sel);
    EXPECT_TRUE(d.selected);
    EXPECT_TRUE(discovers(sel, d.tag)) << d.tag;
    if (!c.current.empty() && discovers(sel, c.current)) {
      EXPECT_TRUE(prefers(sel, d.tag, c.current)) << d.tag;
    }
    // the version the next build will use (bumped file, or the recorded currentVersion) is newer again
    Inputs next = in;
    next.suffix.clear();
    if (in.has_version_file) next.version_file = d.bumped_version.empty() ? c.version_file : d.bumped_version;
    next.current_version = d.tag;
    Decision d2 = decide(next, sel);
    EXPECT_TRUE(discovers(sel, d2.tag)) << d2.tag;
    if (d2.tag != d.tag) {
      EXPECT_TRUE(prefers(sel, d2.tag, d.tag)) << d2.tag << " after " << d.tag;
    }
  }
}
