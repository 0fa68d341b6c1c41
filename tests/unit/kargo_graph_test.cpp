// The Stage/Warehouse graph synth draws, read back from the YAML: what triggers what, the
// Freight passed to the Jobs (verification args), rebuildDelay as Kargo's requiredSoakTime,
// the first apply, shared Warehouses, the state repository's own commits, and the
// credential Secret skeletons.
#include <gtest/gtest.h>
#include <re2/re2.h>

#include <set>

#include "imgfactory/error.hpp"
#include "synth_testutil.hpp"

using namespace imgf;
using namespace imgf::kargo;
using namespace imgf::test::synth;

namespace {

Options opts() {
  Options o;
  o.state_repo = "https://github.com/acme/image-factory-state.git";
  return o;
}

std::map<std::string, YAML::Node> synth_docs(const std::filesystem::path& root, const Options& o = opts()) {
  return documents(synthesize(load_state(root), o).yaml);
}

std::string image_expr(const std::string& repo) {
  return repo + ":${{ imageFrom(\"" + repo + "\").Tag }}@${{ imageFrom(\"" + repo + "\").Digest }}";
}

std::string commit_expr(const std::string& url) { return "${{ quote(commitFrom(\"" + url + "\").ID) }}"; }

YAML::Node warehouse_of(const std::map<std::string, YAML::Node>& docs, const YAML::Node& stage) {
  return docs.at("Warehouse/" + stage["spec"]["requestedFreight"][0]["origin"]["name"].as<std::string>());
}

// "168h13m" -> seconds (the forms synth writes: whole h, m, s).
long long seconds_of(const std::string& d) {
  long long total = 0, n = 0;
  for (char c : d) {
    if (c >= '0' && c <= '9') {
      n = n * 10 + (c - '0');
    } else {
      total += n * (c == 'h' ? 3600 : c == 'm' ? 60 : 1);
      n = 0;
    }
  }
  return total;
}

std::vector<std::string> repo_urls(const YAML::Node& warehouse, const std::string& kind) {
  std::vector<std::string> out;
  for (const auto& sub : warehouse["spec"]["subscriptions"])
    if (sub[kind]) out.push_back(sub[kind]["repoURL"].as<std::string>());
  return out;
}

}  // namespace

// A managed image's own Warehouse watches its published repository and nothing else; its
// source is a separate Warehouse. So a chain rebuild (an image built FROM another image we
// build) fires on a new published image of the base, never on a commit to the base's source.
TEST(KargoGraph, ChainRebuildFiresOnThePublishedImageOnly) {
  const auto docs = synth_docs(data_dir() / "state");
  for (const auto& w : of_kind(docs, "Warehouse")) {
    const std::string role = label(w, "imgfactory.io/role");
    const auto subs = w["spec"]["subscriptions"];
    if (role == "image" || role == "base" || role == "external") {
      ASSERT_EQ(subs.size(), 1u) << w["metadata"]["name"];
      EXPECT_TRUE(subs[0]["image"]) << w["metadata"]["name"];
    } else {
      EXPECT_EQ(role, "source");
      for (const auto& s : subs) EXPECT_TRUE(s["git"]) << w["metadata"]["name"];
    }
  }
  // worker is built FROM ghcr.io/acme/base-python, an image we build from acme/platform
  const auto stage = docs.at("Stage/rebuild-trigger-worker-from-base-python-3.12");
  const auto w = warehouse_of(docs, stage);
  EXPECT_EQ(w["metadata"]["name"].as<std::string>(), "base-python");
  EXPECT_EQ(repo_urls(w, "image"), (std::vector<std::string>{"ghcr.io/acme/base-python"}));
  EXPECT_TRUE(repo_urls(w, "git").empty());
  EXPECT_EQ(verification_args(stage).at("baseRef"), image_expr("ghcr.io/acme/base-python"));
  // the commits of acme/platform feed base-python's analysis and build Stages only
  const auto analysis = docs.at("Stage/analyze-dockerfile-base-python");
  EXPECT_EQ(repo_urls(warehouse_of(docs, analysis), "git"),
            (std::vector<std::string>{"https://github.com/acme/platform.git"}));
}

// The verification args of the contract with the Jobs: `image`, then `baseRef` (rebuild) or
// `revision` (analysis, build from a source commit). imageFrom/commitFrom name exactly the
// repoURL of a subscription of the Warehouse the Stage requests Freight from (Kargo finds the
// image by exact repoURL equality, and the commit by normalized URL).
TEST(KargoGraph, VerificationArgsCarryTheFreight) {
  const auto docs = synth_docs(data_dir() / "state");
  int rebuilds = 0, revisions = 0;
  for (const auto& s : of_kind(docs, "Stage")) {
    const std::string name = s["metadata"]["name"].as<std::string>();
    const std::string role = label(s, "imgfactory.io/role");
    const auto w = warehouse_of(docs, s);
    if (!s["spec"]["verification"]) {
      EXPECT_TRUE(role == "gate" || role == "rebuild") << name;  // gates, and workflow dispatches
      continue;
    }
    const auto args = verification_args(s);
    const std::string tmpl = s["spec"]["verification"]["analysisTemplates"][0]["name"].as<std::string>();
    EXPECT_EQ(tmpl, role == "analysis" ? "image-factory-analyze" : "image-factory-build") << name;
    ASSERT_TRUE(args.contains("image")) << name;
    for (const auto& [arg, _] : args) {
      const std::set<std::string> allowed = tmpl == "image-factory-build"
                                                ? std::set<std::string>{"image", "baseRef", "revision"}
                                                : std::set<std::string>{"image", "revision"};
      EXPECT_TRUE(allowed.contains(arg)) << name << ": " << arg;
    }
    if (role == "rebuild") {
      ++rebuilds;
      EXPECT_EQ(args.at("baseRef"), image_expr(repo_urls(w, "image").at(0))) << name;
      EXPECT_FALSE(args.contains("revision")) << name;
    }
    if (args.contains("revision")) {
      ++revisions;
      EXPECT_EQ(args.at("revision"), commit_expr(repo_urls(w, "git").at(0))) << name;
    }
  }
  EXPECT_EQ(rebuilds, 6) << "api (2 bases), base-python, worker, tool_box and the long name are built by the template; "
                            "web dispatches its workflow";
  EXPECT_EQ(revisions, 9) << "5 analysis and 4 build Stages of images with a source repository";
  // a local image's files are in the Job's own checkout of the state repository: no revision
  EXPECT_FALSE(verification_args(docs.at("Stage/build-tool-box-5f4cb6c88a")).contains("revision"));
  EXPECT_EQ(verification_args(docs.at("Stage/build-api")).at("revision"),
            commit_expr("https://github.com/acme/api.git"));
}

// rebuildDelay is Kargo's requiredSoakTime, which only counts time spent in an upstream
// Stage: every rebuild Stage takes its base's Freight through the base's gate Stage (never
// directly), after rebuildDelay plus the image's stagger.
TEST(KargoGraph, RebuildDelayIsASoakInTheBaseGate) {
  Input in = load_state(data_dir() / "state");
  Options o = opts();
  o.rebuild_spread = "0s";
  const auto docs = documents(synthesize(in, o).yaml);
  std::map<std::string, long long> delay;  // Stage label imgfactory.io/image -> rebuildDelay
  for (const auto& img : in.enrollment.images) delay[kube_name(img.name)] = img.rebuild_delay_seconds.count();
  int rebuilds = 0;
  for (const auto& s : of_kind(docs, "Stage")) {
    if (label(s, "imgfactory.io/role") != "rebuild") continue;
    ++rebuilds;
    const auto src = s["spec"]["requestedFreight"][0]["sources"];
    EXPECT_FALSE(src["direct"]) << s["metadata"]["name"];
    ASSERT_EQ(src["stages"].size(), 1u);
    const auto gate = docs.at("Stage/" + src["stages"][0].as<std::string>());
    EXPECT_EQ(label(gate, "imgfactory.io/role"), "gate");
    EXPECT_TRUE(gate["spec"]["requestedFreight"][0]["sources"]["direct"].as<bool>());
    EXPECT_EQ(gate["spec"]["requestedFreight"][0]["origin"]["name"].as<std::string>(),
              s["spec"]["requestedFreight"][0]["origin"]["name"].as<std::string>());
    EXPECT_FALSE(gate["spec"]["verification"]) << "a gate verifies nothing: Freight is verified once promoted";
    ASSERT_TRUE(gate["spec"]["promotionTemplate"]["spec"]["steps"][0]) << "a regular Stage, not control flow";
    EXPECT_EQ(seconds_of(src["requiredSoakTime"].as<std::string>()), delay.at(label(s, "imgfactory.io/image")));
  }
  EXPECT_EQ(rebuilds, 8);
  EXPECT_EQ(docs.at("Stage/rebuild-trigger-web-from-node-22-bookworm-slim")["spec"]["requestedFreight"][0]["sources"]
                   ["requiredSoakTime"]
                       .as<std::string>(),
            "168h");

  // rebuildDelay 0 and no spread: no soak at all, still through the gate
  imgf::test::TempDir dir;
  dir.write("images.yaml", "- name: app\n  registry: ghcr.io\n  repository: a/app\n  source:\n    repo: a/app\n"
                           "  rebuildDelay: 0d\n");
  dir.write("images/app.yaml", "baseImages:\n  - alpine-3.20\n");
  dir.write("base-images/alpine-3.20.yaml", "repository: library/alpine\ntag: '3.20'\n");
  const auto d2 = synth_docs(dir.path(), o);
  const auto src = d2.at("Stage/rebuild-trigger-app-from-alpine-3.20")["spec"]["requestedFreight"][0]["sources"];
  EXPECT_FALSE(src["requiredSoakTime"]);
  EXPECT_EQ(src["stages"][0].as<std::string>(), "base-alpine-3.20");
}

// The first apply creates Freight for every Warehouse at once. Nothing builds at that moment:
// no build or rebuild Stage takes Freight directly from a Warehouse; rebuilds wait their
// rebuildDelay, and every build/rebuild Stage of an image also waits its own stagger, a fixed
// offset in [0, --rebuild-spread) from its name, so they do not all start together later.
TEST(KargoGraph, FirstApplyDoesNotStartEveryBuildAtOnce) {
  imgf::test::TempDir dir;
  std::string images;
  for (int i = 0; i < 120; ++i) {
    const std::string n = "svc" + std::to_string(i);
    images += "- name: " + n + "\n  registry: ghcr.io\n  repository: a/" + n + "\n  source:\n    repo: a/" + n +
              "\n  rebuildDelay: 1d\n";
    dir.write("images/" + n + ".yaml", "baseImages:\n  - alpine-3.20\n");
  }
  dir.write("images.yaml", images);
  dir.write("base-images/alpine-3.20.yaml", "repository: library/alpine\ntag: '3.20'\n");
  const auto docs = synth_docs(dir.path());  // default spread: 1h
  std::map<std::string, long long> build_offset, rebuild_offset;
  for (const auto& s : of_kind(docs, "Stage")) {
    const std::string role = label(s, "imgfactory.io/role");
    if (role != "build" && role != "rebuild") continue;
    const auto src = s["spec"]["requestedFreight"][0]["sources"];
    EXPECT_FALSE(src["direct"]) << s["metadata"]["name"];
    const long long soak = src["requiredSoakTime"] ? seconds_of(src["requiredSoakTime"].as<std::string>()) : 0;
    const std::string img = label(s, "imgfactory.io/image");
    if (role == "build") build_offset[img] = soak;
    else rebuild_offset[img] = soak - 86400;
  }
  ASSERT_EQ(build_offset.size(), 120u);
  ASSERT_EQ(rebuild_offset.size(), 120u);
  std::set<long long> minutes, build_minutes;
  for (const auto& [img, off] : rebuild_offset) {
    EXPECT_GE(off, 0);
    EXPECT_LT(off, 3600);
    EXPECT_EQ(off % 60, 0);
    minutes.insert(off / 60);
    // a build waits at most 10 minutes (a longer soak would let a stream of commits starve it)
    EXPECT_EQ(build_offset.at(img), off / 60 % 10 * 60) << "one hash per image: the build's minute is the "
                                                           "rebuild's minute, modulo 10";
    build_minutes.insert(build_offset.at(img) / 60);
  }
  // 120 names over 60 minutes: they cover most of the hour (a uniform hash leaves ~13% empty)
  EXPECT_GE(minutes.size(), 45u);
  EXPECT_EQ(build_minutes.size(), 10u);
  // deterministic: the same names give the same offsets
  EXPECT_EQ(synthesize(load_state(dir.path()), opts()).yaml, synthesize(load_state(dir.path()), opts()).yaml);
}

// An enrolled external image and a base image that would watch exactly the same tags share
// one Warehouse (the external image's); so do two base images that resolve to the same tags.
// A base that watches other tags of the same repository keeps its own.
TEST(KargoGraph, ExternalImageThatIsAlsoABaseHasOneWarehouse) {
  imgf::test::TempDir dir;
  dir.write("images.yaml",
            "- name: app\n  registry: ghcr.io\n  repository: a/app\n  source:\n    repo: a/app\n"
            "- name: tool\n  registry: ghcr.io\n  repository: a/tool\n  source:\n    repo: a/tool\n"
            "- name: busybox\n  registry: docker.io\n  repository: library/busybox\n  allowTags: ^1\\.35$\n"
            "  imageSelectionStrategy: Lexical\n");
  dir.write("images/app.yaml", "baseImages:\n  - busybox-1.35\n  - alpine-3.20\n");
  dir.write("images/tool.yaml", "baseImages:\n  - docker.io-library-busybox-1.35\n  - alpine-3.20-copy\n  - busybox-musl\n");
  // the original tool's form, with doubled backslashes, and a second name for the same image
  dir.write("base-images/busybox-1.35.yaml", "fullImage: busybox:1.35\nregistry: docker.io\nrepository: library/busybox\n"
                                             "tag: '1.35'\nallowTags: ^1\\\\.35$\nimageSelectionStrategy: Lexical\n"
                                             "repoURL: docker.io/library/busybox\n");
  dir.write("base-images/docker.io-library-busybox-1.35.yaml", "repository: library/busybox\ntag: '1.35'\n");
  dir.write("base-images/alpine-3.20.yaml", "repository: library/alpine\ntag: '3.20'\n");
  dir.write("base-images/alpine-3.20-copy.yaml", "repoURL: alpine\ntag: '3.20'\n");
  dir.write("base-images/busybox-musl.yaml", "repository: library/busybox\ntag: 1.35-musl\n");
  const auto docs = synth_docs(dir.path());
  std::map<std::string, std::vector<std::string>> by_repo;  // normalized repo -> Warehouses
  for (const auto& w : of_kind(docs, "Warehouse"))
    for (const auto& r : repo_urls(w, "image")) by_repo[r].push_back(w["metadata"]["name"].as<std::string>());
  EXPECT_EQ(by_repo["docker.io/library/busybox"], (std::vector<std::string>{"busybox", "busybox-musl"}));
  EXPECT_EQ(by_repo["docker.io/library/alpine"], (std::vector<std::string>{"alpine-3.20"}));
  EXPECT_FALSE(by_repo.contains("alpine")) << "alpine and docker.io/library/alpine are one repository";
  auto origin = [&](const std::string& stage) {
    return docs.at("Stage/" + stage)["spec"]["requestedFreight"][0]["origin"]["name"].as<std::string>();
  };
  EXPECT_EQ(origin("rebuild-trigger-app-from-busybox-1.35"), "busybox");
  EXPECT_EQ(origin("rebuild-trigger-tool-from-docker.io-library-busybox-1.35"), "busybox");
  EXPECT_EQ(origin("rebuild-trigger-app-from-alpine-3.20"), "alpine-3.20");
  EXPECT_EQ(origin("rebuild-trigger-tool-from-alpine-3.20-copy"), "alpine-3.20");
  EXPECT_EQ(origin("rebuild-trigger-tool-from-busybox-musl"), "busybox-musl");
  EXPECT_TRUE(docs.contains("Stage/base-busybox")) << "one gate per Warehouse";
  EXPECT_EQ(of_kind(docs, "Stage").size(), 2u + 2u + 5u + 3u) << "2 analysis, 2 build, 5 rebuild, 3 gates";
}

// Jobs commit to the state repository (state files, dist/, bumped version files). A Warehouse
// subscribed to it must not turn those commits into Freight, or each build would trigger the
// next: they are excluded wherever an included path would cover them.
TEST(KargoGraph, JobCommitsToTheStateRepositoryNeverTrigger) {
  imgf::test::TempDir dir;
  dir.write("images.yaml",
            "- name: tools\n  registry: ghcr.io\n  repository: a/tools\n  local:\n    dir: .\n"
            "    versionFile: VERSION\n"
            "- name: self\n  registry: ghcr.io\n  repository: a/self\n  source:\n"
            "    repo: https://github.com/acme/image-factory-state.git\n    dockerfile: Dockerfile\n");
  const auto docs = synth_docs(dir.path());
  for (const char* w : {"Warehouse/tools-source", "Warehouse/self-source"}) {
    const auto git = docs.at(w)["spec"]["subscriptions"][0]["git"];
    EXPECT_FALSE(git["includePaths"]) << w << ": the whole repository";
    std::vector<std::string> ex;
    for (const auto& e : git["excludePaths"]) ex.push_back(e.as<std::string>());
    EXPECT_EQ(ex, (std::vector<std::string>{"VERSION", "base-images", "dist", "images", "state/base-images",
                                            "state/images"}))
        << w;
  }
  // with the state in a folder of the repository (--state-path) the paths follow it
  Options o = opts();
  o.state_path = "image-factory";
  const auto d2 = synth_docs(dir.path(), o);
  const auto git = d2.at("Warehouse/tools-source")["spec"]["subscriptions"][0]["git"];
  EXPECT_EQ(git["includePaths"][0].as<std::string>(), "image-factory");
  EXPECT_EQ(git["excludePaths"][0].as<std::string>(), "image-factory/VERSION");
  EXPECT_EQ(git["excludePaths"].size(), 6u);
}

// A source Warehouse watches what the build reads: the Dockerfile's directory and the build
// context. Without source.context an image built from its source has the repository root as
// context (the original's default), so a commit to a root file it COPYs makes Freight; a
// local.dockerfile image builds its local directory and keeps the Dockerfile's directory.
TEST(KargoGraph, SourceWarehouseWatchesTheBuildContext) {
  imgf::test::TempDir dir;
  dir.write("images.yaml",
            "- name: root\n  registry: ghcr.io\n  repository: a/root\n  source:\n"
            "    repo: https://github.com/acme/mono.git\n    dockerfile: svc/root/Dockerfile\n"
            "- name: narrow\n  registry: ghcr.io\n  repository: a/narrow\n  source:\n"
            "    repo: https://github.com/acme/mono.git\n    dockerfile: svc/narrow/docker/Dockerfile\n"
            "    context: svc/narrow\n"
            "- name: patched\n  registry: ghcr.io\n  repository: a/patched\n  source:\n"
            "    repo: https://github.com/acme/up.git\n    dockerfile: build/Dockerfile\n"
            "  local:\n    dir: patched\n"
            "- name: own\n  registry: ghcr.io\n  repository: a/own\n  source:\n"
            "    repo: https://github.com/acme/up.git\n    dockerfile: build/Dockerfile\n"
            "  local:\n    dir: own\n    dockerfile: Dockerfile\n");
  const auto docs = synth_docs(dir.path());
  auto includes = [&](const std::string& w) {
    std::vector<std::string> out;
    for (const auto& p : docs.at(w)["spec"]["subscriptions"][0]["git"]["includePaths"]) out.push_back(p.as<std::string>());
    return out;
  };
  EXPECT_EQ(includes("Warehouse/root-source"), std::vector<std::string>{}) << "context: the repository root";
  EXPECT_EQ(includes("Warehouse/narrow-source"), std::vector<std::string>{"svc/narrow"});
  EXPECT_EQ(includes("Warehouse/patched-source"), std::vector<std::string>{}) << "upstream mode: the root";
  EXPECT_EQ(includes("Warehouse/own-source"), std::vector<std::string>{"build"}) << "local.dockerfile mode";
}

// Options: the spread is a Kargo duration.
TEST(KargoGraph, RebuildSpreadIsValidated) {
  Options o;
  o.rebuild_spread = "2d";
  EXPECT_THROW(validate(o), imgf::Error);
  o.rebuild_spread = "90m";
  EXPECT_NO_THROW(validate(o));
  o.rebuild_spread = "0s";
  EXPECT_NO_THROW(validate(o));
}

// The credential skeletons: one Secret per registry host and first path segment, and per git
// host and owner, with Kargo's label and keys, a regex that Go/RE2 compiles and that matches
// every repository it says it covers, and no values.
TEST(KargoGraph, CredentialSkeletons) {
  const Manifests m = synthesize(load_state(data_dir() / "state"), opts());
  const std::string text = credential_skeletons(m, opts());
  EXPECT_EQ(text, credential_skeletons(m, opts()));
  std::set<std::string> covered;
  int secrets = 0;
  for (const auto& doc : YAML::LoadAll(text)) {
    if (!doc) continue;
    ++secrets;
    EXPECT_EQ(doc["kind"].as<std::string>(), "Secret");
    EXPECT_EQ(doc["metadata"]["namespace"].as<std::string>(), "image-factory-kargo");
    const std::string type = doc["metadata"]["labels"]["kargo.akuity.io/cred-type"].as<std::string>();
    if (type == "generic") {  // the workflow-dispatch token (web dispatches web.yml)
      EXPECT_EQ(doc["metadata"]["name"].as<std::string>(), "github-workflow-token");
      EXPECT_EQ(doc["stringData"]["token"].as<std::string>(), "");
      continue;
    }
    EXPECT_TRUE(type == "image" || type == "git") << type;
    const auto data = doc["stringData"];
    EXPECT_EQ(data["repoURLIsRegex"].as<std::string>(), "true");
    EXPECT_EQ(data["username"].as<std::string>(), "");
    EXPECT_EQ(data["password"].as<std::string>(), "");
    RE2 re(data["repoURL"].as<std::string>());
    ASSERT_TRUE(re.ok()) << data["repoURL"];
    std::string covers = doc["metadata"]["annotations"]["imgfactory.io/covers"].as<std::string>();
    for (std::size_t p = 0; p != std::string::npos;) {
      const auto e = covers.find(", ", p);
      const std::string repo = covers.substr(p, e == std::string::npos ? std::string::npos : e - p);
      EXPECT_TRUE(RE2::PartialMatch(repo, re)) << repo << " !~ " << data["repoURL"];
      covered.insert(repo);
      p = e == std::string::npos ? e : e + 2;
    }
    EXPECT_TRUE(kargo::is_dns1123_subdomain(doc["metadata"]["name"].as<std::string>()));
  }
  std::set<std::string> watched(m.image_repos.begin(), m.image_repos.end());
  watched.insert(m.git_repos.begin(), m.git_repos.end());
  EXPECT_EQ(covered, watched) << "every repository a Warehouse reads has a skeleton";
  EXPECT_EQ(secrets, 8) << "5 registry scopes, 2 git owners and the workflow token";
  // a repository directly under its host is its own scope, not a prefix of others
  EXPECT_NE(text.find("repoURL: ^mcr\\.microsoft\\.com/playwright$\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("s3cr3t"), std::string::npos);
}
