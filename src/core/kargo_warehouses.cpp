// Warehouses: which exist, their subscriptions and selection. See kargo_internal.hpp.
//
//   image we build I      Warehouse I          its published repository only, selected by the
//                                              tag rule build follows (tagrule::image_selection)
//                         Warehouse I-source   its source repository (and, for local files,
//                                              the state repository), feeding its analysis
//                                              and build Stages
//   external image E      Warehouse E          from images.yaml, else its state file
//   base image B          Warehouse B          from its state file; none when B is an image we
//                                              build (I's Warehouse feeds the rebuild: only a
//                                              new published image, never a source commit) or
//                                              when an external or base Warehouse already
//                                              watches exactly the same tags
#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "imgfactory/error.hpp"
#include "imgfactory/tagrule.hpp"
#include "kargo_internal.hpp"

namespace imgf::kargo::detail {

std::string Watch::key() const {
  std::string k = normalize_repo(repo) + '\n' + strategy + '\n' + constraint + '\n' +
                  (strict ? (*strict ? "strict" : "loose") : "default") + '\n';
  for (const auto& a : allow) k += a + '\n';
  return k;
}

void Planner::claim_warehouse(const std::string& name, const std::string& what, const std::string& file, int line) {
  if (auto [it, fresh] = warehouse_owner_.emplace(name, what); !fresh)
    throw input_error("Warehouse name '" + name + "' would be used both for " + it->second + " and for " + what,
                      file, line, "rename one of the images");
}

bool Planner::has_source_warehouse(const enrollment::Image& img) const {
  return img.source.has_value() || (img.local.has_value() && !o_.state_repo.empty());
}

void Planner::name_warehouses() {
  std::map<std::string, std::string> managed_by_repo;
  std::vector<const enrollment::Image*> externals;
  for (const auto& img : in_.enrollment.images) {
    const std::string w = kube_name(img.name);
    claim_warehouse(w, "image '" + img.name + "'", images_file_, img.line);
    image_warehouse_[img.name] = w;
    warehouse_repo_[w] = img.repository_url();
    if (img.managed()) managed_by_repo.emplace(normalize_repo(img.repository_url()), w);
    else externals.push_back(&img);
  }
  for (const auto& img : in_.enrollment.images) {
    if (!img.managed() || !has_source_warehouse(img)) continue;
    const std::string w = kube_name(img.name + "-source");
    claim_warehouse(w, "the source of image '" + img.name + "'", images_file_, img.line);
    source_warehouse_[img.name] = w;
  }
  // Watch-only Warehouses: external images first (their names are enrolled names), in name
  // order, so a base image that would watch the same tags joins the same Warehouse whatever
  // the order of images.yaml.
  std::sort(externals.begin(), externals.end(),
            [&](const auto* a, const auto* b) { return image_warehouse_.at(a->name) < image_warehouse_.at(b->name); });
  std::map<std::string, std::string> by_key;  // Watch::key -> Warehouse
  for (const auto* img : externals) {
    const std::string& w = image_warehouse_.at(img->name);
    Watch watch = external_watch(*img);
    by_key.emplace(watch.key(), w);
    watch_only_[w] = {std::move(watch), "external"};
  }
  for (const auto& [name, base] : in_.bases) {
    const Located repo = base.repository_url();
    if (auto it = managed_by_repo.find(normalize_repo(repo.value)); it != managed_by_repo.end()) {
      base_warehouse_[name] = it->second;  // an image we build: its own (published image) Warehouse
      continue;
    }
    Watch watch = base_watch(base);
    if (auto it = by_key.find(watch.key()); it != by_key.end()) {
      spdlog::debug("{}: base image '{}' is watched by Warehouse '{}' (the same tags)", base.file, name, it->second);
      base_warehouse_[name] = it->second;
      continue;
    }
    std::string w = kube_name(name);
    if (warehouse_owner_.contains(w)) w = kube_name("base-" + name);
    claim_warehouse(w, "base image '" + name + "'", base.file, repo.line);
    base_warehouse_[name] = w;
    warehouse_repo_[w] = watch.repo;
    by_key.emplace(watch.key(), w);
    watch_only_[w] = {std::move(watch), "base"};
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
  for (const auto& sub : subs.items())
    for (const auto& [kind, body] : sub.entries())
      for (const auto& [key, value] : body.entries())
        if (key == "repoURL") (kind == "image" ? image_repos_ : git_repos_).insert(value.scalar());
  Node doc = object(kKargoApi, "Warehouse", name, &o_.namespace_name, {{kRoleKey, role}});
  Node& spec = doc.set("spec", Node::map());
  spec.set("interval", interval);
  spec.set("subscriptions", std::move(subs));
  warehouses_.push_back({name, yaml::emit(doc)});
}

Node Planner::image_sub_node(const Watch& w) {
  Node sub = Node::map();
  Node& image = sub.set("image", Node::map());
  image.set("repoURL", w.repo);
  image.set("imageSelectionStrategy", w.strategy);
  if (!w.constraint.empty()) image.set("constraint", w.constraint);
  if (w.strict) image.set("strictSemvers", Node::boolean(*w.strict));
  if (!w.allow.empty()) image.set("allowTagsRegexes", string_seq(w.allow));
  image.set("discoveryLimit", Node::integer(kImageDiscoveryLimit));
  return sub;
}

Node Planner::git_sub_node(const std::string& url, const std::string& branch, const std::vector<std::string>& include,
                           const std::vector<std::string>& exclude) {
  Node sub = Node::map();
  Node& git = sub.set("git", Node::map());
  git.set("repoURL", url);
  git.set("branch", branch);
  git.set("commitSelectionStrategy", "NewestFromBranch");
  if (!include.empty()) git.set("includePaths", string_seq(include));
  if (!exclude.empty()) git.set("excludePaths", string_seq(exclude));
  git.set("discoveryLimit", Node::integer(kGitDiscoveryLimit));
  return sub;
}

void Planner::check_strategy(const std::string& s, const std::string& file, int line) {
  static const std::set<std::string> known = {"SemVer", "Lexical", "NewestBuild", "Digest"};
  if (!known.contains(s))
    throw input_error("imageSelectionStrategy must be one of SemVer, Lexical, NewestBuild, Digest, not '" + s + "'",
                      file, line);
}

Watch Planner::base_watch(const BaseImageState& base) const {
  Watch w;
  const Located repo = base.repository_url();
  check_image_repo(repo.value, base.file, repo.line);
  w.repo = repo.value;
  w.strategy = base.image_selection_strategy.empty() ? "Lexical" : base.image_selection_strategy.value;
  check_strategy(w.strategy, base.file, base.image_selection_strategy.line);
  if (w.strategy == "Digest") {
    if (base.tag.empty())
      throw input_error("the Digest strategy needs the tag to follow, and this state has none", base.file,
                        base.image_selection_strategy.line);
    w.constraint = base.tag.value;
    return w;
  }
  if (!base.allow_tags.empty()) {
    w.allow.push_back(repaired_allow_tags(base));
  } else if (!base.tag.empty()) {
    w.allow.push_back(anchored_literal(base.tag.value));
    check_regex(w.allow.back(), "allowTags derived from tag", base.file, base.tag.line);
  }
  if (w.strategy == "SemVer") {
    // Kargo defaults strictSemvers to true: "3.12-slim" or "7.2-alpine" would never be
    // discovered. Loose unless the tracked tag is a strict version itself.
    if (base.tag.empty() || !tagrule::parse_semver(base.tag.value, true)) w.strict = false;
    if (!base.tag.empty() && !tagrule::parse_semver(base.tag.value, false))
      spdlog::warn("{}:{}: SemVer never selects the tag '{}', which is no version: rebuilds on this base image "
                   "never fire; use Lexical or Digest",
                   base.file, base.image_selection_strategy.line, base.tag.value);
    if (w.allow.empty()) {
      w.allow.emplace_back(tagrule::kVersionTags);
      w.strict = false;
    }
  }
  return w;
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

Watch Planner::external_watch(const enrollment::Image& img) const {
  const ImageState& st = state_of(img.name);
  Watch w;
  w.repo = img.repository_url();
  check_image_repo(w.repo, images_file_, img.line);
  w.strategy = "Lexical";
  if (!img.image_selection_strategy.empty()) {
    w.strategy = img.image_selection_strategy;
    check_strategy(w.strategy, images_file_, img.line);
  } else if (!st.image_selection_strategy.empty()) {
    w.strategy = st.image_selection_strategy.value;
    check_strategy(w.strategy, st.file, st.image_selection_strategy.line);
  }
  if (w.strategy == "Digest") {
    w.constraint = "latest";
    return w;
  }
  if (!img.allow_tags.empty()) {
    check_regex(img.allow_tags, "allowTags", images_file_, img.allow_tags_line);
    w.allow.push_back(img.allow_tags);
  } else if (!st.allow_tags.empty()) {
    check_regex(st.allow_tags.value, "allowTags", st.file, st.allow_tags.line);
    w.allow.push_back(st.allow_tags.value);
  }
  if (w.strategy == "SemVer") {
    // the allowTags regex says which tags count; Kargo's strict default would silently drop
    // those that are not MAJOR.MINOR.PATCH (7.2-alpine). Without one: versions only.
    w.strict = false;
    if (w.allow.empty()) w.allow.emplace_back(tagrule::kVersionTags);
  } else if (w.allow.empty()) {
    w.allow.emplace_back("^.*$");
  }
  return w;
}

void Planner::plan_watch_only_warehouses() {
  for (const auto& [name, ws] : watch_only_) {
    Node subs = Node::seq();
    subs.push(image_sub_node(ws.first));
    add_warehouse(name, ws.second, o_.base_interval, std::move(subs));
  }
}

std::vector<std::string> Planner::state_written_paths(const std::vector<std::string>& includes) const {
  const std::string root = clean_dir(o_.state_path, false);
  std::vector<std::string> written = {join_path(root, "images"), join_path(root, "base-images"),
                                      join_path(root, "dist")};
  // the original layout keeps the state files under state/
  written.push_back(join_path(root, "state/images"));
  written.push_back(join_path(root, "state/base-images"));
  for (const auto& img : in_.enrollment.images)
    if (img.local && !img.local->version_file.empty()) written.push_back(join_path(root, img.local->version_path()));
  return paths_under(includes, written);
}

SourcePlan Planner::plan_source(const enrollment::Image& img) {
  SourcePlan p;
  if (!has_source_warehouse(img)) return p;
  p.warehouse = source_warehouse_.at(img.name);
  struct GitWatch {
    std::string url, branch;
    std::vector<std::string> dirs;
  };
  std::vector<GitWatch> watches;
  if (img.source) {
    const auto& s = *img.source;
    std::string url = s.url();
    if (const std::string userinfo = url_userinfo(url); !userinfo.empty()) {
      // credentials never go into manifests: Kargo takes them from its own Secrets
      url.erase(url.find(userinfo), userinfo.size());
      spdlog::warn("{}:{}: credentials in source.repo are not written to the manifests; give Kargo a git "
                   "credentials Secret for {}",
                   images_file_, s.line, url);
    }
    check_git(url, s.branch, images_file_, s.line);
    GitWatch g{url, s.branch, {clean_dir(s.dockerfile, true)}};
    // What the build reads: the Dockerfile and, when the source is what is built (upstream
    // mode), its context, whose default is the repository root (the original's), so that a
    // commit changing a file the Dockerfile COPYs from the root makes Freight too.
    if (!s.context.empty()) g.dirs.push_back(clean_dir(s.context, false));
    else if (enrollment::build_mode(img) == enrollment::BuildMode::upstream) g.dirs.push_back("");
    watches.push_back(std::move(g));
    p.source_url = url;
  }
  const std::string state_norm = o_.state_repo.empty() ? std::string() : normalize_git(o_.state_repo);
  if (img.local && !o_.state_repo.empty()) {
    // local files live in the state repository itself: its directory and patch files (the
    // version file is excluded below: each build bumps it)
    const auto& l = *img.local;
    const std::string root = clean_dir(o_.state_path, false);
    std::vector<std::string> dirs = {join_path(root, clean_dir(l.dir, false))};
    for (const auto& f : l.patch_files) dirs.push_back(join_path(root, l.patch_path(f)));
    if (!watches.empty() && normalize_git(watches[0].url) == state_norm && watches[0].branch == o_.state_branch) {
      // one subscription per repository and branch
      watches[0].dirs.insert(watches[0].dirs.end(), dirs.begin(), dirs.end());
    } else {
      watches.push_back({o_.state_repo, o_.state_branch, std::move(dirs)});
      p.state_url = o_.state_repo;
    }
  }
  for (const auto& g : watches) {
    const auto include = include_paths(g.dirs);
    std::vector<std::string> exclude;
    if (!state_norm.empty() && normalize_git(g.url) == state_norm) exclude = state_written_paths(include);
    p.subscriptions.push(git_sub_node(g.url, g.branch, include, exclude));
  }
  add_warehouse(p.warehouse, "source", o_.image_interval, p.subscriptions);
  return p;
}

void Planner::plan_managed(const enrollment::Image& img) {
  const ImageState& st = state_of(img.name);
  const std::string& w = image_warehouse_.at(img.name);
  const std::string repo = img.repository_url();
  check_image_repo(repo, images_file_, img.line);

  // the published image, selected as `build` tags it (tagrule); nothing a build writes
  // (currentVersion, digests) goes into the selection, so a build never changes it
  if (!img.allow_tags.empty()) check_regex(img.allow_tags, "allowTags", images_file_, img.allow_tags_line);
  const tagrule::Selection sel = tagrule::image_selection(img, images_file_);
  Watch watch{repo, sel.strategy, sel.constraint, sel.strict_semvers, sel.allow_tags_regexes};
  Node subs = Node::seq();
  subs.push(image_sub_node(watch));
  add_warehouse(w, "image", o_.image_interval, std::move(subs));

  // stderr only: the tag the next build would push, if its Warehouse could never select it
  if (built_by_template(img) && !(img.local && !img.local->version_file.empty())) {
    tagrule::Inputs next;
    next.current_version = st.current_version.value;
    try {
      (void)tagrule::decide(next, sel);
    } catch (const Error& e) {
      spdlog::warn("{}:{}: '{}': the build Job will refuse to push: {}", images_file_, img.line, img.name,
                   e.message());
    }
  }

  if (img.source && !img.source->workflow.empty() && built_by_template(img))
    spdlog::warn("{}:{}: source.workflow '{}' is set but '{}' is not a GitHub repository; '{}' is built by the "
                 "build AnalysisTemplate instead",
                 images_file_, img.source->line, img.source->workflow, img.source->repo, img.name);
  const SourcePlan src = plan_source(img);
  plan_analysis_stage(img, src);
  if (!src.warehouse.empty() && built_by_template(img))
    plan_build_stage(img, src, kube_name("analyze-dockerfile-" + img.name));
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
