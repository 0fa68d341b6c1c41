// The AnalysisTemplates and the Jobs they run in the builder image: pod spec, security
// context per --build-security mode, volumes, the state repository checkout, the options the
// analyze Job passes back to synth. See kargo_internal.hpp and docs/synth.md "The Jobs".
#include "kargo_internal.hpp"

namespace imgf::kargo {

std::optional<BuildSecurity> parse_build_security(std::string_view text) {
  if (text == "userns") return BuildSecurity::userns;
  if (text == "rootless") return BuildSecurity::rootless;
  if (text == "privileged") return BuildSecurity::privileged;
  return std::nullopt;
}

std::string_view to_string(BuildSecurity mode) {
  switch (mode) {
    case BuildSecurity::userns: return "userns";
    case BuildSecurity::rootless: return "rootless";
    case BuildSecurity::privileged: return "privileged";
  }
  return "userns";
}

std::vector<std::string> synth_flags(const Options& o) {
  std::vector<std::string> f = {"--namespace",         o.namespace_name,      "--builder-image",  o.builder_image,
                                "--state-repo",        o.state_repo,          "--state-branch",   o.state_branch,
                                "--state-path",        o.state_path,          "--state-repo-secret", o.state_repo_secret,
                                "--registry-secret",   o.registry_secret,     "--github-token-secret", o.github_token_secret,
                                "--git-credentials-secret", o.git_credentials_secret,
                                "--image-interval",    o.image_interval,      "--base-interval",  o.base_interval,
                                "--rebuild-spread",    o.rebuild_spread,
                                "--build-security",    std::string(to_string(o.build_security)),
                                "--cache-repo",        o.cache_repo,
                                "--git-author-name",   o.git_author_name,     "--git-author-email", o.git_author_email};
  if (!o.original_namespace_labels) f.emplace_back("--no-original-namespace-labels");
  for (const auto& [k, v] : o.namespace_labels) {
    f.emplace_back("--namespace-label");
    f.push_back(k + "=" + v);
  }
  return f;
}

namespace detail {
namespace {

// The restricted context of everything that runs no buildah (the analyze Job, and every
// checkout): user/group 1000, no privilege escalation, no capabilities, RuntimeDefault seccomp.
Node restricted_context() {
  Node sc = Node::map();
  sc.set("runAsUser", Node::integer(1000));
  sc.set("runAsGroup", Node::integer(1000));
  sc.set("runAsNonRoot", Node::boolean(true));
  sc.set("allowPrivilegeEscalation", Node::boolean(false));
  sc.set("capabilities", Node::map()).set("drop", string_seq({"ALL"}));
  sc.set("seccompProfile", Node::map()).set("type", "RuntimeDefault");
  return sc;
}

// The checkout in the root modes: the same user as the build container (root, in the pod's
// user namespace or not), so libgit2 accepts the work tree as the current user's; nothing
// else is granted.
Node root_checkout_context() {
  Node sc = Node::map();
  sc.set("runAsUser", Node::integer(0));
  sc.set("runAsGroup", Node::integer(0));
  sc.set("runAsNonRoot", Node::boolean(false));
  sc.set("allowPrivilegeEscalation", Node::boolean(false));
  sc.set("capabilities", Node::map()).set("drop", string_seq({"ALL"}));
  sc.set("seccompProfile", Node::map()).set("type", "RuntimeDefault");
  return sc;
}

// The capabilities buildah needs as root inside the pod's user namespace (all of them
// namespaced: they act on the pod's own user namespace and its mounts only): SYS_ADMIN for
// unshare/mount of the build's namespaces (RuntimeDefault allows them only with it),
// SYS_CHROOT for chroot isolation, SETUID/SETGID for RUN steps that change user and
// supplementary groups, CHOWN/DAC_OVERRIDE/FOWNER/FSETID/SETFCAP to extract layers with
// other owners, modes and file capabilities.
const std::vector<std::string>& userns_capabilities() {
  static const std::vector<std::string> caps = {"CHOWN",  "DAC_OVERRIDE", "FOWNER",    "FSETID",   "SETFCAP",
                                                "SETGID", "SETUID",       "SYS_ADMIN", "SYS_CHROOT"};
  return caps;
}

Node build_context(BuildSecurity mode) {
  Node sc = Node::map();
  switch (mode) {
    case BuildSecurity::userns: {
      sc.set("runAsUser", Node::integer(0));
      sc.set("runAsGroup", Node::integer(0));
      sc.set("runAsNonRoot", Node::boolean(false));
      // The API server refuses allowPrivilegeEscalation: false with SYS_ADMIN added.
      sc.set("allowPrivilegeEscalation", Node::boolean(true));
      Node& caps = sc.set("capabilities", Node::map());
      caps.set("drop", string_seq({"ALL"}));
      caps.set("add", string_seq(userns_capabilities()));
      sc.set("seccompProfile", Node::map()).set("type", "RuntimeDefault");
      break;
    }
    case BuildSecurity::rootless: {
      sc.set("runAsUser", Node::integer(1000));
      sc.set("runAsGroup", Node::integer(1000));
      sc.set("runAsNonRoot", Node::boolean(true));
      // newuidmap/newgidmap are setuid (Debian) or carry file capabilities (UBI): no_new_privs
      // would stop them.
      sc.set("allowPrivilegeEscalation", Node::boolean(true));
      Node& caps = sc.set("capabilities", Node::map());
      caps.set("drop", string_seq({"ALL"}));
      caps.set("add", string_seq({"SETGID", "SETUID"}));
      // RuntimeDefault (and AppArmor's runtime/default) refuse unshare(CLONE_NEWUSER) and
      // mount to a process without SYS_ADMIN.
      sc.set("seccompProfile", Node::map()).set("type", "Unconfined");
      sc.set("appArmorProfile", Node::map()).set("type", "Unconfined");
      break;
    }
    case BuildSecurity::privileged: {
      sc.set("runAsUser", Node::integer(0));
      sc.set("runAsGroup", Node::integer(0));
      sc.set("runAsNonRoot", Node::boolean(false));
      sc.set("privileged", Node::boolean(true));
      sc.set("allowPrivilegeEscalation", Node::boolean(true));
      break;
    }
  }
  return sc;
}

bool root_mode(const Options& o, bool build) { return build && o.build_security != BuildSecurity::rootless; }

std::string state_dir_in_pod(const Options& o) {
  std::string d = std::string(kWorkspace) + "/state";
  if (o.state_path != "." && !o.state_path.empty()) d += "/" + o.state_path;
  return d;
}

Node template_arg(const std::string& name, bool optional) {
  Node n = named(name);
  if (optional) n.set("value", "");  // absent from the Stage: the Job treats "" as not given
  return n;
}

}  // namespace

Node analysis_template(const Options& o, const std::string& ns, bool build) {
  const std::string name = build ? kBuildTemplate : kAnalyzeTemplate;
  const std::string component = build ? "build" : "analyze";
  const bool root = root_mode(o, build);
  Node doc = object("argoproj.io/v1alpha1", "AnalysisTemplate", name, &ns, {{kRoleKey, component}});
  Node& spec = doc.set("spec", Node::map());
  Node& targs = spec.set("args", Node::seq());
  targs.push(template_arg("image", false));
  if (build) targs.push(template_arg("baseRef", true));
  targs.push(template_arg("revision", true));
  Node& metric = spec.set("metrics", Node::seq()).push(named(component));
  Node& job = metric.set("provider", Node::map()).set("job", Node::map());
  job.set("metadata", Node::map()).set("labels", labels_node({{kManagedByKey, kManagedBy}, {kRoleKey, component}}));
  Node& jspec = job.set("spec", Node::map());
  jspec.set("backoffLimit", Node::integer(0));
  jspec.set("activeDeadlineSeconds", Node::integer(build ? 7200 : 1800));
  Node& pod = jspec.set("template", Node::map()).set("spec", Node::map());
  pod.set("serviceAccountName", o.service_account);
  pod.set("automountServiceAccountToken", Node::boolean(false));
  pod.set("restartPolicy", "Never");
  if (build && o.build_security == BuildSecurity::userns) pod.set("hostUsers", Node::boolean(false));
  pod.set("imagePullSecrets", Node::seq()).push(named(o.registry_secret));
  Node& psc = pod.set("securityContext", Node::map());
  if (!root) {
    psc.set("runAsUser", Node::integer(1000));
    psc.set("runAsGroup", Node::integer(1000));
    psc.set("runAsNonRoot", Node::boolean(true));
  }
  psc.set("fsGroup", Node::integer(1000));
  psc.set("seccompProfile", Node::map()).set("type", "RuntimeDefault");

  // init: a full clone of the state branch (no --depth: --git-push cannot push from a shallow
  // clone; no --filter: libgit2 cannot read a partial clone). No shell: Kubernetes expands
  // $(VAR) from env. A credentials file from the git Secret, when there is one, is offered
  // through git's store helper (which ignores a missing file).
  Node& init = pod.set("initContainers", Node::seq()).push(named("checkout-state"));
  init.set("image", o.builder_image);
  init.set("imagePullPolicy", "IfNotPresent");
  init.set("command", string_seq({"git", "-c", "credential.helper=store --file=$(IMGFACTORY_GIT_CREDENTIALS)", "clone",
                                  "--single-branch", "--branch", "$(STATE_BRANCH)", "--", "$(STATE_REPO_URL)",
                                  std::string(kWorkspace) + "/state"}));
  Node& ienv = init.set("env", Node::seq());
  ienv.push(env_value("HOME", kWorkspace));
  if (o.state_repo.empty()) ienv.push(env_secret("STATE_REPO_URL", o.state_repo_secret, "repoURL", false));
  else ienv.push(env_value("STATE_REPO_URL", o.state_repo));
  ienv.push(env_value("STATE_BRANCH", o.state_branch));
  ienv.push(env_value("IMGFACTORY_GIT_CREDENTIALS", std::string(kGitCredentialsDir) + "/git-credentials"));
  ienv.push(env_value("GIT_TERMINAL_PROMPT", "0"));
  init.set("securityContext", root ? root_checkout_context() : restricted_context());
  Node& imounts = init.set("volumeMounts", Node::seq());
  imounts.push(mount("workspace", kWorkspace));
  imounts.push(mount("git-credentials", kGitCredentialsDir, true));

  Node& c = pod.set("containers", Node::seq()).push(named(component));
  c.set("image", o.builder_image);
  c.set("imagePullPolicy", "IfNotPresent");
  c.set("command", string_seq({"imgfactory"}));
  std::vector<std::string> args = {"--state-dir", state_dir_in_pod(o), "--log-format", "json", "--git-push"};
  if (build) {
    args.insert(args.end(), {"build", "{{args.image}}", "--if-changed", "--base", "{{args.baseRef}}", "--revision",
                             "{{args.revision}}"});
    if (!o.cache_repo.empty()) args.insert(args.end(), {"--cache-from", o.cache_repo, "--cache-to", o.cache_repo});
  } else {
    args.insert(args.end(), {"analyze", "--image", "{{args.image}}"});
    if (!o.manifests_path.empty()) {
      args.insert(args.end(), {"--synth", o.manifests_path});
      const auto flags = synth_flags(o);
      args.insert(args.end(), flags.begin(), flags.end());
    }
  }
  c.set("args", string_seq(args));
  Node& env = c.set("env", Node::seq());
  env.push(env_value("HOME", root ? "/root" : kHome));
  if (build) {
    env.push(env_value("BUILDAH_ISOLATION", "chroot"));
    // vfs needs neither /dev/fuse nor overlay mounts in a user namespace; privileged keeps the
    // image's storage.conf (overlay).
    if (o.build_security != BuildSecurity::privileged) env.push(env_value("STORAGE_DRIVER", "vfs"));
  }
  env.push(env_value("REGISTRY_AUTH_FILE", std::string(kRegistryAuthDir) + "/auth.json"));
  env.push(env_value("IMGFACTORY_GIT_AUTHOR_NAME", o.git_author_name));
  env.push(env_value("IMGFACTORY_GIT_AUTHOR_EMAIL", o.git_author_email));
  env.push(env_value("IMGFACTORY_GIT_CREDENTIALS", std::string(kGitCredentialsDir) + "/git-credentials"));
  env.push(env_secret("GITHUB_TOKEN", o.git_credentials_secret, "password", true));
  env.push(env_secret("GITLAB_TOKEN", o.git_credentials_secret, "gitlab-token", true));
  env.push(env_secret("GH_HOST", o.git_credentials_secret, "github-host", true));
  env.push(env_secret("GITLAB_HOST", o.git_credentials_secret, "gitlab-host", true));
  c.set("securityContext", build ? build_context(o.build_security) : restricted_context());
  Node& mounts = c.set("volumeMounts", Node::seq());
  mounts.push(mount("workspace", kWorkspace));
  if (build) mounts.push(mount("containers-storage", root ? "/var/lib/containers" : std::string(kHome) + "/.local/share/containers"));
  mounts.push(mount("registry-auth", kRegistryAuthDir, true));
  mounts.push(mount("git-credentials", kGitCredentialsDir, true));

  Node& vols = pod.set("volumes", Node::seq());
  vols.push(named("workspace")).set("emptyDir", Node::map());
  if (build) vols.push(named("containers-storage")).set("emptyDir", Node::map());
  Node& auth = vols.push(named("registry-auth")).set("secret", Node::map());
  auth.set("secretName", o.registry_secret);
  Node& item = auth.set("items", Node::seq()).push(Node::map());
  item.set("key", ".dockerconfigjson");
  item.set("path", "auth.json");
  // analyze only reads registries (and works anonymously); a build must be able to push.
  if (!build) auth.set("optional", Node::boolean(true));
  Node& gitcred = vols.push(named("git-credentials")).set("secret", Node::map());
  gitcred.set("secretName", o.git_credentials_secret);
  Node& gitem = gitcred.set("items", Node::seq()).push(Node::map());
  gitem.set("key", "git-credentials");
  gitem.set("path", "git-credentials");
  gitcred.set("defaultMode", Node::integer(0440));  // root and the fsGroup (uid 1000 reads it)
  gitcred.set("optional", Node::boolean(true));
  return doc;
}

}  // namespace detail
}  // namespace imgf::kargo
