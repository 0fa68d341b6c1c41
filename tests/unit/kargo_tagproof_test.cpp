// The proof that synth and build agree on tags, read from the YAML synth writes.
//
// For every image we build in every state we have (the original tool's state in ../shared,
// examples/state, tests/data/synth/state, and a state holding every kind the tag rule
// handles), the tag its build Job pushes — tagrule::decide on the image's state, no --tag,
// as the Job runs — is discovered by the image's Warehouse AS RENDERED (strategy,
// constraint, allowTagsRegexes, strictSemvers parsed back) and preferred over the version it
// replaces; and the build after it is again. For every base image, the Warehouse its rebuild
// Stage follows discovers the tag the Dockerfile names, also when the state says SemVer or
// Digest.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "synth_testutil.hpp"

using namespace imgf;
using namespace imgf::kargo;
using namespace imgf::test::synth;
namespace fs = std::filesystem;

namespace {

Options opts() {
  Options o;
  o.state_repo = "https://github.com/acme/image-factory-state.git";
  return o;
}

std::string describe(const tagrule::Selection& s) {
  std::string out = s.strategy;
  if (!s.constraint.empty()) out += " constraint=" + s.constraint;
  if (s.strict_semvers) out += *s.strict_semvers ? " strict" : " loose";
  for (const auto& a : s.allow_tags_regexes) out += " allow=" + a;
  return out;
}

struct Proof {
  int images = 0;      // managed images checked
  int preferred = 0;   // ... whose push was compared with the previous version
  std::set<std::string> refused;  // images whose Job refuses to push (decide throws)
};

// The tag-rule proof for every managed image of the state at `root`.
Proof prove_images(const fs::path& root) {
  Proof p;
  const Input in = load_state(root);
  const auto docs = documents(synthesize(in, opts()).yaml);
  for (const auto& img : in.enrollment.images) {
    if (!img.managed()) continue;
    SCOPED_TRACE(root.string() + ": " + img.name);
    ++p.images;
    const auto w = docs.at("Warehouse/" + kube_name(img.name));
    EXPECT_EQ(label(w, "imgfactory.io/role"), "image");
    const auto subs = w["spec"]["subscriptions"];
    EXPECT_EQ(subs.size(), 1u);
    const auto sub = subs[0]["image"];
    EXPECT_EQ(sub["repoURL"].as<std::string>(), img.repository_url());
    const tagrule::Selection rendered = selection_of(sub);
    // tagrule::discovers does not model SemVer constraints: synth writes none for our images
    if (rendered.strategy == "SemVer") {
      EXPECT_TRUE(rendered.constraint.empty()) << describe(rendered);
    }
    EXPECT_EQ(describe(rendered), describe(tagrule::image_selection(img))) << "the YAML is the tag rule";

    // the build Job: `imgfactory build IMAGE` (no --tag, --suffix, --increment)
    tagrule::Inputs job;
    job.has_version_file = img.local && !img.local->version_file.empty();
    if (job.has_version_file && fs::exists(root / img.local->version_path()))
      job.version_file = fsutil::read_file(root / img.local->version_path());
    job.current_version = in.images.at(img.name).current_version.value;
    tagrule::Decision d;
    try {
      d = tagrule::decide(job, rendered);
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      p.refused.insert(img.name);  // refuses rather than pushing a tag nobody selects
      continue;
    }
    EXPECT_TRUE(tagrule::discovers(rendered, d.tag)) << d.tag << " under " << describe(rendered);
    EXPECT_EQ(d.tags.back(), "latest");
    if (!job.current_version.empty() && tagrule::discovers(rendered, job.current_version)) {
      ++p.preferred;
      EXPECT_TRUE(tagrule::prefers(rendered, d.tag, job.current_version))
          << d.tag << " over " << job.current_version << " under " << describe(rendered);
    }
    // the next build: the state records the pushed version, the version file was bumped
    tagrule::Inputs next = job;
    next.current_version = d.tag;
    if (!d.bumped_version.empty()) next.version_file = d.bumped_version;
    const tagrule::Decision d2 = tagrule::decide(next, rendered);
    EXPECT_TRUE(tagrule::discovers(rendered, d2.tag)) << d2.tag;
    if (d2.tag == d.tag) {
      // the same tag again only where the Warehouse follows the digest of a moving tag
      EXPECT_TRUE(rendered.strategy == "Digest" || rendered.allow_tags_regexes == std::vector<std::string>{"^latest$"})
          << d.tag << " pushed twice under " << describe(rendered);
    } else {
      EXPECT_TRUE(tagrule::prefers(rendered, d2.tag, d.tag)) << d2.tag << " after " << d.tag;
    }
  }
  return p;
}

// For every (image, base) pair: the Warehouse its rebuild Stage follows discovers the base's
// tag. Returns how many pairs were checked; `undiscoverable` collects the tags that no
// selection of the state's strategy can ever discover (SemVer on "latest").
int prove_bases(const fs::path& root, std::set<std::string>* undiscoverable = nullptr) {
  const Input in = load_state(root);
  const auto docs = documents(synthesize(in, opts()).yaml);
  int pairs = 0;
  for (const auto& img : in.enrollment.images) {
    if (!img.managed()) continue;
    for (const auto& base : in.images.at(img.name).base_images) {
      const auto& st = in.bases.at(base.value);
      SCOPED_TRACE(root.string() + ": " + img.name + " FROM " + base.value + " (tag " + st.tag.value + ")");
      const auto stage = docs.at("Stage/" + kube_name("rebuild-trigger-" + img.name + "-from-" + base.value));
      const auto w = docs.at("Warehouse/" + stage["spec"]["requestedFreight"][0]["origin"]["name"].as<std::string>());
      if (label(w, "imgfactory.io/role") == "image") continue;  // a chain: B's own published versions
      ++pairs;
      const tagrule::Selection sel = selection_of(w["spec"]["subscriptions"][0]["image"]);
      if (sel.strategy == "SemVer" && !tagrule::parse_semver(st.tag.value, false)) {
        EXPECT_FALSE(tagrule::discovers(sel, st.tag.value));
        if (undiscoverable) undiscoverable->insert(st.tag.value);
        continue;
      }
      EXPECT_TRUE(tagrule::discovers(sel, st.tag.value)) << describe(sel);
    }
  }
  return pairs;
}

// A copy of the state at `from` whose base-image states say `strategy` (and, with
// drop_allow, carry no allowTags).
void copy_with_strategy(const fs::path& from, const fs::path& to, const std::string& strategy, bool drop_allow) {
  fs::copy(from, to, fs::copy_options::recursive);
  for (const auto& e : fs::recursive_directory_iterator(to)) {
    if (!e.is_regular_file() || e.path().parent_path().filename() != "base-images") continue;
    std::string text = fsutil::read_file(e.path());
    text = std::regex_replace(text, std::regex("imageSelectionStrategy: [A-Za-z]+"), "imageSelectionStrategy: " + strategy);
    if (text.find("imageSelectionStrategy:") == std::string::npos) text += "imageSelectionStrategy: " + strategy + "\n";
    if (drop_allow) text = std::regex_replace(text, std::regex("\nallowTags: [^\n]*"), "");
    std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << text;
  }
}

// A state repository with every kind of image the tag rule handles.
void write_every_kind(const imgf::test::TempDir& dir) {
  struct Kind {
    std::string name, yaml, current, version_file;
  };
  const std::string src = "  source:\n    repo: acme/src\n    dockerfile: NAME/Dockerfile\n";
  const std::vector<Kind> kinds = {
      {"src-semver", src, "0.6.5", ""},
      {"src-never-built", src, "", ""},
      {"src-latest", src, "latest", ""},
      {"src-v-prefix", src, "v1.9.9", ""},
      {"src-calver", src, "2024.01.15", ""},
      {"local-versionfile", "  local:\n    dir: local/NAME\n    versionFile: VERSION\n", "1.2.2", "1.2.3\n"},
      {"local-versionfile-short", "  local:\n    dir: local/NAME\n    versionFile: VERSION\n", "", "1.2\n"},
      {"local-versionfile-v", "  local:\n    dir: local/NAME\n    versionFile: VERSION\n", "v1.9.9",
       "v2.0.0\n"},
      {"local-no-versionfile", "  local:\n    dir: local/NAME\n    dockerfile: Containerfile\n", "3.0.0", ""},
      {"upstream", src + "  local:\n    dir: local/NAME\n    patchFiles:\n      - patches/NAME.patch\n"
                        "    versionFile: VERSION\n", "3.0.9", "3.1.0\n"},
      {"allowtags", "  allowTags: ^[0-9]+\\.[0-9]+\\.[0-9]+$\n" + src, "1.0.0", ""},
      {"allowtags-v", "  allowTags: ^v[0-9]\n" + src, "v0.1.0", ""},
      {"digest", "  imageSelectionStrategy: Digest\n" + src, "", ""},
      {"newestbuild", "  imageSelectionStrategy: NewestBuild\n" + src, "4.0.0", ""},
      {"lexical", "  imageSelectionStrategy: Lexical\n" + src, "", ""},
      {"semver-explicit", "  imageSelectionStrategy: SemVer\n" + src, "0.0.9", ""},
  };
  std::string images;
  for (const auto& k : kinds) {
    std::string y = k.yaml;
    for (std::size_t p; (p = y.find("NAME")) != std::string::npos;) y.replace(p, 4, k.name);
    images += "- name: " + k.name + "\n  registry: ghcr.io\n  repository: acme/" + k.name + "\n" + y;
    std::string state = "baseImages:\n  - alpine-3.20\n";
    if (!k.current.empty()) state += "currentVersion: '" + k.current + "'\n";
    dir.write("images/" + k.name + ".yaml", state);
    if (!k.version_file.empty()) dir.write("local/" + k.name + "/VERSION", k.version_file);
  }
  dir.write("images.yaml", images);
  dir.write("base-images/alpine-3.20.yaml", "repository: library/alpine\ntag: '3.20'\n");
}

}  // namespace

TEST(KargoTagProof, EveryKindTheTagRuleHandles) {
  imgf::test::TempDir dir;
  write_every_kind(dir);
  const Proof p = prove_images(dir.path());
  EXPECT_EQ(p.images, 16);
  EXPECT_TRUE(p.refused.empty()) << *p.refused.begin();
  EXPECT_EQ(p.preferred, 11) << "every kind with a previous version the Warehouse reads";
}

TEST(KargoTagProof, TestDataState) {
  const Proof p = prove_images(data_dir() / "state");
  EXPECT_EQ(p.images, 6);
  // worker is a NewestBuild image whose allowTags admits only nightly-YYYYMMDD tags: its Job
  // refuses to push a version nobody would select (and synth warns, naming images.yaml:line)
  EXPECT_EQ(p.refused, (std::set<std::string>{"worker"}));
  EXPECT_GE(prove_bases(data_dir() / "state"), 6);
}

TEST(KargoTagProof, BundledExample) {
  const fs::path root = imgf::test::source_dir() / "examples" / "state";
  if (!fs::exists(root / "images.yaml")) GTEST_SKIP() << "examples/state not present";
  const Proof p = prove_images(root);
  EXPECT_EQ(p.images, 2);
  EXPECT_TRUE(p.refused.empty());
}

TEST(KargoTagProof, OriginalStateRepository) {
  IMGF_REQUIRE_SHARED(shared);
  const fs::path root = shared / "fixtures" / "image-factory-state";
  const Proof p = prove_images(root);
  EXPECT_EQ(p.images, 5);
  EXPECT_TRUE(p.refused.empty());
  EXPECT_EQ(p.preferred, 3) << "backstage 0.6.5 -> 0.6.6, metrics-service 0.1.15 -> 0.1.16, uv 0.1.0 -> 0.1.1";
  EXPECT_EQ(prove_bases(root), 5);
}

// The original's base images as Lexical (as recorded), and as SemVer and Digest with and
// without allowTags: the tag each Dockerfile names is discovered. Kargo's strict default
// would miss 3.12-slim and 22-bookworm-slim; a SemVer selection can never discover `latest`.
TEST(KargoTagProof, FixtureBaseImagesUnderEveryStrategy) {
  IMGF_REQUIRE_SHARED(shared);
  const fs::path fixture = shared / "fixtures" / "image-factory-state";
  for (const std::string strategy : {"Lexical", "SemVer", "Digest", "NewestBuild"}) {
    for (const bool drop_allow : {false, true}) {
      SCOPED_TRACE(strategy + (drop_allow ? " without allowTags" : " with allowTags"));
      imgf::test::TempDir dir;
      const fs::path root = dir.path() / "state";
      copy_with_strategy(fixture, root, strategy, drop_allow);
      std::set<std::string> never;
      EXPECT_EQ(prove_bases(root, &never), 5);
      EXPECT_EQ(never, strategy == "SemVer" ? std::set<std::string>{"latest"} : std::set<std::string>{});
      if (strategy == "SemVer") {
        const auto docs = documents(synthesize(load_state(root), opts()).yaml);
        const auto sub = docs.at("Warehouse/python-3.12-slim")["spec"]["subscriptions"][0]["image"];
        EXPECT_FALSE(sub["strictSemvers"].as<bool>()) << "3.12-slim is not MAJOR.MINOR.PATCH";
        const auto pw = docs.at("Warehouse/mcr.microsoft.com-playwright-v1.40.0-focal")["spec"]["subscriptions"][0];
        EXPECT_FALSE(pw["image"]["strictSemvers"]) << "v1.40.0-focal is strict for Kargo: its default stays";
      }
    }
  }
}
