// `imgfactory build`: resolve the enrolled image, check its source out into a scratch
// workspace, plan, execute, read the pushed digests back and record them in the state file.
#include <git2.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

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
#include "imgfactory/state_fields.hpp"

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
    git_remote* remote = nullptr;
    if (git_remote_lookup(&remote, repo, "origin") == 0) {
      if (const char* u = git_remote_url(remote)) info.origin = without_userinfo(u);
      git_remote_free(remote);
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

// Checkout of the enrolled source into <workspace>/src: local.dir copied and its patches
// applied with `git apply`, or a shallow clone of source.repo at source.branch.
struct Checkout {
  fs::path src;
  fs::path dockerfile;
  fs::path context;
  std::string source_url;
  std::string revision;
  std::vector<std::string> describe;  // for --dry-run
};

Checkout plan_checkout(const enrollment::Image& img, const fs::path& state_dir, const fs::path& images_file,
                       const fs::path& workspace) {
  Checkout c;
  c.src = workspace / "src";
  if (img.local) {
    const auto& l = *img.local;
    fs::path origin = in_state_repo(state_dir, l.dir);
    std::error_code ec;
    if (!fs::is_directory(origin, ec))
      throw input_error("local.dir '" + l.dir + "' of '" + img.name + "' is not a directory (looked at " +
                            origin.string() + ")",
                        images_file.string(), l.line, "local.dir is relative to the state directory (--state-dir)");
    if (!fs::exists(origin / l.dockerfile, ec))
      throw input_error("the Dockerfile '" + l.dockerfile + "' of '" + img.name + "' is not in " + origin.string(),
                        images_file.string(), l.line);
    c.dockerfile = c.src / l.dockerfile;
    c.context = c.src;
    GitInfo gi = git_info(origin);
    c.revision = gi.revision;
    c.source_url = gi.origin;
    c.describe.push_back("copy " + origin.string() + " to " + c.src.string());
    for (const auto& p : l.patch_files)
      c.describe.push_back(proc::format_argv({"git", "apply", "--whitespace=nowarn", in_state_repo(state_dir, p).string()}));
  } else {
    const auto& s = *img.source;
    c.source_url = without_userinfo(s.url());
    c.dockerfile = c.src / s.dockerfile;
    if (s.context.empty()) c.context = c.dockerfile.parent_path();  // the Dockerfile's directory
    else if (s.context == ".") c.context = c.src;
    else c.context = c.src / s.context;
    c.describe.push_back(proc::format_argv(
        {"git", "clone", "--depth", "1", "--single-branch", "--branch", s.branch, s.url(), c.src.string()}));
  }
  return c;
}

void do_checkout(Checkout& c, const enrollment::Image& img, const fs::path& state_dir, const fs::path& images_file,
                 const fs::path& workspace, proc::Runner& runner) {
  auto stream = [](const char* label) {
    return [label](std::string_view l) { spdlog::info("[{}] {}", label, l); };
  };
  if (img.local) {
    const auto& l = *img.local;
    std::error_code ec;
    fs::copy(in_state_repo(state_dir, l.dir), c.src, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) throw failure("cannot copy local.dir '" + l.dir + "' into the workspace: " + ec.message());
    for (const auto& patch : l.patch_files) {
      fs::path p = fs::absolute(in_state_repo(state_dir, patch));
      if (!fs::is_regular_file(p, ec))
        throw input_error("patch file '" + patch + "' of '" + img.name + "' does not exist (looked at " + p.string() + ")",
                          images_file.string(), l.line, "patchFiles are relative to the state directory");
      proc::Spec spec;
      spec.argv = {"git", "apply", "--whitespace=nowarn", p.string()};
      spec.cwd = c.src;
      // Outside any repository: git apply then patches the directory as patch(1) would.
      spec.env_set = {{"GIT_CEILING_DIRECTORIES", workspace.string()}};
      spec.on_stderr_line = stream("patch");
      spdlog::info("[patch] $ {}", proc::format_argv(spec.argv));
      proc::Result r = runner.run(spec);
      proc::throw_if_interrupted();
      if (!r.ok()) {
        std::string first = r.err.substr(0, r.err.find('\n'));
        throw failure("patch '" + patch + "' does not apply to local.dir '" + l.dir + "' (git apply " + r.describe() + ")",
                      images_file.string(), l.line, first.empty() ? "" : "git apply: " + first);
      }
    }
    return;
  }
  const auto& s = *img.source;
  proc::Spec spec;
  spec.argv = {"git", "clone", "--depth", "1", "--single-branch", "--branch", s.branch, s.url(), c.src.string()};
  spec.on_stderr_line = stream("checkout");
  spec.on_stdout_line = stream("checkout");
  spec.env_set = {{"GIT_TERMINAL_PROMPT", "0"}};
  spdlog::info("[checkout] $ {}", proc::format_argv(spec.argv));
  proc::Result r = runner.run(spec);
  proc::throw_if_interrupted();
  if (!r.ok())
    throw failure("cannot clone " + c.source_url + " at branch '" + s.branch + "' (git " + r.describe() + ")",
                  images_file.string(), s.line, "check source.repo and source.branch, and git credentials");
  c.revision = git_info(c.src).revision;
  std::error_code ec;
  if (!fs::exists(c.dockerfile, ec))
    throw input_error("the Dockerfile '" + s.dockerfile + "' is not in " + c.source_url + " at branch " + s.branch,
                      images_file.string(), s.line);
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

  TagInputs ti;
  ti.explicit_tag = o.tag;
  ti.increment = o.increment;
  ti.suffix = o.suffix;
  if (img.local && !img.local->version_file.empty()) {
    fs::path vf = in_state_repo(ctx.state_dir, img.local->version_file);
    std::error_code ec;
    if (!fs::is_regular_file(vf, ec))
      throw input_error("versionFile '" + img.local->version_file + "' of '" + img.name + "' does not exist (looked at " +
                            vf.string() + ")",
                        images_file, img.local->line);
    ti.version_file = trim(fsutil::read_file(vf));
  }
  if (o.increment != Increment::none) ti.current_version = current_version(layout, img.name);
  std::string tag = resolve_tag(ti);

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
  Checkout co = plan_checkout(img, ctx.state_dir, ctx.images_file, ws.path());
  if (!o.dry_run) do_checkout(co, img, ctx.state_dir, ctx.images_file, ws.path(), *ctx.runner);
  // [inputs] pin the base images, learn the inputs; --if-changed may end here, before any buildah.
  if (!o.dry_run && hooks.prepare(co.dockerfile, ws.path(), co.src, co.revision, platforms, build_args, reference))
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
  in.labels = oci_labels(co.source_url, hooks.revision(co.revision), hooks.created(), tag, img.name);  // [inputs]
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
    if (ctx.on_recorded) ctx.on_recorded(rec);
  }
  std::string text = o.json ? render_result_json(res) : render_result_text(res);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace imgf::builder
