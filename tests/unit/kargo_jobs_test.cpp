// The AnalysisTemplates' Jobs (src/core/kargo_jobs.cpp): the pod spec of the build Job in each
// --build-security mode, the analyze Job's restricted context and its `analyze --synth`
// arguments (synth's own options, reproduced), the template args and their defaults, the
// full-clone checkout, git identity and credentials, the layer cache, option validation.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "imgfactory/error.hpp"
#include "imgfactory/kargo.hpp"
#include "testutil.hpp"

using namespace imgf::kargo;
namespace fs = std::filesystem;

namespace {

Input load_state() {
  const fs::path root = imgf::test::source_dir() / "tests" / "data" / "synth" / "state";
  return load_input(imgf::enrollment::layout_for(root), imgf::enrollment::load(root / "images.yaml"));
}

Options base_options() {
  Options o;
  o.state_repo = "https://github.com/acme/image-factory-state.git";
  return o;
}

YAML::Node template_named(const Manifests& m, const std::string& name) {
  for (const auto& doc : YAML::LoadAll(m.yaml))
    if (doc["kind"].as<std::string>() == "AnalysisTemplate" && doc["metadata"]["name"].as<std::string>() == name)
      return doc;
  ADD_FAILURE() << "no AnalysisTemplate " << name;
  return {};
}

YAML::Node pod_of(const YAML::Node& tmpl) { return tmpl["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"]; }

std::vector<std::string> strings(const YAML::Node& seq) {
  std::vector<std::string> out;
  for (const auto& s : seq) out.push_back(s.as<std::string>());
  return out;
}

std::set<std::string> set_of(const YAML::Node& seq) {
  std::set<std::string> out;
  for (const auto& s : seq) out.insert(s.as<std::string>());
  return out;
}

std::map<std::string, YAML::Node> env_of(const YAML::Node& container) {
  std::map<std::string, YAML::Node> out;
  for (const auto& e : container["env"]) out[e["name"].as<std::string>()] = e;
  return out;
}

std::map<std::string, std::string> mounts_of(const YAML::Node& container) {
  std::map<std::string, std::string> out;
  for (const auto& m : container["volumeMounts"]) out[m["name"].as<std::string>()] = m["mountPath"].as<std::string>();
  return out;
}

YAML::Node build_pod(BuildSecurity mode, Options o = base_options()) {
  o.build_security = mode;
  return pod_of(template_named(synthesize(load_state(), o), "image-factory-build"));
}

TEST(KargoJobs, TemplateArgsDeclareDefaultsForTheOptionalOnes) {
  const Manifests m = synthesize(load_state(), base_options());
  const auto build = template_named(m, "image-factory-build")["spec"]["args"];
  ASSERT_EQ(build.size(), 3u);
  EXPECT_EQ(build[0]["name"].as<std::string>(), "image");
  EXPECT_FALSE(build[0]["value"]) << "image is required";
  EXPECT_EQ(build[1]["name"].as<std::string>(), "baseRef");
  EXPECT_EQ(build[1]["value"].as<std::string>(), "");
  EXPECT_EQ(build[2]["name"].as<std::string>(), "revision");
  EXPECT_EQ(build[2]["value"].as<std::string>(), "");
  const auto analyze = template_named(m, "image-factory-analyze")["spec"]["args"];
  ASSERT_EQ(analyze.size(), 2u);
  EXPECT_EQ(analyze[1]["name"].as<std::string>(), "revision");
  EXPECT_EQ(analyze[1]["value"].as<std::string>(), "");
  EXPECT_NE(m.yaml.find("          value: \"\"\n"), std::string::npos) << "the empty default is written quoted";
}

TEST(KargoJobs, TheBuildJobBuildsPinsRecordsAndPushes) {
  Options o = base_options();
  o.state_path = "image-factory";
  o.cache_repo = "ghcr.io/acme/image-factory-cache";
  const auto pod = build_pod(BuildSecurity::userns, o);
  const auto c = pod["containers"][0];
  EXPECT_EQ(strings(c["command"]), std::vector<std::string>{"imgfactory"});
  EXPECT_EQ(strings(c["args"]),
            (std::vector<std::string>{"--state-dir", "/workspace/state/image-factory", "--log-format", "json",
                                      "--git-push", "build", "{{args.image}}", "--if-changed", "--base",
                                      "{{args.baseRef}}", "--revision", "{{args.revision}}", "--cache-from",
                                      "ghcr.io/acme/image-factory-cache", "--cache-to",
                                      "ghcr.io/acme/image-factory-cache"}));
  const auto env = env_of(c);
  EXPECT_EQ(env.at("IMGFACTORY_GIT_AUTHOR_NAME")["value"].as<std::string>(), "imgfactory");
  EXPECT_EQ(env.at("IMGFACTORY_GIT_AUTHOR_EMAIL")["value"].as<std::string>(), "imgfactory@localhost");
  EXPECT_EQ(env.at("IMGFACTORY_GIT_CREDENTIALS")["value"].as<std::string>(), "/run/secrets/git/git-credentials");
  EXPECT_EQ(env.at("REGISTRY_AUTH_FILE")["value"].as<std::string>(), "/run/secrets/registry/auth.json");
  EXPECT_EQ(env.at("BUILDAH_ISOLATION")["value"].as<std::string>(), "chroot");
  for (const auto& [name, key] : std::map<std::string, std::string>{
           {"GITHUB_TOKEN", "password"}, {"GITLAB_TOKEN", "gitlab-token"}, {"GH_HOST", "github-host"},
           {"GITLAB_HOST", "gitlab-host"}}) {
    const auto ref = env.at(name)["valueFrom"]["secretKeyRef"];
    EXPECT_EQ(ref["name"].as<std::string>(), "github-credentials") << name;
    EXPECT_EQ(ref["key"].as<std::string>(), key) << name;
    EXPECT_TRUE(ref["optional"].as<bool>()) << name;
  }
  // the git Secret's store file, optional, readable by root and the fsGroup only
  bool found = false;
  for (const auto& v : pod["volumes"])
    if (v["name"].as<std::string>() == "git-credentials") {
      found = true;
      EXPECT_EQ(v["secret"]["secretName"].as<std::string>(), "github-credentials");
      EXPECT_EQ(v["secret"]["items"][0]["key"].as<std::string>(), "git-credentials");
      EXPECT_EQ(v["secret"]["defaultMode"].as<int>(), 0440);
      EXPECT_TRUE(v["secret"]["optional"].as<bool>());
    }
  EXPECT_TRUE(found);
}

TEST(KargoJobs, TheCheckoutIsAFullCloneOfOneBranch) {
  for (auto mode : {BuildSecurity::userns, BuildSecurity::rootless, BuildSecurity::privileged}) {
    const auto init = build_pod(mode)["initContainers"][0];
    const auto cmd = strings(init["command"]);
    EXPECT_EQ(cmd, (std::vector<std::string>{"git", "-c",
                                             "credential.helper=store --file=$(IMGFACTORY_GIT_CREDENTIALS)", "clone",
                                             "--single-branch", "--branch", "$(STATE_BRANCH)", "--",
                                             "$(STATE_REPO_URL)", "/workspace/state"}));
    for (const auto& a : cmd) {
      EXPECT_EQ(a.find("--depth"), std::string::npos) << "--git-push refuses shallow clones";
      EXPECT_EQ(a.find("--filter"), std::string::npos) << "libgit2 1.5 cannot read partial clones";
    }
    EXPECT_FALSE(init["securityContext"]["allowPrivilegeEscalation"].as<bool>());
    EXPECT_EQ(set_of(init["securityContext"]["capabilities"]["drop"]), std::set<std::string>{"ALL"});
    EXPECT_FALSE(init["securityContext"]["capabilities"]["add"]);
  }
}

TEST(KargoJobs, UsernsModeRunsRootInThePodsUserNamespace) {
  const auto pod = build_pod(BuildSecurity::userns);
  EXPECT_FALSE(pod["hostUsers"].as<bool>());
  EXPECT_FALSE(pod["securityContext"]["runAsUser"]) << "the pod level leaves the user to the containers";
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault");
  const auto c = pod["containers"][0];
  const auto sc = c["securityContext"];
  EXPECT_EQ(sc["runAsUser"].as<int>(), 0);
  EXPECT_EQ(sc["runAsGroup"].as<int>(), 0);
  EXPECT_FALSE(sc["runAsNonRoot"].as<bool>());
  EXPECT_TRUE(sc["allowPrivilegeEscalation"].as<bool>()) << "the API refuses false together with SYS_ADMIN";
  EXPECT_FALSE(sc["privileged"]);
  EXPECT_EQ(set_of(sc["capabilities"]["drop"]), std::set<std::string>{"ALL"});
  EXPECT_EQ(set_of(sc["capabilities"]["add"]),
            (std::set<std::string>{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETFCAP", "SETGID", "SETUID",
                                   "SYS_ADMIN", "SYS_CHROOT"}));
  EXPECT_EQ(sc["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault");
  EXPECT_FALSE(sc["appArmorProfile"]);
  const auto env = env_of(c);
  EXPECT_EQ(env.at("STORAGE_DRIVER")["value"].as<std::string>(), "vfs");
  EXPECT_EQ(env.at("HOME")["value"].as<std::string>(), "/root");
  EXPECT_EQ(mounts_of(c).at("containers-storage"), "/var/lib/containers");
  // the checkout runs as the same user, so libgit2 accepts the work tree as its own
  EXPECT_EQ(pod["initContainers"][0]["securityContext"]["runAsUser"].as<int>(), 0);
}

TEST(KargoJobs, RootlessModeIsTheSeedsWithWhatItNeeds) {
  const auto pod = build_pod(BuildSecurity::rootless);
  EXPECT_FALSE(pod["hostUsers"]);
  EXPECT_EQ(pod["securityContext"]["runAsUser"].as<int>(), 1000);
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>());
  const auto c = pod["containers"][0];
  const auto sc = c["securityContext"];
  EXPECT_EQ(sc["runAsUser"].as<int>(), 1000);
  EXPECT_TRUE(sc["runAsNonRoot"].as<bool>());
  EXPECT_TRUE(sc["allowPrivilegeEscalation"].as<bool>()) << "newuidmap is setuid / has file capabilities";
  EXPECT_EQ(set_of(sc["capabilities"]["add"]), (std::set<std::string>{"SETGID", "SETUID"}));
  EXPECT_EQ(sc["seccompProfile"]["type"].as<std::string>(), "Unconfined");
  EXPECT_EQ(sc["appArmorProfile"]["type"].as<std::string>(), "Unconfined");
  EXPECT_EQ(env_of(c).at("STORAGE_DRIVER")["value"].as<std::string>(), "vfs");
  EXPECT_EQ(env_of(c).at("HOME")["value"].as<std::string>(), "/home/builder");
  EXPECT_EQ(mounts_of(c).at("containers-storage"), "/home/builder/.local/share/containers");
  EXPECT_EQ(pod["initContainers"][0]["securityContext"]["runAsUser"].as<int>(), 1000);
}

TEST(KargoJobs, PrivilegedModeIsPrivilegedRoot) {
  const auto pod = build_pod(BuildSecurity::privileged);
  EXPECT_FALSE(pod["hostUsers"]);
  const auto c = pod["containers"][0];
  const auto sc = c["securityContext"];
  EXPECT_TRUE(sc["privileged"].as<bool>());
  EXPECT_EQ(sc["runAsUser"].as<int>(), 0);
  EXPECT_FALSE(sc["capabilities"]);
  EXPECT_EQ(env_of(c).count("STORAGE_DRIVER"), 0u) << "the image's storage.conf (overlay)";
  EXPECT_EQ(mounts_of(c).at("containers-storage"), "/var/lib/containers");
}

TEST(KargoJobs, TheAnalyzeJobStaysRestrictedInEveryMode) {
  for (auto mode : {BuildSecurity::userns, BuildSecurity::rootless, BuildSecurity::privileged}) {
    Options o = base_options();
    o.build_security = mode;
    const auto pod = pod_of(template_named(synthesize(load_state(), o), "image-factory-analyze"));
    EXPECT_FALSE(pod["hostUsers"]);
    for (const auto* list : {"initContainers", "containers"}) {
      const auto sc = pod[list][0]["securityContext"];
      EXPECT_EQ(sc["runAsUser"].as<int>(), 1000) << list;
      EXPECT_TRUE(sc["runAsNonRoot"].as<bool>()) << list;
      EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>()) << list;
      EXPECT_FALSE(sc["capabilities"]["add"]) << list;
      EXPECT_EQ(sc["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault") << list;
    }
    EXPECT_EQ(env_of(pod["containers"][0]).count("STORAGE_DRIVER"), 0u);
  }
}

TEST(KargoJobs, TheAnalyzeJobRegeneratesTheManifestsWithSynthsOwnOptions) {
  Options o = base_options();
  o.namespace_name = "team-images";
  o.namespace_labels = {{"team", "platform"}};
  o.original_namespace_labels = false;
  o.build_security = BuildSecurity::rootless;
  o.rebuild_spread = "0s";
  const auto args = strings(pod_of(template_named(synthesize(load_state(), o), "image-factory-analyze"))["containers"][0]["args"]);
  std::vector<std::string> want = {"--state-dir", "/workspace/state", "--log-format", "json", "--git-push",
                                   "analyze",     "--image",          "{{args.image}}", "--synth",
                                   "dist/image-factory.k8s.yaml"};
  const auto flags = synth_flags(o);
  want.insert(want.end(), flags.begin(), flags.end());
  EXPECT_EQ(args, want);
  // every option that shapes the output is there, defaults included
  const std::set<std::string> given(flags.begin(), flags.end());
  for (const char* f : {"--namespace", "--builder-image", "--state-repo", "--state-branch", "--state-path",
                        "--state-repo-secret", "--registry-secret", "--github-token-secret", "--git-credentials-secret",
                        "--image-interval", "--base-interval", "--rebuild-spread", "--build-security", "--cache-repo",
                        "--git-author-name", "--git-author-email", "--no-original-namespace-labels",
                        "--namespace-label"})
    EXPECT_TRUE(given.contains(f)) << f;
  EXPECT_TRUE(given.contains("rootless"));
  EXPECT_TRUE(given.contains("team=platform"));

  o.manifests_path.clear();
  const auto none = strings(pod_of(template_named(synthesize(load_state(), o), "image-factory-analyze"))["containers"][0]["args"]);
  EXPECT_EQ(none, (std::vector<std::string>{"--state-dir", "/workspace/state", "--log-format", "json", "--git-push",
                                            "analyze", "--image", "{{args.image}}"}));
}

TEST(KargoJobs, ModesParseAndPrint) {
  for (auto mode : {BuildSecurity::userns, BuildSecurity::rootless, BuildSecurity::privileged})
    EXPECT_EQ(parse_build_security(to_string(mode)), mode);
  EXPECT_FALSE(parse_build_security("root"));
  EXPECT_EQ(Options{}.build_security, BuildSecurity::userns);
}

TEST(KargoJobs, BadJobOptionsAreRefused) {
  auto refused = [](const std::function<void(Options&)>& change) {
    Options o;
    change(o);
    try {
      validate(o);
    } catch (const imgf::Error& e) {
      return e.exit_code() == 2;
    }
    return false;
  };
  EXPECT_TRUE(refused([](Options& o) { o.cache_repo = "ghcr.io/acme/cache:latest"; }));
  EXPECT_TRUE(refused([](Options& o) { o.cache_repo = "no-registry"; }));
  EXPECT_TRUE(refused([](Options& o) { o.git_author_name = ""; }));
  EXPECT_TRUE(refused([](Options& o) { o.git_author_name = "a\nb"; }));
  EXPECT_TRUE(refused([](Options& o) { o.git_author_email = "nobody"; }));
  EXPECT_TRUE(refused([](Options& o) { o.manifests_path = "/abs/x.yaml"; }));
  EXPECT_TRUE(refused([](Options& o) { o.manifests_path = "../x.yaml"; }));
  EXPECT_FALSE(refused([](Options& o) { o.cache_repo = "127.0.0.1:5000/cache"; }));
  EXPECT_FALSE(refused([](Options& o) { o.manifests_path = ""; }));
}

}  // namespace
