#pragma once
// Internal to the kargo module: what src/core/kargo*.cpp share. The module is split by
// what it makes:
//   kargo.cpp             the planner's driver, Namespace, Project, ProjectConfig,
//                         ServiceAccount, option validation, synthesize()
//   kargo_warehouses.cpp  Warehouses (and which exist for which image)
//   kargo_stages.cpp      Stages (analysis and rebuild) and their verification
//   kargo_jobs.cpp        the AnalysisTemplates and the Jobs they run (pod spec, security)
//   kargo_common.cpp      small YAML builders, Kargo's URL/branch patterns, repository helpers
#include <re2/re2.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "imgfactory/kargo.hpp"

namespace imgf::kargo::detail {

using yaml::Node;

inline constexpr const char* kKargoApi = "kargo.akuity.io/v1alpha1";
inline constexpr const char* kManagedByKey = "app.kubernetes.io/managed-by";
inline constexpr const char* kManagedBy = "imgfactory";
inline constexpr const char* kRoleKey = "imgfactory.io/role";
inline constexpr const char* kImageKey = "imgfactory.io/image";
inline constexpr const char* kAutoKey = "imgfactory.io/auto-promotion";
inline constexpr const char* kAnalyzeTemplate = "image-factory-analyze";
inline constexpr const char* kBuildTemplate = "image-factory-build";
inline constexpr const char* kHome = "/home/builder";
inline constexpr const char* kWorkspace = "/workspace";
inline constexpr const char* kRegistryAuthDir = "/run/secrets/registry";
inline constexpr int kImageDiscoveryLimit = 10;
inline constexpr int kGitDiscoveryLimit = 5;

// ---- patterns (kargo_common.cpp) ------------------------------------------------------
// The patterns of Kargo v1.11's subscription schemas and CRDs, checked before writing.
const RE2& image_repo_url_re();
const RE2& git_repo_url_re();
const RE2& branch_re();
const RE2& interval_re();
bool matches(const RE2& re, std::string_view s);

// ---- small YAML builders (kargo_common.cpp) ---------------------------------------------
using Labels = std::vector<std::pair<std::string, std::string>>;
Node labels_node(Labels labels);
// apiVersion, kind, metadata (name, namespace when ns, labels + managed-by)
Node object(const char* api_version, const char* kind, const std::string& name, const std::string* ns, Labels labels);
Node named(const std::string& name);
Node env_value(const std::string& name, const std::string& value);
Node env_secret(const std::string& name, const std::string& secret, const std::string& key, bool optional);
Node mount(const std::string& name, const std::string& path, bool read_only = false);
Node string_seq(const std::vector<std::string>& items);

// ---- semver and repositories (kargo_common.cpp) -------------------------------------------
enum class Semver { none, strict, loose };
Semver semver_kind(const std::string& v, std::string* major);
// docker.io/library/x, x and index.docker.io/x name the same repository.
std::string normalize_repo(const std::string& r);
// GitHub API base and owner/repo for a source, or nullopt when it is not on GitHub.
struct GitHubRepo {
  std::string api;   // https://api.github.com or https://<host>/api/v3
  std::string path;  // owner/name
};
std::optional<GitHubRepo> github_repo(const enrollment::Source& s);
std::string percent_encode(std::string_view s);
std::string json_string(std::string_view s);
// The user-info part of an http(s) URL ("https://user:token@host/..."), or empty.
std::string url_userinfo(const std::string& url);
// "a/b/Dockerfile" -> "a/b"; "./x" -> "x"; "Dockerfile" -> "" (the repository root).
std::string clean_dir(std::string p, bool is_file);
// Paths whose changes should produce new Freight: the given directories, minus those
// inside another; empty when any of them is the repository root (everything counts).
std::vector<std::string> include_paths(std::vector<std::string> dirs);
std::string join_path(const std::string& a, const std::string& b);

// ---- AnalysisTemplates and their Jobs (kargo_jobs.cpp) -------------------------------------
// A verification Job running `imgfactory <args>` in the builder image, after an init
// container (same image) has cloned the state repository into the workspace.
Node analysis_template(const Options& o, const std::string& ns, bool build);

// ---- the planner -----------------------------------------------------------------------------
struct Rendered {
  std::string name;
  std::string text;
};

class Planner {
 public:
  Planner(const Input& in, const Options& o) : in_(in), o_(o), images_file_(in.enrollment.file.string()) {}
  Manifests run();  // kargo.cpp

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

  // ---- Warehouses (kargo_warehouses.cpp)
  void claim_warehouse(const std::string& name, const std::string& what, const std::string& file, int line);
  void name_warehouses();
  void check_image_repo(const std::string& repo, const std::string& file, int line) const;
  void check_git(const std::string& url, const std::string& branch, const std::string& file, int line) const;
  void add_warehouse(const std::string& name, const std::string& role, const std::string& interval, Node subs);
  static Node image_sub_node(const std::string& repo, const std::string& strategy, const std::string& constraint,
                             std::optional<bool> strict, const std::vector<std::string>& allow);
  static Node git_sub_node(const std::string& url, const std::string& branch, const std::vector<std::string>& paths);
  static void check_strategy(const std::string& s, const std::string& file, int line);
  // Warehouse of a base image, from its state: strategy and allowTags (converted to
  // allowTagsRegexes; the original tool's doubled backslashes repaired when that makes the
  // regex match the tracked tag again), 24h interval by default.
  void plan_base_warehouse(const BaseImageState& base);
  static std::string repaired_allow_tags(const BaseImageState& base);
  // An enrolled image we do not build: watched like a base image, configured from
  // images.yaml (first) or its state file (the original's defaults: Lexical, ^.*$).
  void plan_external(const enrollment::Image& img);
  void plan_managed(const enrollment::Image& img);

  // ---- Stages (kargo_stages.cpp)
  Node stage_doc(const std::string& name, const std::string& role, const enrollment::Image& img, bool auto_promote,
                 const std::string& origin);
  void add_stage(const std::string& name, const enrollment::Image& img, bool auto_promote, Node doc);
  static Node verification(const char* template_name, const std::string& image);
  static std::string image_expr(const std::string& repo);
  // Promotion records what was promoted (compose-output: no side effects, no credentials)
  // so the Stage is a regular one, not a control-flow Stage, and its verification runs.
  void plan_analysis_stage(const enrollment::Image& img, const std::string& w, const std::string& repo,
                           const std::string& git_url);
  // A base image changed: dispatch the image's GitHub workflow when it names one (token
  // from a Kargo secret, as the original), else build it with the build AnalysisTemplate.
  void plan_rebuild_stage(const enrollment::Image& img, const std::string& base, const std::string& bw);

  // ---- the project objects and the output (kargo.cpp)
  Manifests render();
};

}  // namespace imgf::kargo::detail
