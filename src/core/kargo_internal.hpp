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
#include <set>
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
inline constexpr const char* kGitCredentialsDir = "/run/secrets/git";
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

// ---- repositories (kargo_common.cpp) -----------------------------------------------------
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
// The candidates that lie inside one of `includes` (all of them when `includes` is empty,
// which means the whole repository).
std::vector<std::string> paths_under(const std::vector<std::string>& includes, const std::vector<std::string>& candidates);
// A git URL compared the way Kargo normalizes it (lower case, no trailing "/" or ".git").
std::string normalize_git(std::string url);

// ---- durations (kargo_common.cpp) -----------------------------------------------------------
// A Kargo duration ("1h30m", "90s", "0.5h": ^([0-9]+(\.[0-9]+)?(s|m|h))+$) in whole seconds.
std::optional<long long> parse_kargo_duration(std::string_view text);
// Seconds as a Kargo duration, largest units first: 604800 -> "168h", 5400 -> "1h30m", 0 -> "0s".
std::string kargo_duration(long long seconds);

// ---- AnalysisTemplates and their Jobs (kargo_jobs.cpp) -------------------------------------
// A verification Job running `imgfactory <args>` in the builder image, after an init
// container (same image) has cloned the state repository into the workspace.
Node analysis_template(const Options& o, const std::string& ns, bool build);

// ---- the planner -----------------------------------------------------------------------------
struct Rendered {
  std::string name;
  std::string text;
};

// What one image subscription selects.
struct Watch {
  std::string repo;
  std::string strategy;
  std::string constraint;
  std::optional<bool> strict;
  std::vector<std::string> allow;
  // Two Warehouses with the same key would watch the same tags of the same repository.
  [[nodiscard]] std::string key() const;
};

// The source Warehouse of an image we build: its git subscriptions.
struct SourcePlan {
  std::string warehouse;   // empty: the image has no source Warehouse (local, no --state-repo)
  std::string source_url;  // the source repository (commitFrom for `revision`); empty for local images
  std::string state_url;   // the state repository when it is watched (local files), else empty
  Node subscriptions = Node::seq();
};

class Planner {
 public:
  Planner(const Input& in, const Options& o) : in_(in), o_(o), images_file_(in.enrollment.file.string()) {}
  Manifests run();  // kargo.cpp

 private:
  const Input& in_;
  const Options& o_;
  std::string images_file_;
  std::map<std::string, std::string> warehouse_owner_;   // Warehouse name -> what it watches
  std::map<std::string, std::string> image_warehouse_;   // enrolled image -> its (published image) Warehouse
  std::map<std::string, std::string> source_warehouse_;  // managed image -> its source Warehouse
  std::map<std::string, std::string> base_warehouse_;    // base state name -> Warehouse
  std::map<std::string, std::string> warehouse_repo_;    // Warehouse -> image repoURL it watches (all, up front)
  // Warehouses that watch one image repository we do not build (external and base images),
  // merged when they would watch the same tags: Warehouse -> (what it selects, role).
  std::map<std::string, std::pair<Watch, std::string>> watch_only_;
  std::map<std::string, std::string> gate_stage_;  // Warehouse -> its gate Stage (planned on first use)
  std::vector<Rendered> warehouses_, stages_;
  std::map<std::string, std::string> stage_owner_;
  std::set<std::string> image_repos_, git_repos_;  // every repoURL a Warehouse subscribes to
  std::vector<std::pair<std::string, bool>> policies_;  // Stage name, auto-promotion
  bool need_analyze_ = false;
  bool need_build_ = false;
  bool workflow_dispatch_ = false;

  const ImageState& state_of(const std::string& image) const { return in_.images.at(image); }

  // ---- Warehouses (kargo_warehouses.cpp)
  void claim_warehouse(const std::string& name, const std::string& what, const std::string& file, int line);
  // Names every Warehouse up front (so Stages can reference any of them) and decides which
  // base images share a Warehouse with an external image or another base image.
  void name_warehouses();
  bool has_source_warehouse(const enrollment::Image& img) const;
  void check_image_repo(const std::string& repo, const std::string& file, int line) const;
  void check_git(const std::string& url, const std::string& branch, const std::string& file, int line) const;
  void add_warehouse(const std::string& name, const std::string& role, const std::string& interval, Node subs);
  static Node image_sub_node(const Watch& w);
  static Node git_sub_node(const std::string& url, const std::string& branch, const std::vector<std::string>& include,
                           const std::vector<std::string>& exclude);
  static void check_strategy(const std::string& s, const std::string& file, int line);
  // Warehouse selection of a base image, from its state: strategy and allowTags (converted
  // to allowTagsRegexes; the original tool's doubled backslashes repaired when that makes the
  // regex match the tracked tag again), SemVer read loosely unless the tag is strict.
  Watch base_watch(const BaseImageState& base) const;
  static std::string repaired_allow_tags(const BaseImageState& base);
  // An enrolled image we do not build: watched like a base image, configured from
  // images.yaml (first) or its state file (the original's defaults: Lexical, ^.*$).
  Watch external_watch(const enrollment::Image& img) const;
  // The paths of the state repository that Jobs write (state files, dist/, version files):
  // a subscription to the state repository must not produce Freight for them, or every
  // build would trigger the next.
  std::vector<std::string> state_written_paths(const std::vector<std::string>& includes) const;
  SourcePlan plan_source(const enrollment::Image& img);
  void plan_watch_only_warehouses();
  void plan_managed(const enrollment::Image& img);

  // ---- Stages (kargo_stages.cpp)
  // A Stage requesting Freight from Warehouse `origin`: directly, or only once it has been
  // verified in Stage `upstream` and has spent `soak_seconds` there.
  Node stage_doc(const std::string& name, Labels labels, const std::string& origin, const std::string& upstream = {},
                 long long soak_seconds = 0);
  void add_stage(const std::string& name, const std::string& owner, bool auto_promote, Node doc);
  static Labels image_stage_labels(const std::string& role, const enrollment::Image& img, bool auto_promote);
  static Node verification(const char* template_name, const std::vector<std::pair<std::string, std::string>>& args);
  // The per-image offset added to the soak of its build and rebuild Stages: whole minutes in
  // [0, min(--rebuild-spread, cap)), from the hash of the image name.
  long long stagger_seconds(const std::string& image, long long cap = kNoCap) const;
  static constexpr long long kNoCap = 1LL << 40;
  static constexpr long long kBuildStaggerCap = 600;  // build Stages: see kargo_stages.cpp
  // Whether `img` is built by the build AnalysisTemplate (no GitHub workflow to dispatch).
  bool built_by_template(const enrollment::Image& img) const;
  // The Stage that holds each new Freight of a base Warehouse: Freight soaks there before a
  // rebuild Stage may take it (requiredSoakTime only counts time in an upstream Stage).
  const std::string& gate_stage(const std::string& warehouse);
  // Promotion records what was promoted (compose-output: no side effects, no credentials)
  // so the Stage is a regular one, not a control-flow Stage, and its verification runs.
  void plan_analysis_stage(const enrollment::Image& img, const SourcePlan& src);
  // A source commit, analysed: build the image with the build AnalysisTemplate.
  void plan_build_stage(const enrollment::Image& img, const SourcePlan& src, const std::string& analysis_stage);
  // A base image changed (and soaked): dispatch the image's GitHub workflow when it names
  // one (token from a Kargo secret, as the original), else build it with the build
  // AnalysisTemplate, passing the base reference.
  void plan_rebuild_stage(const enrollment::Image& img, const std::string& base, const std::string& bw);

  // ---- the project objects and the output (kargo.cpp)
  Manifests render();
};

}  // namespace imgf::kargo::detail
