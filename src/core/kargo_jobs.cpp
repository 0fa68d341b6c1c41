// The AnalysisTemplates and the Jobs they run in the builder image: pod spec, security
// context, volumes, the state repository checkout. See kargo_internal.hpp.
#include "kargo_internal.hpp"

namespace imgf::kargo::detail {
namespace {

// The builder image's rootless security context: user/group 1000, no privilege escalation,
// every capability dropped except SETUID and SETGID (newuidmap/newgidmap for buildah's user
// namespace) when building, RuntimeDefault seccomp.
Node container_security_context(bool build) {
  Node sc = Node::map();
  sc.set("runAsUser", Node::integer(1000));
  sc.set("runAsGroup", Node::integer(1000));
  sc.set("runAsNonRoot", Node::boolean(true));
  sc.set("allowPrivilegeEscalation", Node::boolean(false));
  Node& caps = sc.set("capabilities", Node::map());
  caps.set("drop", string_seq({"ALL"}));
  if (build) caps.set("add", string_seq({"SETGID", "SETUID"}));
  sc.set("seccompProfile", Node::map()).set("type", "RuntimeDefault");
  return sc;
}

std::string state_dir_in_pod(const Options& o) {
  std::string d = std::string(kWorkspace) + "/state";
  if (o.state_path != "." && !o.state_path.empty()) d += "/" + o.state_path;
  return d;
}

}  // namespace

Node analysis_template(const Options& o, const std::string& ns, bool build) {
  const std::string name = build ? kBuildTemplate : kAnalyzeTemplate;
  const std::string component = build ? "build" : "analyze";
  Node doc = object("argoproj.io/v1alpha1", "AnalysisTemplate", name, &ns, {{kRoleKey, component}});
  Node& spec = doc.set("spec", Node::map());
  spec.set("args", Node::seq()).push(named("image"));
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
  pod.set("imagePullSecrets", Node::seq()).push(named(o.registry_secret));
  Node& psc = pod.set("securityContext", Node::map());
  psc.set("runAsUser", Node::integer(1000));
  psc.set("runAsGroup", Node::integer(1000));
  psc.set("runAsNonRoot", Node::boolean(true));
  psc.set("fsGroup", Node::integer(1000));
  psc.set("seccompProfile", Node::map()).set("type", "RuntimeDefault");

  // init: clone the state repository (no shell: Kubernetes expands $(VAR) from env)
  Node& init = pod.set("initContainers", Node::seq()).push(named("checkout-state"));
  init.set("image", o.builder_image);
  init.set("imagePullPolicy", "IfNotPresent");
  init.set("command", string_seq({"git", "clone", "--depth", "1", "--single-branch", "--branch", "$(STATE_BRANCH)",
                                  "--", "$(STATE_REPO_URL)", std::string(kWorkspace) + "/state"}));
  Node& ienv = init.set("env", Node::seq());
  ienv.push(env_value("HOME", kWorkspace));
  if (o.state_repo.empty()) ienv.push(env_secret("STATE_REPO_URL", o.state_repo_secret, "repoURL", false));
  else ienv.push(env_value("STATE_REPO_URL", o.state_repo));
  ienv.push(env_value("STATE_BRANCH", o.state_branch));
  init.set("securityContext", container_security_context(false));
  init.set("volumeMounts", Node::seq()).push(mount("workspace", kWorkspace));

  Node& c = pod.set("containers", Node::seq()).push(named(component));
  c.set("image", o.builder_image);
  c.set("imagePullPolicy", "IfNotPresent");
  c.set("command", string_seq({"imgfactory"}));
  std::vector<std::string> args = {"--state-dir", state_dir_in_pod(o), "--log-format", "json"};
  if (build) {
    args.insert(args.end(), {"build", "{{args.image}}"});
  } else {
    args.insert(args.end(), {"analyze", "--image", "{{args.image}}"});
  }
  c.set("args", string_seq(args));
  Node& env = c.set("env", Node::seq());
  env.push(env_value("HOME", kHome));
  if (build) env.push(env_value("BUILDAH_ISOLATION", "chroot"));
  env.push(env_value("REGISTRY_AUTH_FILE", std::string(kRegistryAuthDir) + "/auth.json"));
  env.push(env_secret("GITHUB_TOKEN", o.git_credentials_secret, "password", true));
  c.set("securityContext", container_security_context(build));
  Node& mounts = c.set("volumeMounts", Node::seq());
  mounts.push(mount("workspace", kWorkspace));
  if (build) mounts.push(mount("containers-storage", std::string(kHome) + "/.local/share/containers"));
  mounts.push(mount("registry-auth", kRegistryAuthDir, true));

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
  return doc;
}

}  // namespace imgf::kargo::detail
