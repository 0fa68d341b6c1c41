// `imgfactory synth`'s planner and renderer: golden files per resource kind, determinism,
// names, promotion policies, regex errors with FILE:LINE, and the original tool's state
// repository (../shared) rendered without anything Kargo v1.11 refuses.
#include <gtest/gtest.h>
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "imgfactory/error.hpp"
#include "imgfactory/kargo.hpp"
#include "testutil.hpp"

using namespace imgf::kargo;
namespace fs = std::filesystem;

namespace {

fs::path data_dir() { return imgf::test::source_dir() / "tests" / "data" / "synth"; }

Input load_state(const fs::path& root) {
  return load_input(imgf::enrollment::layout_for(root), imgf::enrollment::load(root / "images.yaml"));
}

Options golden_options() {
  Options o;
  o.state_repo = "https://github.com/acme/image-factory-state.git";
  return o;
}

std::vector<std::string> split_documents(const std::string& text) {
  std::vector<std::string> docs;
  std::string cur;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size() - 1;
    const std::string line = text.substr(pos, eol - pos + 1);
    pos = eol + 1;
    if (line == "---\n") {
      docs.push_back(cur);
      cur.clear();
    } else if (!line.starts_with("#")) {
      cur += line;
    }
  }
  if (!cur.empty()) docs.push_back(cur);
  return docs;
}

std::string kind_of(const std::string& doc) {
  const auto p = doc.find("\nkind: ");
  const auto e = doc.find('\n', p + 7);
  return doc.substr(p + 7, e - p - 7);
}

std::map<std::string, std::string> by_kind(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& d : split_documents(text)) {
    std::string k = kind_of(d);
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
    auto& s = out[k];
    if (!s.empty()) s += "---\n";
    s += d;
  }
  return out;
}

std::vector<YAML::Node> parse_all(const std::string& text) { return YAML::LoadAll(text); }

template <typename F>
imgf::Error catch_error(F&& f) {
  try {
    f();
  } catch (const imgf::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no imgf::Error thrown";
  return imgf::failure("none");
}

}  // namespace

// One golden file per resource kind in tests/data/synth/golden/. Regenerate with
// IMGF_UPDATE_GOLDEN=1 (then review the diff).
TEST(KargoSynth, GoldenFilesPerKind) {
  const Manifests m = synthesize(load_state(data_dir() / "state"), golden_options());
  const auto kinds = by_kind(m.yaml);
  const std::set<std::string> expected = {"namespace", "project",   "projectconfig", "serviceaccount",
                                          "warehouse", "stage",     "analysistemplate"};
  std::set<std::string> got;
  for (const auto& [k, _] : kinds) got.insert(k);
  EXPECT_EQ(got, expected);
  const bool update = std::getenv("IMGF_UPDATE_GOLDEN") != nullptr;
  for (const auto& [kind, text] : kinds) {
    const fs::path golden = data_dir() / "golden" / (kind + ".yaml");
    if (update) {
      fs::create_directories(golden.parent_path());
      std::ofstream(golden, std::ios::binary) << text;
      continue;
    }
    ASSERT_TRUE(fs::exists(golden)) << golden << " missing: run with IMGF_UPDATE_GOLDEN=1";
    EXPECT_EQ(text, imgf::test::read_file(golden)) << "kind " << kind << " differs from " << golden;
  }
  EXPECT_EQ(m.documents, split_documents(m.yaml).size());
  EXPECT_EQ(m.warehouses, 19u) << "7 published images, 6 sources, 6 base images (redis is external)";
  EXPECT_EQ(m.stages, 26u) << "6 analysis, 5 build, 7 base gates, 8 rebuild";
  EXPECT_EQ(m.analysis_templates, 2u);
}

TEST(KargoSynth, DeterministicAndIndependentOfEnrollmentOrder) {
  Input in = load_state(data_dir() / "state");
  const std::string first = synthesize(in, golden_options()).yaml;
  EXPECT_EQ(synthesize(in, golden_options()).yaml, first);
  std::mt19937 rng(42);
  for (int i = 0; i < 5; ++i) {
    std::shuffle(in.enrollment.images.begin(), in.enrollment.images.end(), rng);
    EXPECT_EQ(synthesize(in, golden_options()).yaml, first) << "shuffle " << i;
  }
}

TEST(KargoSynth, NamesAreKubernetesSafe) {
  const Manifests m = synthesize(load_state(data_dir() / "state"), golden_options());
  std::set<std::string> seen;
  for (const auto& doc : parse_all(m.yaml)) {
    const std::string kind = doc["kind"].as<std::string>();
    const std::string name = doc["metadata"]["name"].as<std::string>();
    EXPECT_TRUE(is_dns1123_subdomain(name)) << name;
    if (kind == "Stage" || kind == "Warehouse" || kind == "AnalysisTemplate") {
      EXPECT_LE(name.size(), 63u) << name;
    }
    EXPECT_TRUE(seen.insert(kind + "/" + name).second) << "duplicate " << kind << "/" << name;
  }
  for (const auto& doc : parse_all(m.yaml)) {
    if (doc["kind"].as<std::string>() != "Stage") continue;
    const std::string name = doc["metadata"]["name"].as<std::string>();
    const auto req = doc["spec"]["requestedFreight"][0];
    const std::string origin = req["origin"]["name"].as<std::string>();
    EXPECT_TRUE(seen.contains("Warehouse/" + origin)) << name << " requests Freight from missing " << origin;
    for (const auto& up : req["sources"]["stages"])
      EXPECT_TRUE(seen.contains("Stage/" + up.as<std::string>())) << name << " follows missing " << up;
  }
  EXPECT_TRUE(seen.contains("Stage/rebuild-trigger-a-service-with-a-really-long-name-th-d024b00e4e"));
}

TEST(KargoSynth, PromotionPoliciesAreDerivedFromTheStages) {
  const Manifests m = synthesize(load_state(data_dir() / "state"), golden_options());
  std::map<std::string, bool> stages;
  std::map<std::string, bool> policies;
  for (const auto& doc : parse_all(m.yaml)) {
    const std::string kind = doc["kind"].as<std::string>();
    if (kind == "Stage")
      stages[doc["metadata"]["name"].as<std::string>()] =
          doc["metadata"]["labels"]["imgfactory.io/auto-promotion"].as<std::string>() == "true";
    if (kind == "ProjectConfig")
      for (const auto& p : doc["spec"]["promotionPolicies"])
        policies[p["stageSelector"]["name"].as<std::string>()] = p["autoPromotionEnabled"].as<bool>();
  }
  EXPECT_EQ(policies, stages);
  EXPECT_FALSE(policies.at("rebuild-trigger-api-from-golang-1.22")) << "api has autoRebuild: false";
  EXPECT_TRUE(policies.at("analyze-dockerfile-api"));
}

TEST(KargoSynth, ManyStagesAreSelectedByLabel) {
  Options o = golden_options();
  o.max_named_policies = 3;
  const Manifests m = synthesize(load_state(data_dir() / "state"), o);
  for (const auto& doc : parse_all(m.yaml)) {
    if (doc["kind"].as<std::string>() != "ProjectConfig") continue;
    const auto pol = doc["spec"]["promotionPolicies"];
    ASSERT_EQ(pol.size(), 1u);
    EXPECT_EQ(pol[0]["stageSelector"]["matchLabels"]["imgfactory.io/auto-promotion"].as<std::string>(), "true");
    EXPECT_TRUE(pol[0]["autoPromotionEnabled"].as<bool>());
  }
}

TEST(KargoSynth, EveryRegexWrittenCompilesAndNothingDeprecated) {
  const Manifests m = synthesize(load_state(data_dir() / "state"), golden_options());
  int regexes = 0;
  for (const auto& doc : parse_all(m.yaml)) {
    if (doc["kind"].as<std::string>() != "Warehouse") continue;
    for (const auto& sub : doc["spec"]["subscriptions"]) {
      if (!sub["image"]) continue;
      for (const char* refused : {"allowTags", "ignoreTags", "semverConstraint"})
        EXPECT_FALSE(sub["image"][refused]) << refused;
      for (const auto& re : sub["image"]["allowTagsRegexes"]) {
        EXPECT_TRUE(RE2(re.as<std::string>(), RE2::Quiet).ok()) << re.as<std::string>();
        ++regexes;
      }
    }
  }
  EXPECT_GE(regexes, 8);
  // the original's doubled backslashes are repaired when that makes the regex match its tag
  EXPECT_NE(m.yaml.find("- ^1\\.22$\n"), std::string::npos);
}

TEST(KargoSynth, StateRepositoryFromASecretWhenNotGiven) {
  const Manifests m = synthesize(load_state(data_dir() / "state"), Options{});
  EXPECT_NE(m.yaml.find("name: STATE_REPO_URL\n                        valueFrom:\n                          secretKeyRef:\n"
                        "                            name: image-factory-state\n                            key: repoURL\n"),
            std::string::npos);
  // the local image lives in the state repository: without its URL only the image is watched
  for (const auto& doc : parse_all(m.yaml))
    if (doc["kind"].as<std::string>() == "Warehouse" &&
        doc["metadata"]["name"].as<std::string>().starts_with("tool-box")) {
      EXPECT_EQ(doc["spec"]["subscriptions"].size(), 1u);
    }
}

// The Jobs' pod specs per --build-security mode: tests/unit/kargo_jobs_test.cpp.

TEST(KargoSynth, WorkflowOutsideGitHubFallsBackToTheBuildTemplate) {
  imgf::test::TempDir dir;
  dir.write("images.yaml", "- name: app\n  registry: ghcr.io\n  repository: a/app\n  source:\n    provider: gitlab\n"
                           "    repo: a/app\n    workflow: app.yml\n");
  dir.write("images/app.yaml", "baseImages:\n  - alpine-3.20\n");
  dir.write("base-images/alpine-3.20.yaml", "repository: library/alpine\ntag: '3.20'\n");
  const Manifests m = synthesize(load_state(dir.path()), golden_options());
  EXPECT_EQ(m.yaml.find("uses: http"), std::string::npos);
  EXPECT_NE(m.yaml.find("- name: image-factory-build\n"), std::string::npos);
}

TEST(KargoSynth, CredentialsInSourceUrlsAreNotWritten) {
  imgf::test::TempDir dir;
  dir.write("images.yaml", "- name: app\n  registry: ghcr.io\n  repository: a/app\n  source:\n"
                           "    repo: https://bot:s3cr3t@github.com/a/app.git\n    workflow: app.yml\n");
  dir.write("images/app.yaml", "baseImages:\n  - alpine-3.20\n");
  dir.write("base-images/alpine-3.20.yaml", "repository: library/alpine\ntag: '3.20'\n");
  const Manifests m = synthesize(load_state(dir.path()), golden_options());
  EXPECT_EQ(m.yaml.find("s3cr3t"), std::string::npos);
  EXPECT_NE(m.yaml.find("repoURL: https://github.com/a/app.git\n"), std::string::npos);
  EXPECT_NE(m.yaml.find("https://api.github.com/repos/a/app/actions/workflows/app.yml/dispatches"), std::string::npos);
}

TEST(KargoSynth, EmptyEnrollment) {
  imgf::test::TempDir dir;
  dir.write("images.yaml", "# nothing enrolled yet\n");
  const Manifests m = synthesize(load_state(dir.path()), Options{});
  EXPECT_EQ(m.documents, 4u) << m.yaml;  // Namespace, Project, ProjectConfig, ServiceAccount
  EXPECT_EQ(m.stages + m.warehouses + m.analysis_templates, 0u);
  EXPECT_NE(m.yaml.find("kind: ProjectConfig"), std::string::npos);
}

TEST(KargoSynth, BadRegexInAStateFileNamesFileAndLine) {
  imgf::test::TempDir dir;
  dir.write("images.yaml", "- name: app\n  registry: ghcr.io\n  repository: a/app\n  source:\n    repo: a/app\n");
  dir.write("images/app.yaml", "baseImages:\n  - alpine-3.20\n");
  const auto base = dir.write("base-images/alpine-3.20.yaml",
                              "name: alpine-3.20\nrepository: library/alpine\ntag: '3.20'\nallowTags: ^(3\\.20$\n");
  const auto e = catch_error([&] { (void)synthesize(load_state(dir.path()), golden_options()); });
  EXPECT_EQ(e.exit_code(), 2);
  EXPECT_EQ(e.file(), base.string());
  EXPECT_EQ(e.line(), 4);
  EXPECT_NE(e.formatted().find("allowTags '^(3\\.20$' is not a valid regular expression"), std::string::npos)
      << e.formatted();
}

TEST(KargoSynth, BadRegexInImagesYamlNamesItsLine) {
  imgf::test::TempDir dir;
  // RE2 accepts \C, so images.yaml loads; Go (Kargo) would refuse it: synth reports the line.
  const auto images = dir.write("images.yaml", "- name: redis\n  registry: docker.io\n  repository: library/redis\n"
                                               "  allowTags: ^7\\C$\n");
  const auto e = catch_error([&] { (void)synthesize(load_state(dir.path()), golden_options()); });
  EXPECT_EQ(e.exit_code(), 2);
  EXPECT_EQ(e.file(), images.string());
  EXPECT_EQ(e.line(), 4);
}

TEST(KargoSynth, RefusesWhatKargoWouldRefuse) {
  imgf::test::TempDir dir;
  const auto images = dir.write("images.yaml", "- name: app\n  registry: ghcr.io\n  repository: a/app\n  source:\n"
                                               "    repo: a/app\n    branch: feature/\n");
  auto e = catch_error([&] { (void)synthesize(load_state(dir.path()), golden_options()); });
  EXPECT_EQ(e.file(), images.string());
  EXPECT_EQ(e.line(), 5) << e.formatted();
  EXPECT_NE(e.formatted().find("branch 'feature/'"), std::string::npos);

  dir.write("images.yaml", "- name: app\n  registry: ghcr.io\n  repository: a/app\n  source:\n    repo: a/app\n");
  dir.write("images/app.yaml", "baseImages:\n  - weird\n");
  const auto base = dir.write("base-images/weird.yaml", "repository: library/x\nimageSelectionStrategy: Newest\n");
  e = catch_error([&] { (void)synthesize(load_state(dir.path()), golden_options()); });
  EXPECT_EQ(e.file(), base.string());
  EXPECT_EQ(e.line(), 2);
}

TEST(KargoSynth, ValidatesOptions) {
  auto bad = [](auto mutate) {
    Options o;
    mutate(o);
    EXPECT_THROW(validate(o), imgf::Error);
  };
  EXPECT_NO_THROW(validate(Options{}));
  bad([](Options& o) { o.namespace_name = "Image_Factory"; });
  bad([](Options& o) { o.namespace_name = std::string(64, 'a'); });
  bad([](Options& o) { o.builder_image = "has space:1"; });
  bad([](Options& o) { o.builder_image = ""; });
  bad([](Options& o) { o.base_interval = "1d"; });
  bad([](Options& o) { o.registry_secret = "Bad_Secret"; });
  bad([](Options& o) { o.state_repo = "not a url"; });
  bad([](Options& o) { o.state_repo = "https://user:token@github.com/a/state.git"; });
  bad([](Options& o) { o.state_branch = "-x"; });
  bad([](Options& o) { o.state_path = "../up"; });
  bad([](Options& o) { o.namespace_labels = {{"bad key!", "v"}}; });
  bad([](Options& o) { o.namespace_labels = {{"ok", std::string(64, 'v')}}; });
  Options good;
  good.namespace_labels = {{"secrets/gh-docker-registry", "true"}, {"kargo.deps/ghcr", "true"}};
  good.image_interval = "1h30m";
  EXPECT_NO_THROW(validate(good));
}

TEST(KargoSynth, NamespaceLabelsAreSorted) {
  Options o = golden_options();
  o.namespace_labels = {{"secrets/gh-docker-registry", "true"}, {"kargo.deps/ghcr", "true"}};
  const auto docs = parse_all(synthesize(load_state(data_dir() / "state"), o).yaml);
  ASSERT_EQ(docs[0]["kind"].as<std::string>(), "Namespace");
  std::vector<std::string> keys;
  for (const auto& kv : docs[0]["metadata"]["labels"]) keys.push_back(kv.first.as<std::string>());
  EXPECT_EQ(keys, (std::vector<std::string>{"app.kubernetes.io/managed-by", "kargo.akuity.io/project",
                                            "kargo.deps/ghcr", "secrets/gh-docker-registry"}));
}

// The original tool's Namespace labels are kept by default (a cluster set up for it copies
// its registry Secret into namespaces carrying them), can be dropped, and --namespace-label
// overrides their value.
TEST(KargoSynth, OriginalNamespaceLabelsByDefault) {
  auto labels_of = [](const Options& o) {
    std::map<std::string, std::string> out;
    const auto docs = parse_all(synthesize(load_state(data_dir() / "state"), o).yaml);
    for (const auto& kv : docs[0]["metadata"]["labels"]) out[kv.first.as<std::string>()] = kv.second.as<std::string>();
    return out;
  };
  Options o = golden_options();
  auto l = labels_of(o);
  EXPECT_EQ(l.at("secrets/gh-docker-registry"), "true");
  EXPECT_EQ(l.at("kargo.deps/ghcr"), "true");
  EXPECT_EQ(l.at("kargo.akuity.io/project"), "true");
  o.original_namespace_labels = false;
  l = labels_of(o);
  EXPECT_FALSE(l.contains("secrets/gh-docker-registry"));
  EXPECT_FALSE(l.contains("kargo.deps/ghcr"));
  EXPECT_EQ(l.at("kargo.akuity.io/project"), "true");
  o.original_namespace_labels = true;
  o.namespace_labels = {{"kargo.deps/ghcr", "false"}, {"team", "images"}};
  l = labels_of(o);
  EXPECT_EQ(l.at("kargo.deps/ghcr"), "false");
  EXPECT_EQ(l.at("team"), "images");
}

// The original tool's state repository: everything its own CDK8s output got wrong is right.
TEST(KargoSynth, OriginalStateRepository) {
  IMGF_REQUIRE_SHARED(shared);
  const Manifests m = synthesize(load_state(shared / "fixtures" / "image-factory-state"), Options{});
  std::map<std::string, int> kinds;
  for (const auto& doc : parse_all(m.yaml)) {
    const std::string kind = doc["kind"].as<std::string>();
    const std::string name = doc["metadata"]["name"].as<std::string>();
    ++kinds[kind];
    EXPECT_NE(kind, "ConfigMap") << "no source code in ConfigMaps";
    if (kind == "Stage") {
      EXPECT_LE(name.size(), 63u) << name;
    }
  }
  EXPECT_EQ(kinds["Stage"], 14) << "5 analysis Stages (one per enrolled image), 4 base gates and 5 (base, image) "
                                    "pairs; no build Stages: every image is built by its GitHub workflow";
  EXPECT_EQ(kinds["Warehouse"], 14) << "5 published images, 5 sources and 4 base images";
  EXPECT_EQ(m.yaml.find("semverConstraint"), std::string::npos);
  EXPECT_EQ(m.yaml.find(" allowTags:"), std::string::npos);
  EXPECT_EQ(m.yaml.find("app.py"), std::string::npos) << "no Python in the cluster";
  EXPECT_NE(m.yaml.find("name: rebuild-trigger-e2e-test-runner-from-mcr.microsoft.c-6833a2fbf9\n"), std::string::npos);
}
