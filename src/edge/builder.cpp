// `imgfactory build`: resolve the enrolled image, check its source out into a scratch
// workspace, plan, execute, read the pushed digests back and record them in the state file.
#include <git2.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "imgfactory/build_inputs.hpp"
#include "imgfactory/binfmt.hpp"
#include "imgfactory/builder.hpp"
#include "imgfactory/dockerfile.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/reference.hpp"
#include "imgfactory/source.hpp"
#include "imgfactory/tagrule.hpp"
#include "imgfactory/state_fields.hpp"
#include "patch.hpp"

namespace imgf::builder {
namespace fs = std::filesystem;
namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

// https://user:token@host/x -> https://host/x: labels are baked into images.
std::string without_userinfo(std::string url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto host_start = scheme + 3;
  auto slash = url.find('/', host_start);
  auto at = url.rfind('@', slash == std::string::npos ? std::string::npos : slash);
  if (at != std::string::npos && at >= host_start) url.erase(host_start, at + 1 - host_start);
  return url;
}

// HEAD and origin of the git repository containing `dir` (libgit2, no child); empty when none.
struct GitInfo {
  std::string revision;
  std::string origin;
};
GitInfo git_info(const fs::path& dir) {
  GitInfo info;
  git_libgit2_init();
  git_repository* repo = nullptr;
  if (git_repository_open_ext(&repo, dir.c_str(), 0, nullptr) == 0) {
    git_oid oid;
    if (git_reference_name_to_id(&oid, repo, "HEAD") == 0) {
      char buf[GIT_OID_HEXSZ + 1];
      git_oid_tostr(buf, sizeof buf, &oid);
      info.revision = buf;
    }
    // remote.origin.url from the configuration: git_remote_lookup's globbing over the
    // configuration leaks PCRE match data in libgit2 1.5 (as gitstate notes).
    git_config* cfg = nullptr;
    if (git_repository_config_snapshot(&cfg, repo) == 0) {
      const char* u = nullptr;
      if (git_config_get_string(&u, cfg, "remote.origin.url") == 0 && u) info.origin = without_userinfo(u);
      git_error_clear();
      git_config_free(cfg);
    }
    git_repository_free(repo);
  }
  git_libgit2_shutdown();
  return info;
}

// Paths in images.yaml (local.dir, patchFiles, versionFile) are relative to the state
// directory; when not found there, to the root of the git work tree that holds it (the
// "state repository"), so an images.yaml kept in a subdirectory can name paths from the
// repository root.
fs::path in_state_repo(const fs::path& state_dir, const std::string& relative) {
  fs::path direct = state_dir / relative;
  std::error_code ec;
  if (fs::exists(direct, ec)) return direct;
  fs::path found = direct;
  git_libgit2_init();
  git_repository* repo = nullptr;
  if (git_repository_open_ext(&repo, fs::absolute(state_dir, ec).c_str(), 0, nullptr) == 0) {
    if (const char* wd = git_repository_workdir(repo); wd != nullptr && fs::exists(fs::path(wd) / relative, ec))
      found = fs::path(wd) / relative;
    git_repository_free(repo);
  }
  git_libgit2_shutdown();
  return found;
}

std::string host_machine() {
  struct utsname u {};
  if (::uname(&u) != 0) return {};
  return u.machine;
}

// currentVersion of images/<name>.yaml; empty when absent or null.
std::string current_version(const enrollment::Layout& layout, const std::string& name) {
  fs::path p = layout.image_state(name);
  std::error_code ec;
  if (!fs::exists(p, ec)) return {};
  try {
    YAML::Node n = YAML::Load(fsutil::read_file(p));
    if (n.IsMap() && n["currentVersion"] && n["currentVersion"].IsScalar()) {
      std::string v = n["currentVersion"].Scalar();
      return v == "null" || v == "~" ? "" : v;
    }
  } catch (const YAML::Exception& e) {
    throw input_error("invalid YAML: " + e.msg, p.string(), e.mark.line >= 0 ? e.mark.line + 1 : 0);
  }
  return {};
}

// A version as YAML: quoted when a YAML reader would take it for a number.
std::string version_scalar(const std::string& v) {
  try {
    YAML::Node n = YAML::Load(v);
    double d = 0;
    if (n.IsScalar() && YAML::convert<double>::decode(n, d)) return "'" + v + "'";
  } catch (const YAML::Exception&) {
  }
  return state::yaml_scalar(v);
}

// A scratch directory removed with everything in it when the build ends.
class Workspace {
 public:
  Workspace(const fs::path& parent, const std::string& name, bool create) {
    std::string templ = (parent / ("imgfactory-build-" + name + "-XXXXXX")).string();
    if (!create) {
      path_ = templ;
      return;
    }
    std::error_code ec;
    fs::create_directories(parent, ec);
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      throw failure("cannot create a build workspace in " + parent.string() + ": " + std::strerror(errno), {}, 0,
                    "set TMPDIR to a writable directory");
    path_ = buf.data();
    owned_ = true;
  }
  ~Workspace() {
    if (!owned_) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (ec) spdlog::warn("could not remove the build workspace {}: {}", path_.string(), ec.message());
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  bool owned_ = false;
};

// What the build builds, in <workspace>/src, by the original's two modes (enrollment::build_mode):
// local.dockerfile: a copy of local.dir; upstream: the source's commit, written from the git
// cache (src/edge/source.cpp: libgit2, insteadOf, GITHUB_TOKEN/GITLAB_TOKEN), patched; and
// imgfactory's own local-only form: a copy of local.dir, patched.
struct Checkout {
  enrollment::BuildMode mode = enrollment::BuildMode::local_dir;
  fs::path src;
  fs::path dockerfile;
  fs::path context;
  fs::path origin;       // local.dir in the state repository (local modes)
  fs::path repository;   // the git repository holding `revision` (upstream: the cache's)
  std::string source_url;  // org.opencontainers.image.source
  std::string revision;
  std::vector<std::string> describe;  // for --dry-run
};

// org.opencontainers.image.source as the original wrote it: https://github.com/<source.repo>
// (gitlab.com for provider gitlab; a URL as it is, without credentials), and in local.dockerfile
// mode without a source https://github.com/<repository>.
std::string source_label(const enrollment::Image& img) {
  if (img.source) {
    const auto& s = *img.source;
    if (s.repo.find("://") != std::string::npos || s.repo.rfind("git@", 0) == 0) return without_userinfo(s.repo);
    std::string r = s.repo;
    if (r.size() > 4 && r.ends_with(".git")) r.resize(r.size() - 4);
    return std::string("https://") + (s.provider == "gitlab" ? "gitlab.com" : "github.com") + "/" + r;
  }
  return "https://github.com/" + img.repository;
}

// A path of the local block (state-root-relative, as Local::version_path/patch_path give it)
// that does not exist. When the same name exists relative to the state root — the form
// imgfactory used to read — say so: the original resolves it inside local.dir.
[[noreturn]] void missing_local_file(const enrollment::Image& img, const fs::path& state_dir,
                                     const std::string& images_file, const std::string& what,
                                     const std::string& written, const fs::path& looked_at) {
  std::string hint = what == "versionFile" ? "versionFile is relative to local.dir (as in the original Image Factory)"
                                           : "a patch file without '/' is relative to local.dir, one with '/' to the "
                                             "state root (as in the original Image Factory)";
  std::error_code ec;
  if (fs::exists(in_state_repo(state_dir, written), ec) && img.local && img.local->dir != ".")
    hint += "; '" + written + "' exists relative to the state root: write it relative to local.dir '" +
            img.local->dir + "'";
  throw input_error(what + " '" + written + "' of '" + img.name + "' does not exist (looked at " + looked_at.string() +
                        ")",
                    images_file, img.local ? img.local->line : img.line, hint);
}

Checkout plan_checkout(const enrollment::Image& img, const fs::path& state_dir, const fs::path& images_file,
                       const fs::path& workspace, const std::string& revision) {
  Checkout c;
  c.mode = enrollment::build_mode(img);
  c.src = workspace / "src";
  c.source_url = source_label(img);
  if (c.mode != enrollment::BuildMode::upstream) {
    const auto& l = *img.local;
    c.origin = in_state_repo(state_dir, l.dir);
    std::error_code ec;
    if (!fs::is_directory(c.origin, ec))
      throw input_error("local.dir '" + l.dir + "' of '" + img.name + "' is not a directory (looked at " +
                            c.origin.string() + ")",
                        images_file.string(), l.line, "local.dir is relative to the state directory (--state-dir)");
    if (!fs::exists(c.origin / l.dockerfile, ec))
      throw input_error("the Dockerfile '" + l.dockerfile + "' of '" + img.name + "' is not in " + c.origin.string(),
                        images_file.string(), l.line);
    if (!revision.empty())
      throw input_error("--revision names a commit of source.repo; '" + img.name + "' builds local.dir '" + l.dir +
                            "' of the state repository",
                        images_file.string(), l.line, "leave out --revision (an empty value is accepted)");
    c.dockerfile = c.src / l.dockerfile;
    c.context = c.src;
    GitInfo gi = git_info(c.origin);
    c.revision = gi.revision;
    c.repository = c.origin;
    if (c.mode == enrollment::BuildMode::local_dir && !img.source) c.source_url = gi.origin;
    c.describe.push_back("copy " + c.origin.string() + " to " + c.src.string());
    if (c.mode == enrollment::BuildMode::local_dir)
      for (const auto& p : l.patch_files)
        c.describe.push_back(proc::format_argv(patch::argv(in_state_repo(state_dir, l.patch_path(p)))));
  } else {
    const auto& s = *img.source;
    c.dockerfile = c.src / s.dockerfile;
    c.context = s.context.empty() || s.context == "." ? c.src : c.src / s.context;  // the original: the root
    c.describe.push_back("git source " + s.repo + " (branch " + s.branch + ")" +
                         (revision.empty() ? std::string() : " at " + revision) + " into " + c.src.string());
    if (img.local)
      for (const auto& p : img.local->patch_files)
        c.describe.push_back(proc::format_argv(patch::argv(in_state_repo(state_dir, img.local->patch_path(p)))));
  }
  return c;
}

void apply_patches(const Checkout& c, const enrollment::Image& img, const fs::path& state_dir,
                   const fs::path& images_file, const fs::path& workspace, proc::Runner& runner) {
  const auto& l = *img.local;
  const std::string onto = c.mode == enrollment::BuildMode::upstream
                               ? img.source->repo + " (branch " + img.source->branch + ", " + c.revision.substr(0, 12) + ")"
                               : "local.dir '" + l.dir + "'";
  for (const auto& name : l.patch_files) {
    fs::path p = fs::absolute(in_state_repo(state_dir, l.patch_path(name)));
    std::error_code ec;
    if (!fs::is_regular_file(p, ec))
      missing_local_file(img, state_dir, images_file.string(), "patch file", name, p);
    spdlog::info("[patch] $ {}", proc::format_argv(patch::argv(p)));
    patch::apply(runner, c.src, workspace, p, {name, onto, images_file.string(), l.line}, {}, {},
                 [](std::string_view line) { spdlog::info("[patch] {}", line); });
  }
}

void do_checkout(Checkout& c, const enrollment::Image& img, const fs::path& state_dir, const fs::path& images_file,
                 const fs::path& workspace, proc::Runner& runner, const Options& o) {
  if (c.mode != enrollment::BuildMode::upstream) {
    std::error_code ec;
    fs::copy(c.origin, c.src, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) throw failure("cannot copy local.dir '" + img.local->dir + "' into the workspace: " + ec.message());
    // The original's local.dockerfile mode applies no patches.
    if (c.mode == enrollment::BuildMode::local_dir) apply_patches(c, img, state_dir, images_file, workspace, runner);
    return;
  }
  const auto& s = *img.source;
  source::Options so;
  so.state_dir = state_dir;
  so.cache_dir = o.cache_dir;
  so.runner = &runner;
  source::Cache cache(so);
  c.revision = cache.export_source(s, o.revision, c.src);
  c.repository = cache.repository_dir(s);
  std::error_code ec;
  if (!fs::exists(c.dockerfile, ec))
    throw input_error("the Dockerfile '" + s.dockerfile + "' is not in " + s.repo + " (branch " + s.branch +
                          ", commit " + c.revision.substr(0, 12) + ")",
                      images_file.string(), s.line);
  if (!s.context.empty() && s.context != ".") (void)source::inside(c.src, s.context, "source.context");
  if (img.local) apply_patches(c, img, state_dir, images_file, workspace, runner);
}

// Whether the Dockerfile runs anything (RUN) in the build: without RUN, a foreign platform
// needs no emulation.
bool has_run_step(const fs::path& dockerfile) {
  std::error_code ec;
  if (!fs::is_regular_file(dockerfile, ec)) return true;
  const auto ast = dockerfile::parse(fsutil::read_file(dockerfile), dockerfile.string());
  for (const auto& n : ast.children) {
    std::string v = n.value;
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (v == "run") return true;
  }
  return false;
}

void check_binfmt(const std::string& image, const fs::path& dockerfile, const std::vector<Platform>& platforms,
                  const Context& ctx) {
  const std::string m = ctx.host_machine.empty() ? host_machine() : ctx.host_machine;
  const auto host = platform_for_machine(m);
  if (!host) return;
  std::vector<std::string> names;
  for (const auto& p : platforms)
    if (!binfmt::native(p.str(), host->str())) names.push_back(p.str());
  if (names.empty() || !has_run_step(dockerfile)) return;
  binfmt::ProbeOptions po;
  po.runner = ctx.runner;
  po.temp_dir = ctx.temp_dir;
  if (const char* d = std::getenv("IMGFACTORY_BINFMT_MISC"); d && *d) po.binfmt_dir = d;  // tests
  if (const char* e = std::getenv("IMGFACTORY_BINFMT_EXEC_PROBE"); e && std::string_view(e) == "0") po.exec_probe = false;
  binfmt::require(binfmt::probe(names, host->str(), po), image, host->str());
}

}  // namespace

void replay_version_bump(const fs::path& version_file, const std::string& bumped) {
  std::error_code ec;
  if (fs::is_regular_file(version_file, ec)) {
    const std::string there = trim(fsutil::read_file(version_file));
    const auto a = tagrule::parse_semver(there, false), b = tagrule::parse_semver(bumped, false);
    if (there == bumped || (a && b && tagrule::compare(*a, *b) >= 0)) {
      spdlog::info("{} already holds {} on the new tip: kept", version_file.string(), there);
      return;
    }
  }
  fsutil::atomic_write(version_file, bumped + "\n");
}

int run(const Options& o, const Context& ctx) {
  if (ctx.runner == nullptr) throw failure("internal: build needs a runner");
  auto enr = enrollment::load(ctx.images_file);
  const enrollment::Image& img = enr.get(o.image);
  const std::string images_file = ctx.images_file.string();
  if (!img.managed())
    throw input_error("'" + img.name + "' has neither source nor local: it is an external image, not built here",
                      images_file, img.line, "give it a source (git) or local (dir) entry to build it");
  enrollment::Layout layout = enrollment::layout_for(ctx.state_dir);

  if (o.local && !o.platforms.empty())
    throw input_error("--local builds the host platform only; leave out --platform");
  if (o.local && o.no_push) spdlog::debug("--no-push is implied by --local");
  std::vector<Platform> platforms;
  if (o.local) {
    std::string m = ctx.host_machine.empty() ? host_machine() : ctx.host_machine;
    auto p = platform_for_machine(m);
    if (!p) throw input_error("--local: unknown host machine '" + m + "'", {}, 0, "use --platform and --no-push instead");
    platforms.push_back(*p);
  } else {
    // --platform, else the image's `platforms:` in images.yaml, else linux/amd64 + linux/arm64
    platforms = parse_platforms(o.platforms.empty() ? img.platforms : o.platforms);
  }

  std::vector<std::pair<std::string, std::string>> build_args;
  for (const auto& a : o.build_args) build_args.push_back(parse_build_arg(a));

  std::string isolation = o.isolation;
  if (isolation.empty())
    if (const char* e = std::getenv("BUILDAH_ISOLATION"); e && *e) isolation = e;
  if (isolation.empty()) isolation = "chroot";
  if (isolation != "chroot" && isolation != "oci" && isolation != "rootless")
    throw input_error("isolation '" + isolation + "' is not chroot, oci or rootless", {}, 0,
                      "set --isolation or BUILDAH_ISOLATION; chroot works where OCI runtimes cannot create containers");

  // [inputs] issue 12 (src/edge/build_inputs.cpp): --base, --if-changed, timestamps, layer cache.
  inputs::BuildHooks hooks(o, ctx, img, [&](const std::string& rel) { return in_state_repo(ctx.state_dir, rel); });

  // The tag rule shared with synth's Warehouses (tagrule::decide): --tag, else the version
  // file's version (local.versionFile, inside local.dir, "-<suffix>" with --suffix), else
  // currentVersion bumped; every push also pushes `latest`; the version file is bumped after
  // a push without --suffix.
  tagrule::Inputs ti;
  ti.explicit_tag = o.tag;
  ti.increment = o.increment;
  ti.suffix = o.suffix;
  fs::path version_file;
  if (img.local && !img.local->version_file.empty()) {
    version_file = in_state_repo(ctx.state_dir, img.local->version_path());
    std::error_code ec;
    if (!fs::is_regular_file(version_file, ec))
      missing_local_file(img, ctx.state_dir, images_file, "versionFile", img.local->version_file, version_file);
    ti.has_version_file = true;
    ti.version_file = trim(fsutil::read_file(version_file));
    if (ti.version_file.empty())
      throw input_error("versionFile '" + img.local->version_file + "' of '" + img.name + "' is empty (" +
                            version_file.string() + ")",
                        images_file, img.local->line, "write the next version into it, e.g. 1.0.0");
  }
  ti.current_version = current_version(layout, img.name);
  const tagrule::Decision decision = tagrule::decide(ti, tagrule::image_selection(img, images_file));
  const std::string tag = decision.tag;
  spdlog::info("tag {} ({})", tag, decision.origin);

  std::string reference;
  bool push = !o.local && !o.no_push;
  if (o.local) {
    reference = "localhost/" + img.repository + ":local";
  } else {
    std::string registry = o.registry.empty() ? img.registry : o.registry;
    if (registry.empty())
      throw input_error("'" + img.name + "' has no registry to push to", images_file, img.line,
                        "set registry in images.yaml, REGISTRY or --registry");
    reference = registry + "/" + img.repository + ":" + tag;
    std::string why;
    if (!reference::try_parse(reference, &why))
      throw input_error("'" + reference + "' is not a valid image reference: " + why, {}, 0,
                        "check --registry / REGISTRY and the enrollment's registry and repository");
  }

  fs::path temp = ctx.temp_dir;
  if (temp.empty()) {
    const char* t = std::getenv("TMPDIR");
    temp = t && *t ? fs::path(t) : fs::path("/tmp");
  }
  Workspace ws(fs::absolute(temp), img.name, !o.dry_run);
  Checkout co = plan_checkout(img, ctx.state_dir, ctx.images_file, ws.path(), o.revision);
  if (!o.dry_run) do_checkout(co, img, ctx.state_dir, ctx.images_file, ws.path(), *ctx.runner, o);
  // [inputs] pin the base images, learn the inputs; --if-changed may end here, before any buildah.
  if (!o.dry_run &&
      hooks.prepare(co.dockerfile, ws.path(), co.repository, co.revision, platforms, build_args, reference))
    return 0;
  // A foreign platform's RUN steps need qemu binfmt: fail here, naming the platform, rather than
  // deep inside buildah with "exec format error".
  if (!o.dry_run && !o.local) check_binfmt(img.name, co.dockerfile, platforms, ctx);

  std::string now = ctx.now ? ctx.now() : state::utc_now_iso8601();
  PlanInput in;
  in.image_name = img.name;
  in.reference = reference;
  in.tag = tag;
  in.platforms = platforms;
  in.push = push;
  in.local = o.local;
  in.workspace = ws.path();
  in.dockerfile = co.dockerfile;
  in.context = co.context;
  in.build_args = build_args;
  in.labels = oci_labels(co.source_url, hooks.revision(co.revision), hooks.created(), tag, img.name,  // [inputs]
                         img.name + " (built by image-factory)");  // the original's description
  if (push)
    for (const auto& t : decision.tags)
      if (t != tag) in.also_tags.push_back(t);
  in.isolation = isolation;
  hooks.apply(in);  // [inputs] pinned Dockerfiles (labels inside), --timestamp, --target, --cache-from/--cache-to
  Plan plan = make_plan(in);

  if (o.dry_run) {
    if (o.json) {
      std::fputs(render_plan_json(plan, o.jobs).c_str(), stdout);
    } else {
      std::string out;
      for (const auto& d : co.describe) out += "# checkout: " + d + "\n";
      out += render_plan_text(plan, o.jobs);
      std::fputs(out.c_str(), stdout);
    }
    return 0;
  }

  ExecOptions eo;
  eo.jobs = o.jobs;
  eo.retries = o.retries;
  eo.retry_delay = o.retry_delay;
  eo.timeout = o.timeout;
  eo.cwd = ws.path();
  spdlog::info("building {} for {} platform(s) with buildah ({} isolation)", reference, platforms.size(), isolation);
  ExecOutput out = execute(plan, *ctx.runner, eo);

  Result res;
  res.image = img.name;
  res.reference = reference;
  res.tag = tag;
  res.pushed = push;
  if (push) res.tags = decision.tags;
  std::string captured = out.captured["inspect"];
  if (o.local) {
    res.platforms.push_back(PlatformDigest{platforms.front().str(), trim(captured)});
  } else {
    res.platforms = parse_manifest_list(captured);
    if (push) {
      std::error_code ec;
      res.digest = fs::exists(plan.digest_file, ec) ? trim(fsutil::read_file(plan.digest_file)) : "";
      std::string read_back = "sha256:" + fsutil::sha256_hex(captured);
      if (res.digest.empty()) res.digest = read_back;
      if (res.digest != read_back)
        throw failure("the registry returns " + read_back + " for " + reference + ", not the pushed " + res.digest,
                      {}, 0, "another push moved the tag meanwhile; build again or pin by digest");
    }
    for (const auto& p : platforms) {
      bool found = false;
      for (const auto& got : res.platforms) found = found || got.platform == p.str();
      if (!found) throw failure("the manifest list of " + reference + " has no " + p.str() + " image");
    }
  }

  proc::throw_if_interrupted();  // a signal now: exit 130/143 and leave the state as it was
  if (push) {
    Recorded rec{img.name, reference, tag, res.digest,
                 {{"currentVersion", {version_scalar(tag)}},
                  {"currentDigest", {state::yaml_scalar(res.digest)}},
                  {"lastBuilt", {state::yaml_timestamp(now)}}}};
    for (auto& f : hooks.state_fields()) rec.fields.push_back(std::move(f));  // [inputs] buildInputs
    state::update_image_state(layout, img.name, rec.fields);
    hooks.pushed(reference);  // [inputs]
    spdlog::info("recorded {} {} in {}", tag, res.digest, layout.image_state(img.name).string());
    if (!version_file.empty() && !decision.bumped_version.empty()) {
      // The original's "Bump version" step: the file names the next version; part of the
      // state change (--git-commit), re-applied by the replay on a newer tip.
      rec.version_file = version_file;
      rec.version_before = ti.version_file;
      rec.bumped_version = decision.bumped_version;
      fsutil::atomic_write(version_file, decision.bumped_version + "\n");
      spdlog::info("bumped {} to {}", version_file.string(), decision.bumped_version);
    }
    if (ctx.on_recorded) ctx.on_recorded(rec);
  }
  std::string text = o.json ? render_result_json(res) : render_result_text(res);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace imgf::builder
