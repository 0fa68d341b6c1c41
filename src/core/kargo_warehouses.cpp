// Warehouses: which exist (one per enrolled image, base and external image; a base that
// is an image we build is fed by that image's own Warehouse), their subscriptions and
// selection. See kargo_internal.hpp.
#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include <set>

#include "imgfactory/error.hpp"
#include "kargo_internal.hpp"

namespace imgf::kargo::detail {

void Planner::claim_warehouse(const std::string& name, const std::string& what, const std::string& file, int line) {
  if (auto [it, fresh] = warehouse_owner_.emplace(name, what); !fresh)
    throw input_error("Warehouse name '" + name + "' would be used both for " + it->second + " and for " + what,
                      file, line, "rename one of the images");
}

void Planner::name_warehouses() {
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

void Planner::check_image_repo(const std::string& repo, const std::string& file, int line) const {
  if (!matches(image_repo_url_re(), repo))
    throw input_error("image repository '" + repo + "' is not a repository URL Kargo accepts", file, line,
                      "registry/path without a tag, e.g. ghcr.io/team/app");
}

void Planner::check_git(const std::string& url, const std::string& branch, const std::string& file, int line) const {
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

void Planner::add_warehouse(const std::string& name, const std::string& role, const std::string& interval, Node subs) {
  Node doc = object(kKargoApi, "Warehouse", name, &o_.namespace_name, {{kRoleKey, role}});
  Node& spec = doc.set("spec", Node::map());
  spec.set("interval", interval);
  spec.set("subscriptions", std::move(subs));
  warehouses_.push_back({name, yaml::emit(doc)});
}

Node Planner::image_sub_node(const std::string& repo, const std::string& strategy, const std::string& constraint,
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

Node Planner::git_sub_node(const std::string& url, const std::string& branch, const std::vector<std::string>& paths) {
  Node sub = Node::map();
  Node& git = sub.set("git", Node::map());
  git.set("repoURL", url);
  git.set("branch", branch);
  git.set("commitSelectionStrategy", "NewestFromBranch");
  if (!paths.empty()) git.set("includePaths", string_seq(paths));
  git.set("discoveryLimit", Node::integer(kGitDiscoveryLimit));
  return sub;
}

void Planner::check_strategy(const std::string& s, const std::string& file, int line) {
  static const std::set<std::string> known = {"SemVer", "Lexical", "NewestBuild", "Digest"};
  if (!known.contains(s))
    throw input_error("imageSelectionStrategy must be one of SemVer, Lexical, NewestBuild, Digest, not '" + s + "'",
                      file, line);
}

// Warehouse of a base image, from its state: strategy and allowTags (converted to
// allowTagsRegexes; the original tool's doubled backslashes repaired when that makes the
// regex match the tracked tag again), 24h interval by default.
void Planner::plan_base_warehouse(const BaseImageState& base) {
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

std::string Planner::repaired_allow_tags(const BaseImageState& base) {
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
void Planner::plan_external(const enrollment::Image& img) {
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

void Planner::plan_managed(const enrollment::Image& img) {
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

}  // namespace imgf::kargo::detail
