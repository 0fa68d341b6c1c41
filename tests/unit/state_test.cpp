// The canonical state files: byte-level conformance with the original's fixtures, merge of
// runtime fields, idempotence.
#include "imgfactory/state.hpp"

#include <gtest/gtest.h>

#include <regex>

#include "imgfactory/error.hpp"
#include "imgfactory/state_fields.hpp"
#include "testutil.hpp"

using namespace imgf::state;
namespace fs = std::filesystem;

namespace {

const char* kNow = "2026-02-01T10:00:00Z";

std::string replace_line(std::string text, const std::string& key, const std::string& line) {
  std::regex re("(^|\n)" + key + ":[^\n]*");
  return std::regex_replace(text, re, "$1" + line, std::regex_constants::format_first_only);
}

// Top-level keys and column-0 comment lines, in order: the shape of a state file.
std::vector<std::string> shape(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l.empty() || l[0] == ' ' || l[0] == '-') continue;
    if (l[0] == '#') out.push_back(l);
    else out.push_back(l.substr(0, l.find(':')));
  }
  return out;
}

imgf::enrollment::Image fixture_image(const fs::path& shared, const std::string& name) {
  auto e = imgf::enrollment::load(shared / "fixtures/image-factory-state/images.yaml");
  return e.get(name);
}

BaseRef ref(std::string text, std::string name, std::string registry, std::string repository, std::string tag,
            std::string digest = {}) {
  BaseRef r;
  r.ref = std::move(text);
  r.name = std::move(name);
  r.registry = std::move(registry);
  r.repository = std::move(repository);
  r.tag = std::move(tag);
  r.digest = std::move(digest);
  r.canonical = r.registry + "/" + r.repository + (r.tag.empty() ? "" : ":" + r.tag) +
                (r.digest.empty() ? "" : "@" + r.digest);
  return r;
}

}  // namespace

// --- images/<name>.yaml against the fixtures ------------------------------------------------

TEST(StateImage, FixtureFilesRoundTripExceptWhatDiscoveryChanges) {
  IMGF_REQUIRE_SHARED(shared);
  const fs::path dir = shared / "fixtures/image-factory-state/state/images";
  struct Case {
    const char* name;
    std::vector<std::string> bases;
  };
  for (const Case& c : {Case{"backstage", {"node-22-bookworm-slim"}},
                        Case{"uv", {"python-3.12-slim", "distroless-python3-debian12-latest"}},
                        Case{"e2e-test-runner", {"mcr.microsoft.com-playwright-v1.40.0-focal"}},
                        Case{"metrics-service", {"python-3.12-slim"}}}) {
    SCOPED_TRACE(c.name);
    const std::string original = imgf::test::read_file(dir / (std::string(c.name) + ".yaml"));
    auto doc = Document::parse(original, c.name);
    const std::string out = render_image(fixture_image(shared, c.name), Discovery::success, c.bases, &doc, kNow);
    // Exactly the fixture, but for the discovery status (the original only ever wrote
    // "pending"), lastDiscovery (this run changed the file) and the original's stray blank
    // line after lastBuilt.
    std::string expected = replace_line(original, "discoveryStatus", "discoveryStatus: success");
    expected = replace_line(expected, "lastDiscovery", "lastDiscovery: '2026-02-01T10:00:00Z'");
    while (expected.size() > 1 && expected.ends_with("\n\n")) expected.pop_back();
    EXPECT_EQ(out, expected);
    EXPECT_EQ(shape(out), shape(original));
  }
}

TEST(StateImage, SecondRenderIsAFixedPoint) {
  IMGF_REQUIRE_SHARED(shared);
  const fs::path dir = shared / "fixtures/image-factory-state/state/images";
  auto image = fixture_image(shared, "uv");
  auto doc = Document::parse(imgf::test::read_file(dir / "uv.yaml"), "uv.yaml");
  std::string first = render_image(image, Discovery::success, {"python-3.12-slim", "distroless-python3-debian12-latest"},
                                   &doc, kNow);
  auto doc2 = Document::parse(first, "uv.yaml");
  std::string second = render_image(image, Discovery::success,
                                    {"python-3.12-slim", "distroless-python3-debian12-latest"}, &doc2,
                                    "2030-01-01T00:00:00Z");
  EXPECT_EQ(second, first);  // nothing changed: lastDiscovery is not bumped
}

TEST(StateImage, RuntimeFieldsSurviveVerbatim) {
  IMGF_REQUIRE_SHARED(shared);
  const fs::path dir = shared / "fixtures/image-factory-state/state/images";
  auto image = fixture_image(shared, "backstage");
  // The example file: double-quoted timestamps and version.
  auto doc = Document::parse(imgf::test::read_file(dir / "backstage.example.yaml"), "backstage.example.yaml");
  std::string out = render_image(image, Discovery::success, {"node-22-bookworm-slim"}, &doc, kNow);
  EXPECT_NE(out.find("\nenrolledAt: \"2024-12-04T10:00:00Z\"\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\ncurrentVersion: \"0.6.5\"\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\ncurrentDigest: sha256:placeholder-will-be-updated-by-workflow\n"), std::string::npos);
  EXPECT_NE(out.find("\nlastBuilt: \"2024-12-03T12:00:00Z\"\n"), std::string::npos);
  EXPECT_NE(out.find("\nlastDiscovery: '2026-02-01T10:00:00Z'\n"), std::string::npos);
  EXPECT_NE(out.find("baseImages:\n  - node-22-bookworm-slim\n"), std::string::npos);
}

TEST(StateImage, NewFileHasTheCanonicalShape) {
  auto e = imgf::enrollment::parse(R"(- name: app
  registry: 127.0.0.1:5000
  repository: imgfactory-demo/app
  local:
    dir: app
    dockerfile: Dockerfile
  rebuildDelay: 12h
)",
                                   "images.yaml");
  std::string out = render_image(e.images[0], Discovery::success, {"golang-1.22", "busybox-1.35"}, nullptr, kNow);
  EXPECT_EQ(out, R"(# Auto-generated by Image Factory
# This file tracks the state of the app image
name: app
enrolledAt: '2026-02-01T10:00:00Z'
lastDiscovery: '2026-02-01T10:00:00Z'
discoveryStatus: success

# Enrollment configuration (copied from images.yaml for reference)
enrollment:
  registry: 127.0.0.1:5000
  repository: imgfactory-demo/app
  local:
    dir: app
    dockerfile: Dockerfile
  rebuildDelay: 12h
  autoRebuild: true

# Discovered from Dockerfile parsing
# References to base image state files (not inline data)
baseImages:
  - busybox-1.35
  - golang-1.22

# Current published state (from registry/Kargo)
currentVersion: null
currentDigest: null
lastBuilt: null
)");
}

TEST(StateImage, ExternalImageCarriesWarehouseFields) {
  auto e = imgf::enrollment::parse(R"(- name: node
  repository: node
  allowTags: ^22-bookworm-slim$
- name: tools
  registry: ghcr.io
  repository: team/tools
  imageSelectionStrategy: SemVer
)",
                                   "images.yaml");
  std::string node = render_image(e.images[0], Discovery::external, {}, nullptr, kNow);
  EXPECT_NE(node.find("discoveryStatus: external\n"), std::string::npos);
  EXPECT_NE(node.find("  autoRebuild: true\n\n# Warehouse configuration (for CDK8s)\nallowTags: ^22-bookworm-slim$\n"
                      "imageSelectionStrategy: Lexical\nrepoURL: docker.io/library/node\n\n"
                      "# Discovered from Dockerfile parsing\nbaseImages: []\n"),
            std::string::npos)
      << node;
  std::string tools = render_image(e.images[1], Discovery::external, {}, nullptr, kNow);
  EXPECT_NE(tools.find("allowTags: ^.*$\nimageSelectionStrategy: SemVer\nrepoURL: ghcr.io/team/tools\n"),
            std::string::npos)
      << tools;
}

TEST(StateImage, UnknownKeysAndFieldsWrittenByBuildAndScanArePreserved) {
  auto e = imgf::enrollment::parse("- name: app\n  repository: team/app\n  local:\n    dir: app\n", "images.yaml");
  const auto& image = e.images[0];
  std::string first = render_image(image, Discovery::success, {"alpine-3.19"}, nullptr, kNow);
  // build and scan edit single fields of the file (state_fields), then analyze runs again.
  std::string edited = set_top_level_fields(
      first, {{"currentVersion", {"1.2.3", false}},
              {"lastBuilt", {yaml_timestamp("2026-02-01T11:00:00Z"), false}},
              {"lastScan", {"  time: '2026-02-01T12:00:00Z'\n  counts: {CRITICAL: 0, HIGH: 2}", true}}});
  edited += "\n# kept by hand\nteam: platform  # owner\n";
  auto doc = Document::parse(edited, "app.yaml");
  std::string again = render_image(image, Discovery::success, {"alpine-3.19"}, &doc, "2030-01-01T00:00:00Z");
  EXPECT_EQ(again, edited);  // nothing of ours changed: byte-identical, not even lastDiscovery
  // A new base image changes the file; every runtime and unknown field survives.
  std::string changed = render_image(image, Discovery::success, {"alpine-3.20"}, &doc, "2030-01-01T00:00:00Z");
  EXPECT_NE(changed.find("currentVersion: 1.2.3\n"), std::string::npos);
  EXPECT_NE(changed.find("lastBuilt: '2026-02-01T11:00:00Z'\n"), std::string::npos);
  EXPECT_NE(changed.find("lastScan:\n  time: '2026-02-01T12:00:00Z'\n  counts: {CRITICAL: 0, HIGH: 2}\n"),
            std::string::npos);
  EXPECT_NE(changed.find("\n\n# kept by hand\nteam: platform  # owner\n"), std::string::npos) << changed;
  EXPECT_NE(changed.find("lastDiscovery: '2030-01-01T00:00:00Z'\n"), std::string::npos);
  EXPECT_NE(changed.find("enrolledAt: '2026-02-01T10:00:00Z'\n"), std::string::npos);
}

TEST(StateImage, FailedDiscoveryIsRecorded) {
  auto e = imgf::enrollment::parse("- name: app\n  repository: team/app\n  local:\n    dir: app\n", "images.yaml");
  std::string ok = render_image(e.images[0], Discovery::success, {"alpine-3.19"}, nullptr, kNow);
  auto doc = Document::parse(ok, "app.yaml");
  std::string failed = render_image(e.images[0], Discovery::failed, {"alpine-3.19"}, &doc, "2030-01-01T00:00:00Z");
  EXPECT_NE(failed.find("discoveryStatus: failed\n"), std::string::npos);
  EXPECT_NE(failed.find("baseImages:\n  - alpine-3.19\n"), std::string::npos);
}

// --- base-images/<name>.yaml against the fixtures ---------------------------------------------

TEST(StateBaseImage, FixtureFilesRoundTrip) {
  IMGF_REQUIRE_SHARED(shared);
  const fs::path dir = shared / "fixtures/image-factory-state/state/base-images";
  // distroless: nothing to change, byte-identical (lastChecked is not bumped).
  {
    std::string original = imgf::test::read_file(dir / "distroless-python3-debian12-latest.yaml");
    auto doc = Document::parse(original, "x");
    auto r = ref("gcr.io/distroless/python3-debian12:latest", "gcr.io-distroless-python3-debian12-latest", "gcr.io",
                 "distroless/python3-debian12", "latest");
    EXPECT_EQ(render_base_image("distroless-python3-debian12-latest", r, *doc.scalar("fullImage"), &doc, kNow),
              original);
  }
  // python and playwright: the original escaped the backslash of "\." a second time, so its
  // allowTags ^3\\.12-slim$ never matched the tag 3.12-slim; we write ^3\.12-slim$.
  for (auto [file, r] : {std::pair{"python-3.12-slim", ref("python:3.12-slim", "python-3.12-slim", "docker.io",
                                                           "library/python", "3.12-slim")},
                         std::pair{"mcr.microsoft.com-playwright-v1.40.0-focal",
                                   ref("mcr.microsoft.com/playwright:v1.40.0-focal",
                                       "mcr.microsoft.com-playwright-v1.40.0-focal", "mcr.microsoft.com", "playwright",
                                       "v1.40.0-focal")}}) {
    SCOPED_TRACE(file);
    std::string original = imgf::test::read_file(dir / (std::string(file) + ".yaml"));
    auto doc = Document::parse(original, file);
    std::string out = render_base_image(file, r, *doc.scalar("fullImage"), &doc, kNow);
    std::string expected = replace_line(original, "allowTags", "allowTags: " + allow_tags_for(r.tag));
    expected = replace_line(expected, "lastChecked", "lastChecked: '2026-02-01T10:00:00Z'");
    EXPECT_EQ(out, expected);
    EXPECT_EQ(shape(out), shape(original));
  }
  // node: an older writer left Python's None in three fields; they become null.
  {
    std::string original = imgf::test::read_file(dir / "node-22-bookworm-slim.yaml");
    auto doc = Document::parse(original, "node");
    auto r = ref("node:22-bookworm-slim", "node-22-bookworm-slim", "docker.io", "library/node", "22-bookworm-slim");
    std::string out = render_base_image("node-22-bookworm-slim", r, "node:22-bookworm-slim", &doc, kNow);
    std::string expected = std::regex_replace(original, std::regex(": None"), ": null");
    expected = replace_line(expected, "lastChecked", "lastChecked: '2026-02-01T10:00:00Z'");
    EXPECT_EQ(out, expected);
  }
}

TEST(StateBaseImage, ExampleFileGainsMissingKeysAndKeepsItsRuntimeData) {
  IMGF_REQUIRE_SHARED(shared);
  const fs::path p = shared / "fixtures/image-factory-state/state/base-images/node-22-bookworm-slim.example.yaml";
  std::string original = imgf::test::read_file(p);
  auto doc = Document::parse(original, p.string());
  auto r = ref("node:22-bookworm-slim", "node-22-bookworm-slim", "docker.io", "library/node", "22-bookworm-slim");
  std::string out = render_base_image("node-22-bookworm-slim", r, "node:22-bookworm-slim", &doc, kNow);
  // The canonical shape of a fresh file ...
  std::string fresh = render_base_image("node-22-bookworm-slim", r, "node:22-bookworm-slim", nullptr, kNow);
  EXPECT_EQ(shape(out), shape(fresh));
  // ... with the example's runtime data verbatim, comments inside blocks included.
  EXPECT_NE(out.find("firstDiscovered: \"2024-12-04T10:00:00Z\"\n"), std::string::npos);
  EXPECT_NE(out.find("currentDigest: sha256:64ba3c3c4f07e1943a555334cc177563f166136a47182be6bb9765e9754d1b3b\n"),
            std::string::npos);
  EXPECT_NE(out.find("rebuildEligibleAt:\n  default: null  # Will be calculated as lastUpdated + 7d\n"),
            std::string::npos);
  EXPECT_NE(out.find("metadata:\n  architecture: amd64\n  os: linux\n  size: 79426352  # Total size of all layers in "
                     "bytes (~76 MB)\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("    org.opencontainers.image.revision: \"bf78d7603fbea92cd3652edb3b2edadd6f5a3fe8\"\n"),
            std::string::npos);
  EXPECT_NE(out.find("allowTags: ^22-bookworm-slim$\nimageSelectionStrategy: Lexical\nrepoURL: "
                     "docker.io/library/node\n"),
            std::string::npos);
  // And a second render changes nothing.
  auto doc2 = Document::parse(out, "x");
  EXPECT_EQ(render_base_image("node-22-bookworm-slim", r, "node:22-bookworm-slim", &doc2, "2030-01-01T00:00:00Z"), out);
}

TEST(StateBaseImage, NewFileMatchesTheOriginalLayout) {
  auto r = ref("python:3.12-slim", "python-3.12-slim", "docker.io", "library/python", "3.12-slim");
  EXPECT_EQ(render_base_image("python-3.12-slim", r, "python:3.12-slim", nullptr, "2025-12-29T19:25:06Z"),
            R"(# Auto-generated by Image Factory
# This file tracks the upstream python:3.12-slim base image

# Normalized identifier (used as filename and reference)
name: python-3.12-slim

# Original image reference
fullImage: python:3.12-slim
registry: docker.io
repository: library/python
tag: 3.12-slim

# Warehouse configuration (for CDK8s)
allowTags: ^3\.12-slim$
imageSelectionStrategy: Lexical
repoURL: docker.io/library/python

# Discovery
firstDiscovered: '2025-12-29T19:25:06Z'
lastChecked: '2025-12-29T19:25:06Z'

# Current state
currentDigest: null
lastUpdated: null  # Will be set when digest first changes
previousDigest: null

# Rebuild eligibility
rebuildEligibleAt:
  default: null  # Will be calculated as lastUpdated + rebuildDelay

# Metadata from registry
metadata: {}

# Update history (last 10 digest changes)
updateHistory: []
)");
}

TEST(StateBaseImage, DigestReferences) {
  auto pinned = ref("alpine:3.19@sha256:" + std::string(64, 'a'), "x", "docker.io", "library/alpine", "3.19",
                    "sha256:" + std::string(64, 'a'));
  std::string out = render_base_image("x", pinned, pinned.ref, nullptr, kNow);
  EXPECT_NE(out.find("tag: '3.19'\ndigest: sha256:aaaa"), std::string::npos) << out;  // 3.19 would read as a float
  EXPECT_NE(out.find("allowTags: ^3\\.19$\n"), std::string::npos);
  auto only = ref("alpine@sha256:" + std::string(64, 'b'), "y", "docker.io", "library/alpine", "",
                  "sha256:" + std::string(64, 'b'));
  out = render_base_image("y", only, only.ref, nullptr, kNow);
  EXPECT_NE(out.find("tag: null\ndigest: sha256:bbbb"), std::string::npos) << out;
  EXPECT_NE(out.find("allowTags: null\n"), std::string::npos);
}

// --- Document, scalars ---------------------------------------------------------------------------

TEST(StateDocument, ParsesEntriesCommentsAndBlocks) {
  auto d = Document::parse("# head\nname: x  # the name\nlist:\n  - a\n\n  - 'b # c'\nmap:\n  k: v\n# about z\nz: "
                           "'it''s # not a comment'  # but this is\n",
                           "f");
  ASSERT_EQ(d.entries().size(), 4u);
  EXPECT_EQ(d.entries()[0].value, "x");
  EXPECT_EQ(d.entries()[0].comment, "# the name");
  EXPECT_EQ(d.entries()[1].block, (std::vector<std::string>{"  - a", "", "  - 'b # c'"}));
  EXPECT_EQ(d.sequence("list"), (std::vector<std::string>{"a", "b # c"}));
  EXPECT_EQ(d.entries()[3].comments, (std::vector<std::string>{"# about z"}));
  EXPECT_EQ(d.entries()[3].value, "'it''s # not a comment'");
  EXPECT_EQ(d.entries()[3].comment, "# but this is");
  EXPECT_EQ(*d.scalar("z"), "it's # not a comment");
  EXPECT_FALSE(d.scalar("missing"));
}

TEST(StateDocument, InvalidYamlNamesFileAndLine) {
  try {
    Document::parse("name: x\nbad: [unclosed\n", "state/images/x.yaml");
    FAIL() << "accepted";
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(e.file(), "state/images/x.yaml");
    EXPECT_GT(e.line(), 0);
  }
  EXPECT_THROW(Document::parse("- a\n- b\n", "f"), imgf::Error);
}

TEST(StateScalars, PlainOnlyWhenItReadsBackAsTheSameString) {
  EXPECT_EQ(scalar_text("ghcr.io/craigedmunds/uv"), "ghcr.io/craigedmunds/uv");
  EXPECT_EQ(scalar_text("0.6.5"), "0.6.5");
  EXPECT_EQ(scalar_text("127.0.0.1:5000"), "127.0.0.1:5000");
  EXPECT_EQ(scalar_text("sha256:abc"), "sha256:abc");
  EXPECT_EQ(scalar_text("^.*$"), "^.*$");
  EXPECT_EQ(scalar_text("^3\\.12-slim$"), "^3\\.12-slim$");
  EXPECT_EQ(scalar_text("7d"), "7d");
  for (const char* quoted : {"1.0", "10", "0x1F", "yes", "no", "on", "off", "null", "~", "true", "None", "1e3",
                             "2025-12-29", "2025-12-29T19:25:06Z", "12:30", "", " x", "a: b", "a #b", "*x", "&a",
                             "!tag", "'q'", "- x", "[a]", "{a}", "x:", "%x", "@x", "`x", "|", ">"})
    EXPECT_EQ(scalar_text(quoted).front(), '\'') << quoted;
  EXPECT_EQ(scalar_text("it's"), "it's");
  EXPECT_EQ(scalar_text("'it's'"), "'''it''s'''");
  EXPECT_EQ(scalar_text("a\nb"), "\"a\\nb\"");
  // What neither plain nor single quotes can carry goes double-quoted, with the escapes of
  // imgf::yamlquote (tested in yamlquote_test): controls, NEL, LS/PS that YAML 1.1 folds.
  EXPECT_EQ(scalar_text("a\x01" "b"), "\"a\\u0001b\"");
  EXPECT_EQ(scalar_text("line\xe2\x80\xa8sep"), "\"line\\u2028sep\"");
  EXPECT_EQ(scalar_text("x\xc2\x85y"), "\"x\\u0085y\"");
  EXPECT_EQ(scalar_text("caf\xc3\xa9"), "caf\xc3\xa9");  // printable UTF-8 stays plain, as the original wrote it
}

TEST(StateScalars, AllowTagsEscapesRegexMetacharacters) {
  EXPECT_EQ(allow_tags_for("latest"), "^latest$");
  EXPECT_EQ(allow_tags_for("3.12-slim"), "^3\\.12-slim$");
  EXPECT_EQ(allow_tags_for("v1.40.0-focal"), "^v1\\.40\\.0-focal$");
  EXPECT_EQ(allow_tags_for("a+b"), "^a\\+b$");
}
