// Plans the Kargo objects for an enrollment and renders them deterministically.
//
//   managed image I (source or local dir)  -> Warehouse I (published image + source repo),
//                                             Stage analyze-dockerfile-I (verified by the
//                                             analysis AnalysisTemplate)
//   external image E (enrolled, not built) -> Warehouse E
//   base image B (from images/I.yaml)      -> Warehouse B (unless B is an image we build:
//                                             then I's own Warehouse feeds the rebuild)
//   pair (B, I)                            -> Stage rebuild-trigger-I-from-B: dispatches I's
//                                             GitHub workflow, or is verified by the build
//                                             AnalysisTemplate (imgfactory build I)
//
// Documents: Namespace, Project, ProjectConfig, ServiceAccount, AnalysisTemplates,
// Warehouses, Stages; each kind sorted by name. Nothing depends on the clock, the
// environment or the order of files on disk.
#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "imgfactory/error.hpp"
#include "imgfactory/kargo.hpp"

namespace imgf::kargo {
namespace {

using yaml::Node;

constexpr const char* kKargoApi = "kargo.akuity.io/v1alpha1";
constexpr const char* kManagedByKey = "app.kubernetes.io/managed-by";
constexpr const char* kManagedBy = "imgfactory";
constexpr const char* kRoleKey = "imgfactory.io/role";
constexpr const char* kImageKey = "imgfactory.io/image";
constexpr const char* kAutoKey = "imgfactory.io/auto-promotion";
constexpr const char* kAnalyzeTemplate = "image-factory-analyze";
constexpr const char* kBuildTemplate = "image-factory-build";
constexpr const char* kHome = "/home/builder";
constexpr const char* kWorkspace = "/workspace";
constexpr const char* kRegistryAuthDir = "/run/secrets/registry";
constexpr int kImageDiscoveryLimit = 10;
constexpr int kGitDiscoveryLimit = 5;

// The patterns of Kargo v1.11's subscription schemas and CRDs, checked before writing.
const RE2& image_repo_url_re() {
  static const RE2 re(R"(^(\w+([\.-]\w+)*(:[\d]+)?/)?(\w+([\.-]\w+)*)(/\w+([\.-]\w+)*)*$)");
  return re;
}
const RE2& git_repo_url_re() {
  static const RE2 re(
      R"((?:^(ssh|https?)://(?:([\w-]+)(:(.+))?@)?([\w-]+(?:\.[\w-]+)*)(?::(\d{1,5}))?(/.*)$)|(?:^([\w-]+)@([\w+]+(?:\.[\w-]+)*):(/?.*))$)");
  return re;
}
const RE2& branch_re() {
  static const RE2 re(R"(^[a-zA-Z0-9]([a-zA-Z0-9._\/-]*[a-zA-Z0-9_-])?$)");
  return re;
}
const RE2& interval_re() {
  static const RE2 re(R"(^([0-9]+(\.[0-9]+)?(s|m|h))+$)");
  return re;
}

bool matches(const RE2& re, std::string_view s) { return RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), re); }

// ---- small YAML builders --------------------------------------------------------------

using Labels = std::vector<std::pair<std::string, std::string>>;

Node labels_node(Labels labels) {
  std::sort(labels.begin(), labels.end());
  Node n = Node::map();
  for (auto& [k, v] : labels) n.set(k, v);
  return n;
}

Node object(const char* api_version, const char* kind, const std::string& name, const std::string* ns,
            Labels labels) {
  Node doc = Node::map();
  doc.set("apiVersion", api_version);
  doc.set("kind", kind);
  Node& meta = doc.set("metadata", Node::map());
  meta.set("name", name);
  if (ns) meta.set("namespace", *ns);
  labels.emplace_back(kManagedByKey, kManagedBy);
  meta.set("labels", labels_node(std::move(labels)));
  return doc;
}

Node named(const std::string& name) {
  Node n = Node::map();
  n.set("name", name);
  return n;
}

Node env_value(const std::string& name, const std::string& value) {
  Node n = named(name);
  n.set("value", value);
  return n;
}

Node env_secret(const std::string& name, const std::string& secret, const std::string& key, bool optional) {
  Node n = named(name);
  Node& ref = n.set("valueFrom", Node::map()).set("secretKeyRef", Node::map());
  ref.set("name", secret);
  ref.set("key", key);
  if (optional) ref.set("optional", Node::boolean(true));
  return n;
}

Node mount(const std::string& name, const std::string& path, bool read_only = false) {
  Node n = named(name);
  n.set("mountPath", path);
  if (read_only) n.set("readOnly", Node::boolean(true));
  return n;
}

Node string_seq(const std::vector<std::string>& items) {
  Node n = Node::seq();
  for (const auto& i : items) n.push(i);
  return n;
}

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

// A verification Job running `imgfactory <args>` in the builder image, after an init
// container (same image) has cloned the state repository into the workspace.
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

// ---- semver ------------------------------------------------------------------------------

enum class Semver { none, strict, loose };

Semver semver_kind(const std::string& v, std::string* major) {
  static const RE2 strict(R"(v?(0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)");
  static const RE2 loose(R"(v?(0|[1-9]\d*)\.(?:0|[1-9]\d*))");
  if (RE2::FullMatch(v, strict, major)) return Semver::strict;
  if (RE2::FullMatch(v, loose, major)) return Semver::loose;
  return Semver::none;
}

// ---- repositories --------------------------------------------------------------------------

// docker.io/library/x, x and index.docker.io/x name the same repository.
std::string normalize_repo(const std::string& r) {
  const auto slash = r.find('/');
  const std::string first = slash == std::string::npos ? "" : r.substr(0, slash);
  const bool has_registry = slash != std::string::npos && (first.find('.') != std::string::npos ||
                                                           first.find(':') != std::string::npos || first == "localhost");
  std::string reg = has_registry ? first : "docker.io";
  std::string path = has_registry ? r.substr(slash + 1) : r;
  if (reg == "index.docker.io" || reg == "registry-1.docker.io") reg = "docker.io";
  if (reg == "docker.io" && path.find('/') == std::string::npos) path = "library/" + path;
  return reg + "/" + path;
}

// GitHub API base and owner/repo for a source, or nullopt when it is not on GitHub.
struct GitHubRepo {
  std::string api;   // https://api.github.com or https://<host>/api/v3
  std::string path;  // owner/name
};

std::optional<GitHubRepo> github_repo(const enrollment::Source& s) {
  std::string host = "github.com";
  std::string path = s.repo;
  if (const auto p = s.repo.find("://"); p != std::string::npos) {
    std::string rest = s.repo.substr(p + 3);
    if (const auto at = rest.find('@'); at != std::string::npos && at < rest.find('/')) rest = rest.substr(at + 1);
    const auto slash = rest.find('/');
    if (slash == std::string::npos) return std::nullopt;
    host = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  } else if (s.repo.rfind("git@", 0) == 0) {
    const auto colon = s.repo.find(':');
    if (colon == std::string::npos) return std::nullopt;
    host = s.repo.substr(4, colon - 4);
    path = s.repo.substr(colon + 1);
  }
  if (const auto colon = host.find(':'); colon != std::string::npos) host.resize(colon);
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() > 4 && path.ends_with(".git")) path.resize(path.size() - 4);
  if (std::count(path.begin(), path.end(), '/') != 1) return std::nullopt;
  static const RE2 segment(R"([A-Za-z0-9._-]+/[A-Za-z0-9._-]+)");
  if (!RE2::FullMatch(path, segment)) return std::nullopt;
  if (s.provider != "github") return std::nullopt;
  return GitHubRepo{host == "github.com" ? "https://api.github.com" : "https://" + host + "/api/v3", path};
}

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

// The user-info part of an http(s) URL ("https://user:token@host/..."), or empty.
std::string url_userinfo(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos || url.rfind("http", 0) != 0) return {};
  const auto start = scheme + 3;
  const auto slash = url.find('/', start);
  const auto at = url.rfind('@', slash == std::string::npos ? std::string::npos : slash);
  if (at == std::string::npos || at < start) return {};
  return url.substr(start, at - start + 1);
}

// "a/b/Dockerfile" -> "a/b"; "./x" -> "x"; "Dockerfile" -> "" (the repository root).
std::string clean_dir(std::string p, bool is_file) {
  while (p.starts_with("./")) p.erase(0, 2);
  if (is_file) {
    const auto slash = p.rfind('/');
    p = slash == std::string::npos ? "" : p.substr(0, slash);
  }
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p == ".") p.clear();
  return p;
}

// Paths whose changes should produce new Freight: the given directories, minus those
// inside another; empty when any of them is the repository root (everything counts).
std::vector<std::string> include_paths(std::vector<std::string> dirs) {
  for (const auto& d : dirs)
    if (d.empty()) return {};
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::vector<std::string> out;
  for (const auto& d : dirs) {
    bool inside = false;
    for (const auto& o : out)
      if (d.starts_with(o + "/")) inside = true;
    if (!inside) out.push_back(d);
  }
  return out;
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty() || a == ".") return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

// ---- the planner -------------------------------------------------------------------------

struct Rendered {
  std::string name;
  std::string text;
};

class Planner {
 public:
  Planner(const Input& in, const Options& o) : in_(in), o_(o), images_file_(in.enrollment.file.string()) {}

  Manifests run() {
    name_warehouses();
    for (const auto& [name, base] : in_.bases) plan_base_warehouse(base);
    for (const auto& img : in_.enrollment.images) {
      if (img.managed()) plan_managed(img);
      else plan_external(img);
    }
    return render();
  }

 private:
  const Input& in_;
  const Options& o_;
  std::string images_file_;
  std::map<std::string, std::string> warehouse_owner_;  // Warehouse name -> what it watches
  std::map<std::string, std::string> image_warehouse_;  // enrolled image -> Warehouse
  std::map<std::string, std::string> base_warehouse_;   // base state name -> Warehouse
  std::map<std::string, std::string> warehouse_repo_;   // Warehouse -> image repoURL it watches (all, up front)
  std::vector<Rendered> warehouses_, stages_;
  std::map<std::string, std::string> stage_owner_;
  std::vector<std::pair<std::string, bool>> policies_;  // Stage name, auto-promotion
  bool need_analyze_ = false;
  bool need_build_ = false;

  const ImageState& state_of(const std::string& image) const { return in_.images.at(image); }

  void claim_warehouse(const std::string& name, const std::string& what, const std::string& file, int line) {
    if (auto [it, fresh] = warehouse_owner_.emplace(name, what); !fresh)
      throw input_error("Warehouse name '" + name + "' would be used both for " + it->second + " and for " + what,
                        file, line, "rename one of the images");
  }

  void name_warehouses() {
    std::map<std::string, std::string> managed_by_repo;
    for (const auto& img : in_.enrollment.images) {
      const std::string w = kube_name(img.name);
      claim_warehouse(w, "image '" + img.name + "'", images_file_, img.line);
      image_warehouse_[img.name] = w;
      warehouse_repo_[w] = img.repository_url();
      if (img.managed()) managed_by_repo.emplace(normalize_repo(img.repository_url()), w);
    }
    for (const auto& [name, base] : in_.bases) {
      const Located repo = base.repository_url();
      if (auto it = managed_by_repo.find(normalize_repo(repo.value)); it != managed_by_repo.end()) {
        base_warehouse_[name] = it->second;  // an image we build: its own Warehouse feeds the rebuild
        continue;
      }
      std::string w = kube_name(name);
      if (warehouse_owner_.contains(w)) w = kube_name("base-" + name);
      claim_warehouse(w, "base image '" + name + "'", base.file, repo.line);
      base_warehouse_[name] = w;
      warehouse_repo_[w] = repo.value;
    }
  }

  void check_image_repo(const std::string& repo, const std::string& file, int line) const {
    if (!matches(image_repo_url_re(), repo))
      throw input_error("image repository '" + repo + "' is not a repository URL Kargo accepts", file, line,
                        "registry/path without a tag, e.g. ghcr.io/team/app");
  }

  void check_git(const std::string& url, const std::string& branch, const std::string& file, int line) const {
    if (!matches(git_repo_url_re(), url))
      throw input_error("git repository URL '" + url + "' is not one Kargo accepts", file, line,
                        "use https://host/owner/name.git");
    if (url.find('"') != std::string::npos || url.find('\\') != std::string::npos)
      throw input_error("git repository URL '" + url + "' contains a quote or backslash", file, line);
    if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0)
      spdlog::warn("{}:{}: git repository URL '{}' is an SSH URL, deprecated since Kargo v1.10 (removed in v1.13); "
                   "prefer https",
                   file, line, url);
    if (branch.size() > 255 || !matches(branch_re(), branch))
      throw input_error("branch '" + branch + "' is not a branch name Kargo accepts", file, line);
  }

  void add_warehouse(const std::string& name, const std::string& role, const std::string& interval, Node subs) {
    Node doc = object(kKargoApi, "Warehouse", name, &o_.namespace_name, {{kRoleKey, role}});
    Node& spec = doc.set("spec", Node::map());
    spec.set("interval", interval);
    spec.set("subscriptions", std::move(subs));
    warehouses_.push_back({name, yaml::emit(doc)});
  }

  static Node image_sub_node(const std::string& repo, const std::string& strategy, const std::string& constraint,
                             std::optional<bool> strict, const std::vector<std::string>& allow) {
    Node sub = Node::map();
    Node& image = sub.set("image", Node::map());
    image.set("repoURL", repo);
    image.set("imageSelectionStrategy", strategy);
    if (!constraint.empty()) image.set("constraint", constraint);
    if (strict) image.set("strictSemvers", Node::boolean(*strict));
    if (!allow.empty()) image.set("allowTagsRegexes", string_seq(allow));
    image.set("discoveryLimit", Node::integer(kImageDiscoveryLimit));
    return sub;
  }

  static Node git_sub_node(const std::string& url, const std::string& branch, const std::vector<std::string>& paths) {
    Node sub = Node::map();
    Node& git = sub.set("git", Node::map());
    git.set("repoURL", url);
    git.set("branch", branch);
    git.set("commitSelectionStrategy", "NewestFromBranch");
    if (!paths.empty()) git.set("includePaths", string_seq(paths));
    git.set("discoveryLimit", Node::integer(kGitDiscoveryLimit));
    return sub;
  }

  static void check_strategy(const std::string& s, const std::string& file, int line) {
    static const std::set<std::string> known = {"SemVer", "Lexical", "NewestBuild", "Digest"};
    if (!known.contains(s))
      throw input_error("imageSelectionStrategy must be one of SemVer, Lexical, NewestBuild, Digest, not '" + s + "'",
                        file, line);
  }

  // Warehouse of a base image, from its state: strategy and allowTags (converted to
  // allowTagsRegexes; the original tool's doubled backslashes repaired when that makes the
  // regex match the tracked tag again), 24h interval by default.
  void plan_base_warehouse(const BaseImageState& base) {
    const std::string& w = base_warehouse_.at(base.name);
    if (warehouse_owner_.at(w).rfind("image '", 0) == 0) return;  // fed by an enrolled image's Warehouse
    const Located repo = base.repository_url();
    check_image_repo(repo.value, base.file, repo.line);
    std::string strategy = base.image_selection_strategy.empty() ? "Lexical" : base.image_selection_strategy.value;
    check_strategy(strategy, base.file, base.image_selection_strategy.line);
    std::vector<std::string> allow;
    std::string constraint;
    if (strategy == "Digest") {
      if (base.tag.empty())
        throw input_error("the Digest strategy needs the tag to follow, and this state has none", base.file,
                          base.image_selection_strategy.line);
      constraint = base.tag.value;
    } else if (!base.allow_tags.empty()) {
      allow.push_back(repaired_allow_tags(base));
    } else if (!base.tag.empty()) {
      allow.push_back(anchored_literal(base.tag.value));
      check_regex(allow.back(), "allowTags derived from tag", base.file, base.tag.line);
    }
    Node subs = Node::seq();
    subs.push(image_sub_node(repo.value, strategy, constraint, std::nullopt, allow));
    add_warehouse(w, "base", o_.base_interval, std::move(subs));
  }

  static std::string repaired_allow_tags(const BaseImageState& base) {
    const std::string& re = base.allow_tags.value;
    check_regex(re, "allowTags", base.file, base.allow_tags.line);
    if (base.tag.empty()) return re;
    if (RE2::PartialMatch(base.tag.value, RE2(re, RE2::Quiet))) return re;
    std::string halved;
    for (std::size_t i = 0; i < re.size(); ++i) {
      halved += re[i];
      if (re[i] == '\\' && i + 1 < re.size() && re[i + 1] == '\\') ++i;
    }
    if (halved != re) {
      RE2 h(halved, RE2::Quiet);
      if (h.ok() && RE2::PartialMatch(base.tag.value, h)) {
        spdlog::warn("{}:{}: allowTags '{}' never matches its own tag '{}' (backslashes doubled by the original "
                     "tool); using '{}'",
                     base.file, base.allow_tags.line, re, base.tag.value, halved);
        check_regex(halved, "allowTags", base.file, base.allow_tags.line);
        return halved;
      }
    }
    spdlog::warn("{}:{}: allowTags '{}' does not match the tracked tag '{}'", base.file, base.allow_tags.line, re,
                 base.tag.value);
    return re;
  }

  // An enrolled image we do not build: watched like a base image, configured from
  // images.yaml (first) or its state file (the original's defaults: Lexical, ^.*$).
  void plan_external(const enrollment::Image& img) {
    const ImageState& st = state_of(img.name);
    const std::string repo = img.repository_url();
    check_image_repo(repo, images_file_, img.line);
    std::string strategy = "Lexical";
    if (!img.image_selection_strategy.empty()) {
      strategy = img.image_selection_strategy;
    } else if (!st.image_selection_strategy.empty()) {
      strategy = st.image_selection_strategy.value;
      check_strategy(strategy, st.file, st.image_selection_strategy.line);
    }
    std::vector<std::string> allow;
    std::string constraint;
    if (!img.allow_tags.empty()) {
      check_regex(img.allow_tags, "allowTags", images_file_, img.allow_tags_line);
      allow.push_back(img.allow_tags);
    } else if (!st.allow_tags.empty()) {
      check_regex(st.allow_tags.value, "allowTags", st.file, st.allow_tags.line);
      allow.push_back(st.allow_tags.value);
    } else {
      allow.emplace_back("^.*$");
    }
    if (strategy == "Digest") {
      constraint = "latest";
      allow.clear();
    }
    Node subs = Node::seq();
    subs.push(image_sub_node(repo, strategy, constraint, std::nullopt, allow));
    add_warehouse(image_warehouse_.at(img.name), "external", o_.base_interval, std::move(subs));
  }

  void plan_managed(const enrollment::Image& img) {
    const ImageState& st = state_of(img.name);
    const std::string& w = image_warehouse_.at(img.name);
    const std::string repo = img.repository_url();
    check_image_repo(repo, images_file_, img.line);

    // the published image: SemVer with a constraint once it has semver versions, else ^latest$
    std::string major;
    const Semver sv = st.current_version.empty() ? Semver::none : semver_kind(st.current_version.value, &major);
    std::string strategy = img.image_selection_strategy;
    if (strategy.empty()) strategy = sv != Semver::none ? "SemVer" : "Lexical";
    std::string constraint;
    std::optional<bool> strict;
    std::vector<std::string> allow;
    if (strategy == "SemVer" && sv != Semver::none) {
      constraint = ">=" + major + ".0.0";
      strict = sv == Semver::strict;
    }
    if (!img.allow_tags.empty()) {
      check_regex(img.allow_tags, "allowTags", images_file_, img.allow_tags_line);
      allow.push_back(img.allow_tags);
    } else if (strategy == "Lexical" || strategy == "NewestBuild") {
      allow.emplace_back("^latest$");
    }
    if (strategy == "Digest") {
      constraint = "latest";
      allow.clear();
    }
    Node subs = Node::seq();
    subs.push(image_sub_node(repo, strategy, constraint, strict, allow));

    // the source: its branch, paths derived from the Dockerfile's location (and context)
    std::string git_url;
    if (img.source) {
      const auto& s = *img.source;
      git_url = s.url();
      if (const std::string userinfo = url_userinfo(git_url); !userinfo.empty()) {
        // credentials never go into manifests: Kargo takes them from its own Secrets
        git_url.erase(git_url.find(userinfo), userinfo.size());
        spdlog::warn("{}:{}: credentials in source.repo are not written to the manifests; give Kargo a git "
                     "credentials Secret for {}",
                     images_file_, s.line, git_url);
      }
      check_git(git_url, s.branch, images_file_, s.line);
      std::vector<std::string> dirs = {clean_dir(s.dockerfile, true)};
      if (!s.context.empty()) dirs.push_back(clean_dir(s.context, false));
      subs.push(git_sub_node(git_url, s.branch, include_paths(dirs)));
    } else if (img.local && !o_.state_repo.empty()) {
      // a local image lives in the state repository itself
      const auto& l = *img.local;
      git_url = o_.state_repo;
      std::vector<std::string> dirs = {join_path(clean_dir(o_.state_path, false), clean_dir(l.dir, false))};
      for (const auto& p : l.patch_files) dirs.push_back(join_path(clean_dir(o_.state_path, false), p));
      if (!l.version_file.empty()) dirs.push_back(join_path(clean_dir(o_.state_path, false), l.version_file));
      subs.push(git_sub_node(git_url, o_.state_branch, include_paths(dirs)));
    }
    add_warehouse(w, "image", o_.image_interval, std::move(subs));

    plan_analysis_stage(img, w, repo, git_url);
    std::set<std::string> seen;
    for (const auto& base : st.base_images) {
      if (!seen.insert(base.value).second) continue;
      const std::string& bw = base_warehouse_.at(base.value);
      if (bw == w) {
        spdlog::warn("{}:{}: '{}' lists itself as its base image; no rebuild Stage for it", st.file, base.line,
                     img.name);
        continue;
      }
      plan_rebuild_stage(img, base.value, bw);
    }
  }

  Node stage_doc(const std::string& name, const std::string& role, const enrollment::Image& img, bool auto_promote,
                 const std::string& origin) {
    Node doc = object(kKargoApi, "Stage", name, &o_.namespace_name,
                      {{kRoleKey, role}, {kImageKey, kube_name(img.name)}, {kAutoKey, auto_promote ? "true" : "false"}});
    Node& spec = doc.set("spec", Node::map());
    Node& req = spec.set("requestedFreight", Node::seq()).push(Node::map());
    Node& orig = req.set("origin", Node::map());
    orig.set("kind", "Warehouse");
    orig.set("name", origin);
    req.set("sources", Node::map()).set("direct", Node::boolean(true));
    return doc;
  }

  void add_stage(const std::string& name, const enrollment::Image& img, bool auto_promote, Node doc) {
    if (auto [it, fresh] = stage_owner_.emplace(name, img.name); !fresh)
      throw input_error("Stage name '" + name + "' would be generated twice (images '" + it->second + "' and '" +
                            img.name + "')",
                        images_file_, img.line, "rename one of the images");
    policies_.emplace_back(name, auto_promote);
    stages_.push_back({name, yaml::emit(doc)});
  }

  static Node verification(const char* template_name, const std::string& image) {
    Node v = Node::map();
    v.set("analysisTemplates", Node::seq()).push(named(template_name));
    Node& arg = v.set("args", Node::seq()).push(named("image"));
    arg.set("value", image);
    return v;
  }

  static std::string image_expr(const std::string& repo) {
    return repo + ":${{ imageFrom(\"" + repo + "\").Tag }}";
  }

  // Promotion records what was promoted (compose-output: no side effects, no credentials)
  // so the Stage is a regular one, not a control-flow Stage, and its verification runs.
  void plan_analysis_stage(const enrollment::Image& img, const std::string& w, const std::string& repo,
                           const std::string& git_url) {
    const std::string name = kube_name("analyze-dockerfile-" + img.name);
    Node doc = stage_doc(name, "analysis", img, true, w);
    Node& spec = doc.at("spec");
    Node& step = spec.set("promotionTemplate", Node::map())
                     .set("spec", Node::map())
                     .set("steps", Node::seq())
                     .push(Node::map());
    step.set("uses", "compose-output");
    step.set("as", "analyze");
    Node& cfg = step.set("config", Node::map());
    cfg.set("image", image_expr(repo));
    if (!git_url.empty()) cfg.set("commit", "${{ commitFrom(\"" + git_url + "\").ID }}");
    spec.set("verification", verification(kAnalyzeTemplate, img.name));
    need_analyze_ = true;
    add_stage(name, img, true, std::move(doc));
  }

  // A base image changed: dispatch the image's GitHub workflow when it names one (token
  // from a Kargo secret, as the original), else build it with the build AnalysisTemplate.
  void plan_rebuild_stage(const enrollment::Image& img, const std::string& base, const std::string& bw) {
    const std::string name = kube_name("rebuild-trigger-" + img.name + "-from-" + base);
    Node doc = stage_doc(name, "rebuild", img, img.auto_rebuild, bw);
    Node& spec = doc.at("spec");
    Node& steps = spec.set("promotionTemplate", Node::map()).set("spec", Node::map()).set("steps", Node::seq());
    std::optional<GitHubRepo> gh;
    if (img.source && !img.source->workflow.empty()) {
      gh = github_repo(*img.source);
      if (!gh)
        spdlog::warn("{}:{}: source.workflow '{}' is set but '{}' is not a GitHub repository; '{}' is rebuilt by the "
                     "build AnalysisTemplate instead",
                     images_file_, img.source->line, img.source->workflow, img.source->repo, img.name);
    }
    if (gh) {
      const auto& s = *img.source;
      Node& step = steps.push(Node::map());
      step.set("uses", "http");
      step.set("as", "dispatch-workflow");
      Node& cfg = step.set("config", Node::map());
      cfg.set("method", "POST");
      cfg.set("url", gh->api + "/repos/" + gh->path + "/actions/workflows/" + percent_encode(s.workflow) +
                         "/dispatches");
      Node& headers = cfg.set("headers", Node::seq());
      auto header = [&](const std::string& k, const std::string& v) {
        Node& h = headers.push(named(k));
        h.set("value", v);
      };
      header("Accept", "application/vnd.github+json");
      header("Authorization", "Bearer ${{ secret('" + o_.github_token_secret + "').token }}");
      header("Content-Type", "application/json");
      header("X-GitHub-Api-Version", "2022-11-28");
      cfg.set("body", "{\"ref\":" + json_string(s.branch) + ",\"inputs\":{\"version_bump\":\"patch\"}}");
    } else {
      Node& step = steps.push(Node::map());
      step.set("uses", "compose-output");
      step.set("as", "rebuild");
      Node& cfg = step.set("config", Node::map());
      cfg.set("image", img.repository_url());
      cfg.set("baseImage", image_expr(warehouse_repo_.at(bw)));
      spec.set("verification", verification(kBuildTemplate, img.name));
      need_build_ = true;
    }
    add_stage(name, img, img.auto_rebuild, std::move(doc));
  }

  Manifests render() {
    const std::string& ns = o_.namespace_name;
    Manifests m;
    std::string& out = m.yaml;
    auto doc = [&](const Node& n) {
      if (m.documents++ > 0) out += "---\n";
      yaml::emit(n, out);
    };
    auto text = [&](Rendered& r) {
      if (m.documents++ > 0) out += "---\n";
      out += r.text;
      std::string().swap(r.text);  // the output grows as the pieces are released
    };
    std::size_t total = 4096;
    for (const auto& r : warehouses_) total += r.text.size() + 4;
    for (const auto& r : stages_) total += r.text.size() + 4;
    out.reserve(total + 16384);
    out += "# Generated by `imgfactory synth` from images.yaml and the state files.\n"
           "# Do not edit: change images.yaml and re-run `imgfactory synth`.\n";

    Labels ns_labels = o_.namespace_labels;
    ns_labels.emplace_back("kargo.akuity.io/project", "true");
    doc(object("v1", "Namespace", ns, nullptr, ns_labels));
    doc(object(kKargoApi, "Project", ns, nullptr, {}));

    std::sort(stages_.begin(), stages_.end(), [](const Rendered& a, const Rendered& b) { return a.name < b.name; });
    std::sort(policies_.begin(), policies_.end());
    Node pc = object(kKargoApi, "ProjectConfig", ns, &ns, {});
    Node& pspec = pc.set("spec", Node::map());
    if (!policies_.empty()) {
      Node& list = pspec.set("promotionPolicies", Node::seq());
      if (policies_.size() <= o_.max_named_policies) {
        for (const auto& [stage, enabled] : policies_) {
          Node& p = list.push(Node::map());
          p.set("stageSelector", Node::map()).set("name", stage);
          p.set("autoPromotionEnabled", Node::boolean(enabled));
        }
      } else {
        // too many Stages to list: select them by the label every generated Stage carries
        Node& p = list.push(Node::map());
        p.set("stageSelector", Node::map()).set("matchLabels", labels_node({{kAutoKey, "true"}}));
        p.set("autoPromotionEnabled", Node::boolean(true));
      }
    }
    doc(pc);

    Node sa = object("v1", "ServiceAccount", o_.service_account, &ns, {});
    sa.set("automountServiceAccountToken", Node::boolean(false));
    doc(sa);

    // AnalysisTemplates, sorted by name: image-factory-analyze < image-factory-build
    if (need_analyze_) {
      doc(analysis_template(o_, ns, false));
      ++m.analysis_templates;
    }
    if (need_build_) {
      doc(analysis_template(o_, ns, true));
      ++m.analysis_templates;
    }

    std::sort(warehouses_.begin(), warehouses_.end(),
              [](const Rendered& a, const Rendered& b) { return a.name < b.name; });
    for (auto& w : warehouses_) text(w);
    for (auto& s : stages_) text(s);
    m.warehouses = warehouses_.size();
    m.stages = stages_.size();
    return m;
  }
};

bool valid_label_value(std::string_view v) {
  if (v.empty()) return true;
  if (v.size() > 63) return false;
  auto an = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!an(v.front()) || !an(v.back())) return false;
  return std::all_of(v.begin(), v.end(), [&](char c) { return an(c) || c == '-' || c == '_' || c == '.'; });
}

bool valid_label_key(std::string_view k) {
  std::string_view name = k;
  if (const auto slash = k.find('/'); slash != std::string_view::npos) {
    if (!is_dns1123_subdomain(k.substr(0, slash))) return false;
    name = k.substr(slash + 1);
  }
  return !name.empty() && valid_label_value(name);
}

}  // namespace

void validate(const Options& o) {
  auto bad = [](const std::string& msg, const std::string& hint = {}) { return input_error(msg, {}, 0, hint); };
  if (!is_dns1123_label(o.namespace_name))
    throw bad("namespace '" + o.namespace_name + "' is not a valid Kubernetes namespace name",
              "lowercase letters, digits and '-', at most 63 characters");
  static const RE2 image_ref(R"([A-Za-z0-9][A-Za-z0-9._/:@+-]*)");
  if (o.builder_image.size() > 512 || !RE2::FullMatch(o.builder_image, image_ref))
    throw bad("builder image '" + o.builder_image + "' is not an image reference",
              "e.g. ghcr.io/craigedmunds/image-factory:latest");
  for (const auto* iv : {&o.image_interval, &o.base_interval})
    if (!matches(interval_re(), *iv))
      throw bad("interval '" + *iv + "' is not a duration Kargo accepts", "e.g. 5m, 24h, 1h30m");
  for (const auto* s : {&o.state_repo_secret, &o.registry_secret, &o.github_token_secret, &o.git_credentials_secret,
                        &o.service_account})
    if (!is_dns1123_subdomain(*s)) throw bad("'" + *s + "' is not a valid Kubernetes object name");
  if (!o.state_repo.empty() && !matches(git_repo_url_re(), o.state_repo))
    throw bad("state repository URL '" + o.state_repo + "' is not one Kargo and git accept",
              "use https://host/owner/name.git");
  if (!url_userinfo(o.state_repo).empty())
    throw bad("--state-repo must not carry credentials: they would be written into the manifests",
              "leave --state-repo out and put the URL in the Secret named by --state-repo-secret (key repoURL)");
  if (o.state_branch.size() > 255 || !matches(branch_re(), o.state_branch))
    throw bad("state branch '" + o.state_branch + "' is not a valid branch name");
  if (o.state_path != ".") {
    const bool ok = !o.state_path.empty() && o.state_path.front() != '/' &&
                    o.state_path.find("..") == std::string::npos &&
                    RE2::FullMatch(o.state_path, RE2(R"([A-Za-z0-9._/-]+)"));
    if (!ok) throw bad("state path '" + o.state_path + "' must be a relative path inside the state repository");
  }
  for (const auto& [k, v] : o.namespace_labels)
    if (!valid_label_key(k) || !valid_label_value(v))
      throw bad("namespace label '" + k + "=" + v + "' is not a valid Kubernetes label",
                "key [prefix/]name and value of letters, digits, '-', '_', '.', at most 63 characters");
}

Manifests synthesize(const Input& input, const Options& options) {
  validate(options);
  return Planner(input, options).run();
}

}  // namespace imgf::kargo
