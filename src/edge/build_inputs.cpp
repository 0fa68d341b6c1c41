// Build inputs (issue 12), the edge: digests asked of the registries (in parallel), commit
// times and revisions read with libgit2, local files hashed, pinned Dockerfile copies written
// into the build workspace, and the --if-changed check against the state file.
#include "imgfactory/build_inputs.hpp"

#include <git2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/registry.hpp"
#include "imgfactory/state.hpp"

namespace imgf::inputs {
namespace fs = std::filesystem;
namespace {

using Git = LibGit2;

template <typename T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (p) Free(p);
  }
};
using Repo = Owned<git_repository, git_repository_free>;
using Commit = Owned<git_commit, git_commit_free>;
using Tree = Owned<git_tree, git_tree_free>;
using TreeEntry = Owned<git_tree_entry, git_tree_entry_free>;

std::string oid_text(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, oid);
  return buf;
}

// The object ids of `paths` (relative to the work tree) in a commit's tree; zero when absent.
std::vector<git_oid> path_ids(git_commit* commit, const std::vector<std::string>& paths) {
  std::vector<git_oid> ids(paths.size());
  Tree tree;
  if (git_commit_tree(&tree.p, commit) != 0) return ids;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    std::memset(&ids[i], 0, sizeof(git_oid));
    if (paths[i].empty()) {
      git_oid_cpy(&ids[i], git_tree_id(tree.p));
      continue;
    }
    TreeEntry e;
    if (git_tree_entry_bypath(&e.p, tree.p, paths[i].c_str()) == 0) git_oid_cpy(&ids[i], git_tree_entry_id(e.p));
  }
  return ids;
}

bool same_ids(const std::vector<git_oid>& a, const std::vector<git_oid>& b) {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (git_oid_cmp(&a[i], &b[i]) != 0) return false;
  return true;
}

std::string short_digest(const std::string& d) { return d.size() > 19 ? d.substr(0, 19) + "…" : d; }

std::string exec_bit(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return "-";
  return (st.st_mode & S_IXUSR) ? "x" : "-";
}

}  // namespace

// --- git ------------------------------------------------------------------------------------------

LibGit2::LibGit2() { git_libgit2_init(); }
LibGit2::~LibGit2() { git_libgit2_shutdown(); }

std::optional<SourceCommit> last_commit_touching(const std::vector<fs::path>& paths) {
  if (paths.empty()) return std::nullopt;
  Git git;
  Repo repo;
  std::error_code ec;
  fs::path start = fs::absolute(paths.front(), ec);
  if (!fs::is_directory(start, ec)) start = start.parent_path();
  if (git_repository_open_ext(&repo.p, start.c_str(), 0, nullptr) != 0) return std::nullopt;
  const char* wd = git_repository_workdir(repo.p);
  if (wd == nullptr) return std::nullopt;
  fs::path workdir = fs::weakly_canonical(fs::path(wd), ec);
  std::vector<std::string> rel;
  for (const auto& p : paths) {
    fs::path r = fs::weakly_canonical(fs::absolute(p, ec), ec).lexically_relative(workdir);
    if (r.empty() || *r.begin() == "..") continue;  // outside this work tree
    rel.push_back(r == "." ? std::string() : r.generic_string());
  }
  git_oid head_oid;
  if (git_reference_name_to_id(&head_oid, repo.p, "HEAD") != 0) return std::nullopt;
  Commit head;
  if (git_commit_lookup(&head.p, repo.p, &head_oid) != 0) return std::nullopt;
  SourceCommit at_head{oid_text(&head_oid), static_cast<long long>(git_commit_time(head.p))};
  if (rel.empty()) return at_head;

  // Down the first-parent chain until the paths' ids differ from the parent's.
  constexpr int kMaxCommits = 200000;
  Commit cur;
  git_commit_dup(&cur.p, head.p);
  std::vector<git_oid> cur_ids = path_ids(cur.p, rel);
  for (int n = 0; n < kMaxCommits; ++n) {
    Commit parent;
    bool has_parent = git_commit_parentcount(cur.p) > 0 && git_commit_parent(&parent.p, cur.p, 0) == 0;
    bool changed;
    std::vector<git_oid> parent_ids;
    if (has_parent) {
      parent_ids = path_ids(parent.p, rel);
      changed = !same_ids(cur_ids, parent_ids);
    } else {
      changed = std::any_of(cur_ids.begin(), cur_ids.end(), [](const git_oid& o) { return !git_oid_is_zero(&o); });
    }
    if (changed)
      return SourceCommit{oid_text(git_commit_id(cur.p)), static_cast<long long>(git_commit_time(cur.p))};
    if (!has_parent) break;
    std::swap(cur.p, parent.p);
    cur_ids = std::move(parent_ids);
  }
  return at_head;  // the paths are in no commit (untracked), or the history is beyond the limit
}

std::optional<long long> commit_time(const fs::path& dir, const std::string& revision) {
  if (revision.empty()) return std::nullopt;
  Git git;
  Repo repo;
  if (git_repository_open_ext(&repo.p, dir.c_str(), 0, nullptr) != 0) return std::nullopt;
  git_oid oid;
  if (git_oid_fromstr(&oid, revision.c_str()) != 0) return std::nullopt;
  Commit c;
  if (git_commit_lookup(&c.p, repo.p, &oid) != 0) return std::nullopt;
  return static_cast<long long>(git_commit_time(c.p));
}

// --- local files ----------------------------------------------------------------------------------

std::string local_content_sha256(const fs::path& local_dir, const std::vector<fs::path>& patch_files,
                                 const fs::path& exclude) {
  std::string manifest;
  std::error_code ec;
  fs::path excluded = exclude.empty() ? fs::path() : fs::weakly_canonical(exclude, ec);
  if (!local_dir.empty() && fs::is_directory(local_dir, ec)) {
    std::vector<std::pair<std::string, fs::path>> entries;
    fs::path root = fs::weakly_canonical(local_dir, ec);
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::none, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) throw failure("cannot read " + root.string() + ": " + ec.message());
      const fs::path& p = it->path();
      if (p.filename() == ".git") {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (!excluded.empty() && p == excluded) continue;
      entries.emplace_back(p.lexically_relative(root).generic_string(), p);
    }
    std::sort(entries.begin(), entries.end());
    for (const auto& [rel, p] : entries) {
      auto st = fs::symlink_status(p, ec);
      if (fs::is_symlink(st)) manifest += "L " + rel + " -> " + fs::read_symlink(p, ec).string() + "\n";
      else if (fs::is_directory(st)) manifest += "D " + rel + "\n";
      else if (fs::is_regular_file(st)) manifest += "F" + exec_bit(p) + " " + rel + " " + fsutil::sha256_file(p) + "\n";
      else manifest += "O " + rel + "\n";
    }
  }
  for (const auto& patch : patch_files) {
    std::string digest = fs::is_regular_file(patch, ec) ? fsutil::sha256_file(patch) : std::string("missing");
    manifest += "P " + patch.filename().string() + " " + digest + "\n";
  }
  return fsutil::sha256_hex(manifest);
}

// --- prepare --------------------------------------------------------------------------------------

Prepared prepare(const Request& req, registry::Client& registry) {
  if (req.image == nullptr) throw failure("internal: inputs::prepare needs the enrolled image");
  const enrollment::Image& img = *req.image;
  Prepared out;
  const std::string content = fsutil::read_file(req.dockerfile);

  // The images each platform uses (ARG expansion may differ per platform).
  std::map<std::string, reference::Reference> uses;  // by canonical reference
  std::map<std::string, std::string> written;        // canonical -> as resolved in the file
  std::vector<std::pair<std::string, dockerfile::Options>> per_platform;
  for (const auto& p : req.platforms) {
    dockerfile::Options opt;
    for (const auto& [k, v] : req.build_args) opt.build_args[k] = v;
    opt.platforms = {p.str()};
    opt.target = req.target;
    for (const auto& u : image_uses(content, req.dockerfile_label, opt)) {
      uses.emplace(u.ref.canonical(), u.ref);
      written.emplace(u.ref.canonical(), u.resolved);
    }
    per_platform.emplace_back(p.str(), std::move(opt));
  }

  // --base: every use of that repository is pinned to its digest.
  std::map<std::string, const reference::Reference*> base_for;  // repository_url -> --base
  for (const auto& b : req.bases) {
    bool matched = std::any_of(uses.begin(), uses.end(),
                               [&](const auto& u) { return u.second.repository_url() == b.repository_url(); });
    if (!matched) {
      std::string list;
      for (const auto& [c, r] : uses) list += (list.empty() ? "" : ", ") + c;
      throw input_error("--base " + b.canonical() + " matches no image the Dockerfile builds on", req.dockerfile_label, 0,
                        list.empty() ? "the Dockerfile uses no external image"
                                     : "its FROM, COPY --from and RUN --mount=from images are: " + list);
    }
    base_for[b.repository_url()] = &b;
  }

  // Ask the registries, all at once.
  std::vector<std::string> queries;
  std::map<std::string, std::string> query_of;  // canonical use -> query reference
  for (const auto& [canonical, ref] : uses) {
    auto b = base_for.find(ref.repository_url());
    std::string q = registry::query_reference(b != base_for.end() ? *b->second : ref);
    query_of[canonical] = q;
    if (std::find(queries.begin(), queries.end(), q) == queries.end()) queries.push_back(q);
  }
  std::map<std::string, registry::Outcome> answers;
  for (auto& o : registry.resolve_all(queries)) answers[o.reference] = std::move(o);

  std::map<std::string, std::string> digest_of;  // canonical use -> digest it is pinned to
  std::map<std::string, std::vector<builder::PlatformDigest>> instances_of;  // canonical use -> its index's instances
  for (const auto& [canonical, ref] : uses) {
    BaseInput bi;
    bi.name = reference::state_name(written[canonical]);
    bi.reference = canonical;
    const registry::Outcome& a = answers[query_of[canonical]];
    auto b = base_for.find(ref.repository_url());
    if (b != base_for.end()) {
      bi.digest = b->second->digest;
      if (!a.resolved)
        spdlog::warn("--base {}: {}; its platforms are not recorded", b->second->canonical(), a.error);
    } else if (a.resolved) {
      bi.digest = a.resolved->digest;
    } else {
      spdlog::warn("{} is not pinned: {}; buildah pulls whatever the tag serves then, and the inputs record no digest",
                   canonical, a.error);
    }
    if (a.resolved && (b == base_for.end() || a.resolved->digest == bi.digest)) {
      for (const auto& pd : a.resolved->platforms) bi.platforms.emplace_back(pd.platform, pd.digest);
      if (a.resolved->index) instances_of[canonical] = a.resolved->platforms;
    }
    if (!bi.digest.empty()) digest_of[canonical] = bi.digest;
    out.inputs.base_images.push_back(std::move(bi));
  }

  // Pinned copies, outside the build context: one when every platform reads the same. An
  // index is pinned, per platform, to its instance for that platform: the platforms build in
  // parallel, and two buildah 1.28 processes pulling two platforms of one index reference into
  // one storage race on the image's name (history then says "FROM 127.0.0.1" or the full name,
  // and the digests differ from run to run). The instance digest is what the index names. The
  // instance is the one of the platform the stage runs on (FROM --platform=$BUILDPLATFORM: the
  // build machine's), else the target platform's.
  std::map<std::string, std::string> pinned_text;
  std::set<std::string> logged;
  for (const auto& [platform, opt] : per_platform) {
    const std::string for_platform = platform;
    PinResult r = pin(content, req.dockerfile_label, opt, [&](const ImageUse& u) -> std::optional<std::string> {
      auto it = digest_of.find(u.ref.canonical());
      if (it == digest_of.end()) return std::nullopt;
      if (auto inst = instances_of.find(u.ref.canonical()); inst != instances_of.end())
        if (std::string d = registry::instance_for(inst->second, u.platform.empty() ? for_platform : u.platform);
            !d.empty())
          return d;
      return it->second;
    });
    for (const auto& p : r.pinned) {
      std::string line = platform + ": line " + std::to_string(p.use.line) + ": " + use_kind_name(p.use.kind) + " " +
                         p.use.resolved + " -> " + p.to;
      const std::string& index = digest_of[p.use.ref.canonical()];
      if (!p.to.ends_with(index)) line += " (its instance in " + index + ")";
      if (logged.insert(line).second) spdlog::info("[pin] {}", line);
    }
    for (const auto& u : r.unpinned) {
      std::string line = "line " + std::to_string(u.line) + ": " + use_kind_name(u.kind) + " " + u.resolved;
      if (logged.insert(line).second) {
        spdlog::warn("[pin] {} left as written (no digest)", line);
        out.unpinned.push_back(line);
      }
    }
    pinned_text[platform] = r.content;
  }
  bool all_same = std::all_of(pinned_text.begin(), pinned_text.end(),
                              [&](const auto& kv) { return kv.second == pinned_text.begin()->second; });
  for (const auto& [platform, text] : pinned_text) {
    if (text == content) {
      out.dockerfiles[platform] = req.dockerfile;
      continue;
    }
    std::string slug = platform;
    std::replace(slug.begin(), slug.end(), '/', '-');
    fs::path file = req.workspace / (all_same ? std::string("Dockerfile.pinned") : "Dockerfile.pinned-" + slug);
    if (!all_same || !fs::exists(file)) {
      // A scratch file, removed with the workspace: no fsync (an atomic_write per image cost
      // more than the rest of an unchanged --if-changed check).
      std::ofstream out_file(file, std::ios::binary | std::ios::trunc);
      out_file << text;
      if (!out_file.flush()) throw failure("cannot write " + file.string());
    }
    out.dockerfiles[platform] = file;
  }

  // Revision and time.
  std::optional<SourceCommit> commit;
  if (!req.source_revision.empty()) {
    commit = SourceCommit{req.source_revision, 0};
    if (auto t = commit_time(req.source_dir, req.source_revision)) commit->time = *t;
    else commit.reset();
  } else if (!req.local_dir.empty() || !req.patch_files.empty()) {
    std::vector<fs::path> paths;
    if (!req.local_dir.empty()) paths.push_back(req.local_dir);
    paths.insert(paths.end(), req.patch_files.begin(), req.patch_files.end());
    commit = last_commit_touching(paths);
  }
  out.revision = commit ? commit->revision : req.source_revision;
  if (req.source_date_epoch) {
    out.timestamp = *req.source_date_epoch;
    spdlog::info("image timestamps from SOURCE_DATE_EPOCH: {}", iso8601_utc(out.timestamp));
  } else if (commit) {
    out.timestamp = commit->time;
    spdlog::info("image timestamps from commit {} ({})", commit->revision.substr(0, 12), iso8601_utc(out.timestamp));
  } else {
    out.timestamp = 0;
    spdlog::warn("the source is not in a git work tree: image timestamps are 1970-01-01T00:00:00Z "
                 "(set SOURCE_DATE_EPOCH to choose them)");
  }
  out.created = iso8601_utc(out.timestamp);

  BuildInputs& in = out.inputs;
  in.source_revision = out.revision;
  in.source_date_epoch = out.timestamp;
  if (img.local) in.local_content_sha256 = local_content_sha256(req.local_dir, req.patch_files, req.version_file);
  const bool upstream = enrollment::build_mode(img) == enrollment::BuildMode::upstream;
  in.dockerfile = upstream ? img.source->dockerfile : img.local->dockerfile;
  in.context = upstream ? img.source->context : std::string();
  in.build_args = req.build_args;
  for (const auto& p : req.platforms) in.platforms.push_back(p.str());
  in.target = req.target;
  normalise(in);
  return out;
}

// --- --if-changed -----------------------------------------------------------------------------------

SkipCheck check_unchanged(const std::string& image_name, const std::string& state_text, const BuildInputs& now,
                          const std::string& push_repository, const std::string& explicit_tag,
                          registry::Client& registry) {
  SkipCheck out;
  std::string why;
  auto recorded = parse_recorded(state_text, &why);
  if (!recorded) {
    out.reasons.push_back(why);
    return out;
  }
  out.reasons = differences(*recorded, now);
  if (!out.reasons.empty()) return out;
  std::optional<std::string> digest, version;
  try {
    auto doc = state::Document::parse(state_text, "images/" + image_name + ".yaml", false);
    digest = doc.scalar("currentDigest");
    version = doc.scalar("currentVersion");
  } catch (const Error& e) {
    out.reasons.push_back(e.message());
    return out;
  }
  if (!digest || digest->rfind("sha256:", 0) != 0) {
    out.reasons.push_back("no currentDigest recorded");
    return out;
  }
  std::string tag = explicit_tag.empty() ? version.value_or("") : explicit_tag;
  if (tag.empty()) {
    out.reasons.push_back("no currentVersion recorded");
    return out;
  }
  if (!explicit_tag.empty() && version && *version != explicit_tag) {
    out.reasons.push_back("--tag " + explicit_tag + " is not the last pushed tag (" + *version + ")");
    return out;
  }
  std::string ref = push_repository + ":" + tag;
  registry::Resolved served;
  try {
    served = registry.resolve(ref);
  } catch (const Error& e) {
    if (e.code() == Exit::sigint || e.code() == Exit::sigterm) throw;
    out.reasons.push_back(e.message());
    return out;
  }
  if (served.digest != *digest) {
    out.reasons.push_back(ref + " serves " + short_digest(served.digest) + ", not the recorded " + short_digest(*digest));
    return out;
  }
  out.skip = true;
  out.result.image = image_name;
  out.result.reference = ref;
  out.result.tag = tag;
  out.result.digest = *digest;
  out.result.platforms = served.platforms;
  out.result.pushed = false;
  return out;
}

}  // namespace imgf::inputs

// --- the hooks of `build` ---------------------------------------------------------------------------

namespace imgf::inputs {

BuildHooks::BuildHooks(const builder::Options& o, const builder::Context& ctx, const enrollment::Image& img,
                       std::function<fs::path(const std::string&)> resolve_path)
    : options_(o), context_(ctx), image_(img), resolve_path_(std::move(resolve_path)) {
  for (const auto& b : o.bases)
    if (auto r = parse_base_option(b)) bases_.push_back(*r);
  if (o.if_changed && (o.local || o.no_push))
    throw input_error(std::string("--if-changed compares with what the last push recorded; ") +
                          (o.local ? "--local" : "--no-push") + " pushes and records nothing",
                      {}, 0, "leave out --if-changed, or push");
  if (const char* e = std::getenv("SOURCE_DATE_EPOCH"); e && *e) {
    source_date_epoch_ = parse_epoch(e);
    if (!source_date_epoch_)
      throw input_error("SOURCE_DATE_EPOCH must be a number of seconds since 1970, not '" + std::string(e) + "'");
  }
  for (const auto* flag : {&o.cache_from, &o.cache_to}) {
    if (flag->empty()) continue;
    std::string why;
    auto r = reference::try_parse(*flag, &why);
    if (!r || !r->tag.empty() || !r->digest.empty())
      throw input_error(std::string(flag == &o.cache_from ? "--cache-from" : "--cache-to") + " '" + *flag +
                            "' is not a repository" + (why.empty() ? "" : ": " + why),
                        {}, 0, "give a repository without tag, e.g. registry.example/team/app-cache");
  }
  registry_ = ctx.registry;
  if (registry_ == nullptr && ctx.runner != nullptr) {
    registry::Options ro;
    ro.retries = o.retries;
    ro.retry_delay = o.retry_delay;
    own_registry_ = std::make_unique<registry::Client>(*ctx.runner, ro);
    registry_ = own_registry_.get();
  }
  if (o.dry_run && !source_date_epoch_ && img.local) {
    std::vector<fs::path> paths{resolve_path_(img.local->dir)};
    for (const auto& p : img.local->patch_files) paths.push_back(resolve_path_(img.local->patch_path(p)));
    if (auto c = last_commit_touching(paths)) dry_run_time_ = c->time;
    else dry_run_time_ = 0;
  }
}

BuildHooks::~BuildHooks() = default;

bool BuildHooks::prepare(const fs::path& dockerfile, const fs::path& workspace, const fs::path& source_dir,
                         const std::string& source_revision, const std::vector<builder::Platform>& platforms,
                         const std::vector<std::pair<std::string, std::string>>& build_args,
                         const std::string& push_reference) {
  Request req;
  req.image = &image_;
  req.dockerfile = dockerfile;
  const auto mode = enrollment::build_mode(image_);
  if (mode != enrollment::BuildMode::upstream)
    req.dockerfile_label = image_.local->dockerfile_path();
  else if (image_.source)
    req.dockerfile_label = image_.source->repo + "@" + image_.source->branch + ":" + image_.source->dockerfile;
  req.workspace = workspace;
  req.source_dir = source_dir;
  req.source_revision = image_.source && !image_.local ? source_revision : std::string();
  if (image_.local) {
    req.local_dir = resolve_path_(image_.local->dir);
    // The patches the build applies (none in local.dockerfile mode), resolved as it resolves them.
    if (mode != enrollment::BuildMode::local_dockerfile)
      for (const auto& p : image_.local->patch_files)
        req.patch_files.push_back(fs::absolute(resolve_path_(image_.local->patch_path(p))));
    if (!image_.local->version_file.empty()) req.version_file = resolve_path_(image_.local->version_path());
    if (mode == enrollment::BuildMode::upstream) req.source_revision = source_revision;  // upstream checkout patched with local files
  }
  req.platforms = platforms;
  req.build_args = build_args;
  req.target = options_.target;
  req.bases = bases_;
  req.source_date_epoch = source_date_epoch_;
  prepared_ = inputs::prepare(req, *registry_);
  workspace_ = workspace;
  build_args_ = build_args;

  if (!options_.if_changed) return false;
  auto layout = enrollment::layout_for(context_.state_dir);
  fs::path state_file = layout.image_state(image_.name);
  std::string state_text;
  std::error_code ec;
  if (fs::exists(state_file, ec)) state_text = fsutil::read_file(state_file);
  auto ref = reference::parse(push_reference);
  SkipCheck check = check_unchanged(image_.name, state_text, prepared_->inputs, ref.repository_url(),
                                    options_.tag, *registry_);
  if (!check.skip) {
    for (const auto& r : check.reasons) spdlog::info("--if-changed: building {}: {}", image_.name, r);
    return false;
  }
  // The registry's answer names the repository as canonical; report it as the build would.
  check.result.reference = push_reference.substr(0, push_reference.rfind(':')) + ":" + check.result.tag;
  check.result.skipped = true;
  spdlog::info("--if-changed: {} is unchanged (inputs {}), {} still serves {}; nothing built",
               image_.name, fingerprint(prepared_->inputs).substr(0, 19), check.result.reference, check.result.digest);
  std::string text = options_.json ? builder::render_result_json(check.result) : builder::render_result_text(check.result);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  return true;
}

std::string BuildHooks::timestamp_text() const {
  if (prepared_) return std::to_string(prepared_->timestamp);
  if (source_date_epoch_) return std::to_string(*source_date_epoch_);
  if (dry_run_time_) return std::to_string(*dry_run_time_);
  return "<commit time>";  // --dry-run of a git source: known after the checkout
}

std::string BuildHooks::created() const {
  if (prepared_) return prepared_->created;
  if (source_date_epoch_) return iso8601_utc(*source_date_epoch_);
  if (dry_run_time_) return iso8601_utc(*dry_run_time_);
  return "<commit time>";
}

std::string BuildHooks::revision(const std::string& checkout_revision) const {
  return prepared_ && !prepared_->revision.empty() ? prepared_->revision : checkout_revision;
}

void BuildHooks::apply(builder::PlanInput& in) {
  in.timestamp = timestamp_text();
  in.target = options_.target;
  in.cache_from = options_.cache_from;
  in.cache_to = options_.cache_to;
  if (!prepared_) return;  // --dry-run: the checked-out Dockerfile and --label flags
  std::vector<std::pair<std::string, fs::path>> files;
  bool labels_inside = !in.labels.empty();
  for (const auto& p : in.platforms) {
    auto it = prepared_->dockerfiles.find(p.str());
    fs::path from = it != prepared_->dockerfiles.end() ? it->second : in.dockerfile;
    if (!labels_inside) {
      if (from != in.dockerfile) in.platform_dockerfiles[p.str()] = from;
      continue;
    }
    dockerfile::Options opt;
    for (const auto& [k, v] : build_args_) opt.build_args[k] = v;
    opt.platforms = {p.str()};
    opt.target = options_.target;
    auto text = with_labels(fsutil::read_file(from), from.filename().string(), opt, in.labels);
    if (!text) {
      labels_inside = false;  // a value that cannot be written in a LABEL line: keep the flags
      spdlog::debug("labels stay --label flags");
      files.clear();
      for (const auto& q : in.platforms)
        if (auto f = prepared_->dockerfiles.find(q.str()); f != prepared_->dockerfiles.end() && f->second != in.dockerfile)
          in.platform_dockerfiles[q.str()] = f->second;
      break;
    }
    std::string slug = p.str();
    std::replace(slug.begin(), slug.end(), '/', '-');
    fs::path file = workspace_ / ("Dockerfile.pinned-" + slug);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);  // scratch: no fsync
    out << *text;
    if (!out.flush()) throw failure("cannot write " + file.string());
    files.emplace_back(p.str(), file);
  }
  if (!labels_inside) return;
  for (const auto& [platform, file] : files) in.platform_dockerfiles[platform] = file;
  in.labels.clear();  // one LABEL instruction in each copy instead of one step per --label
}

std::vector<std::pair<std::string, state::FieldValue>> BuildHooks::state_fields() const {
  if (!prepared_) return {};
  return {{"buildInputs", state::FieldValue{render_block(prepared_->inputs), true}}};
}

void BuildHooks::pushed(const std::string& reference) {
  if (registry_ == nullptr) return;
  if (auto r = reference::try_parse(reference)) registry_->forget(r->repository_url());
}

}  // namespace imgf::inputs
