#pragma once
// Kargo manifests for the enrolled images (`imgfactory synth`): Namespace, Project,
// ProjectConfig, ServiceAccount, AnalysisTemplates, Warehouses and Stages, valid for Kargo
// v1.11 and byte-identical from run to run.
//
// Three layers, all pure except load_input():
//   input   — the state files (images/<name>.yaml, base-images/<name>.yaml) read with
//             FILE:LINE errors (this module only READS them; analyze writes them);
//   plan    — which Warehouses and Stages exist, their Kubernetes-safe names, their regexes
//             (checked with RE2 before anything is written);
//   render  — a small ordered YAML tree (yaml::Node) and a deterministic emitter.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "imgfactory/enrollment.hpp"

namespace imgf::kargo {

// ---------------------------------------------------------------------------------------
// YAML: an ordered tree and a deterministic block-style emitter.
namespace yaml {

class Node {
 public:
  enum class Kind { string, literal, map, seq };

  Node() : kind_(Kind::map) {}
  // A string scalar: emitted plain when it reads back as the same string, else double-quoted.
  static Node str(std::string value);
  // An integer or boolean: emitted as is (never quoted).
  static Node integer(std::int64_t value);
  static Node boolean(bool value);
  static Node map() { return Node(Kind::map); }
  static Node seq() { return Node(Kind::seq); }

  // Map: appends key (keys keep insertion order; a repeated key is a programming error).
  Node& set(std::string key, Node value);
  Node& set(std::string key, std::string value) { return set(std::move(key), str(std::move(value))); }
  Node& set(std::string key, const char* value) { return set(std::move(key), str(value)); }
  // Sequence: appends an item, returns it.
  Node& push(Node value);
  Node& push(std::string value) { return push(str(std::move(value))); }
  // Map: the value of an existing key (throws std::out_of_range when absent).
  Node& at(std::string_view key);

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] const std::string& scalar() const { return scalar_; }
  [[nodiscard]] const std::vector<std::pair<std::string, Node>>& entries() const { return entries_; }
  [[nodiscard]] const std::vector<Node>& items() const { return items_; }
  [[nodiscard]] bool empty() const { return entries_.empty() && items_.empty(); }

 private:
  explicit Node(Kind k) : kind_(k) {}
  Kind kind_;
  std::string scalar_;
  std::vector<std::pair<std::string, Node>> entries_;
  std::vector<Node> items_;
};

// True when `s` must be quoted to read back as the same string (YAML 1.1 and 1.2 readers:
// booleans, null, numbers, timestamps, indicators, ": ", " #", control characters ...).
bool needs_quotes(std::string_view s);
// Appends `node` as one YAML document body (no "---") to `out`.
void emit(const Node& node, std::string& out);
std::string emit(const Node& node);

}  // namespace yaml

// ---------------------------------------------------------------------------------------
// Names and regexes.

// DNS-1123 subdomain (metadata.name of most kinds) / label (Namespace names, <= 63).
bool is_dns1123_subdomain(std::string_view s);
bool is_dns1123_label(std::string_view s);
// A Kubernetes-safe name for `wanted`: lower-cased, characters outside [a-z0-9.-] replaced
// by '-', segments fixed to begin and end alphanumeric. When that changed the name or it is
// longer than `max_len`, it is cut and suffixed with '-' and the first 10 hex digits of the
// sha256 of `wanted`, so distinct inputs keep distinct names. Deterministic.
std::string kube_name(std::string_view wanted, std::size_t max_len = 63);

// `text` matched literally, anchored: "3.12-slim" -> "^3\.12-slim$".
std::string anchored_literal(std::string_view text);
// Throws imgf::Error (exit 2) naming file:line unless `re` compiles as a Go regexp would
// (RE2 syntax; \C, which Go rejects, is refused too). `what` names the field.
void check_regex(const std::string& re, const std::string& what, const std::string& file, int line);

// ---------------------------------------------------------------------------------------
// Input: the state files.

struct Located {
  std::string value;
  int line = 0;
  [[nodiscard]] bool empty() const { return value.empty(); }
};

// images/<name>.yaml (only the fields synth needs).
struct ImageState {
  std::string file;  // path used in messages
  bool exists = false;
  std::vector<Located> base_images;  // base-image state names, in file order
  // Written by each build: never part of the manifests (a build must not change them); read
  // only to warn when the tag the next build would push is one its Warehouse cannot select.
  Located current_version;           // empty when null/absent
  // external images (discoveryStatus: external) carry their Warehouse configuration:
  Located allow_tags, image_selection_strategy, repo_url;
};

// base-images/<name>.yaml.
struct BaseImageState {
  std::string file;
  std::string name;  // the state name (file name without .yaml)
  Located full_image, registry, repository, tag, allow_tags, image_selection_strategy, repo_url;
  // <registry>/<repository>, from repoURL or registry+repository (docker.io when absent).
  [[nodiscard]] Located repository_url() const;
};

// Parse one state file's text; `file` is used in messages. Throw imgf::Error (exit 2) with
// FILE:LINE on invalid YAML or a field of the wrong type.
ImageState parse_image_state(std::string_view text, const std::string& file);
BaseImageState parse_base_image_state(std::string_view text, const std::string& file,
                                      const std::string& name);

struct Input {
  enrollment::Enrollment enrollment;
  std::map<std::string, ImageState> images;     // by enrolled image name (every enrolled image)
  std::map<std::string, BaseImageState> bases;  // by base state name (those referenced)
};

// Reads the state of every enrolled image and every base image they reference. A missing
// images/<name>.yaml is not an error (the image has not been analysed yet); a referenced
// base image without a state file is (exit 2, at the images/<name>.yaml line).
Input load_input(const enrollment::Layout& layout, enrollment::Enrollment enrollment);

// ---------------------------------------------------------------------------------------
// Options and rendering.

// How the build Job's pod may run buildah (docs/synth.md "Cluster set-up"):
//   userns     — the pod in its own user namespace (hostUsers: false); the build container is
//                root inside it with namespaced SYS_ADMIN and a few file capabilities, seccomp
//                RuntimeDefault, vfs storage, chroot isolation (Kubernetes >= 1.30 with
//                UserNamespacesSupport, an idmap-capable runtime);
//   rootless   — the seed's: uid 1000, SETUID/SETGID with privilege escalation (newuidmap),
//                seccomp and AppArmor Unconfined (RuntimeDefault refuses unshare without
//                SYS_ADMIN), vfs storage;
//   privileged — privileged: true, root, the image's overlay storage.
enum class BuildSecurity { userns, rootless, privileged };
std::optional<BuildSecurity> parse_build_security(std::string_view text);
std::string_view to_string(BuildSecurity mode);

struct Options {
  std::string namespace_name = "image-factory-kargo";
  std::string builder_image = "ghcr.io/craigedmunds/image-factory:latest";
  std::string image_interval = "5m";  // Warehouses of the images we build
  std::string base_interval = "24h";  // Warehouses of base and external images
  // Where the verification Jobs clone the state repository from. Empty: the URL is read at
  // run time from the Secret `state_repo_secret` (key repoURL).
  std::string state_repo;
  std::string state_branch = "main";
  std::string state_path = ".";  // the state directory inside that repository
  std::string state_repo_secret = "image-factory-state";
  std::string registry_secret = "gh-docker-registry-creds";  // kubernetes.io/dockerconfigjson
  std::string github_token_secret = "github-workflow-token";  // key `token`: workflow dispatch
  std::string git_credentials_secret = "github-credentials";  // key `password` (optional)
  std::string service_account = "image-factory";
  std::vector<std::pair<std::string, std::string>> namespace_labels;  // extra labels
  // The original tool's Namespace labels, `secrets/gh-docker-registry: "true"` and
  // `kargo.deps/ghcr: "true"`: clusters set up for it copy the registry Secret into
  // namespaces that carry them. Kept unless turned off (--no-original-namespace-labels).
  bool original_namespace_labels = true;
  // Build and rebuild Stages of each image wait an extra offset in [0, spread), derived from
  // the image name, before they take new Freight (Kargo's requiredSoakTime), so Freight that
  // reaches many Stages at once (the first apply, a popular base image) does not start every
  // Job at the same moment. "0s" turns it off. A Kargo duration.
  std::string rebuild_spread = "1h";
  // Above this many Stages the ProjectConfig selects Stages by label instead of listing
  // them by name (keeps the object far below the 1.5 MiB etcd limit).
  std::size_t max_named_policies = 1000;

  // ---- the Jobs (kargo_jobs.cpp)
  BuildSecurity build_security = BuildSecurity::userns;
  // A registry repository for buildah's layer cache (--cache-from/--cache-to), shared by every
  // image (cache entries are keyed by content); empty: no registry cache.
  std::string cache_repo;
  // The identity of the state commits the Jobs push (IMGFACTORY_GIT_AUTHOR_NAME/_EMAIL).
  std::string git_author_name = "imgfactory";
  std::string git_author_email = "imgfactory@localhost";
  // Where the manifests live inside the state directory (relative to it): the analyze Job
  // regenerates them there, with these very options, and pushes them with its state in one
  // commit. Empty: the manifests are not kept in the state repository and the analyze Job
  // does not regenerate them.
  std::string manifests_path = "dist/image-factory.k8s.yaml";
};

// The `synth` options that reproduce `o` exactly, as the analyze Job passes them to
// `analyze --synth` (every option that changes the output, defaults included, so a builder
// image with other defaults renders the same bytes). Flag names are synth's.
std::vector<std::string> synth_flags(const Options& o);

// Throws imgf::Error (exit 2) for an invalid namespace, builder image, interval, secret name...
void validate(const Options& options);

struct Manifests {
  std::string yaml;         // every document, "---" separated, ending in a newline
  std::size_t documents = 0;
  std::size_t warehouses = 0;
  std::size_t stages = 0;
  std::size_t analysis_templates = 0;
  // What the Warehouses subscribe to (sorted, distinct): the repositories Kargo itself reads.
  std::vector<std::string> image_repos;
  std::vector<std::string> git_repos;
  bool workflow_dispatch = false;  // some Stage dispatches a GitHub workflow (github_token_secret)
};

// Plans and renders. Throws imgf::Error (exit 2, FILE:LINE) for a regex RE2 refuses, a
// repository URL, branch or name Kargo would refuse.
Manifests synthesize(const Input& input, const Options& options);

// Skeletons of the repository-credential Secrets Kargo looks up by label
// (`kargo.akuity.io/cred-type: image|git`, keys repoURL, repoURLIsRegex, username, password),
// one per registry host and first path segment of every image repository the Warehouses
// watch, and one per git host and owner of every git repository they watch, with empty
// username and password for the operator to fill in, and the generic Secret with the
// workflow-dispatch token when a Stage uses it. Never part of synthesize()'s output.
// Deterministic; only the header comment when nothing is watched.
std::string credential_skeletons(const Manifests& manifests, const Options& options);

}  // namespace imgf::kargo
