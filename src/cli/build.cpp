// `imgfactory build IMAGE`: wires the options into builder::Options and calls the library.
#include <memory>

#include "commands.hpp"
#include "imgfactory/builder.hpp"
#include "imgfactory/duration.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/gitstate.hpp"
#include "imgfactory/process.hpp"
#include "imgfactory/state_fields.hpp"

namespace imgf::cli {
namespace {

struct BuildArgs {
  builder::Options o;
  std::vector<std::string> images;
  std::string increment;
  std::string timeout;
  std::string retry_delay = "2s";
  std::string format = "text";
  int jobs = 0;
};

std::chrono::milliseconds duration_option(const std::string& text, const char* flag) {
  auto d = duration::parse(text);
  if (!d)
    throw input_error(std::string(flag) + " '" + text + "' is not a duration", {}, 0,
                      "for example 90s, 30m, 1h30m, or a number of seconds");
  return *d;
}

// --git-commit: the commit names image, version and digest; on a newer tip of the state branch
// the same fields are written again into that tip's images/<image>.yaml.
void record_build(const Globals& g, const builder::Recorded& r) {
  std::string digest = r.digest;
  if (auto colon = digest.find(':'); colon != std::string::npos && digest.size() > colon + 13)
    digest.resize(colon + 13);
  gitstate::Change change;
  change.summary = "build " + r.image + " " + r.tag + " " + digest;
  change.details = {"pushed " + r.reference + " (" + r.digest + ")"};
  if (!r.version_file.empty())
    change.details.push_back("bumped " + r.version_file.filename().string() + " " + r.version_before + " -> " +
                             r.bumped_version);
  change.replay = [layout = enrollment::layout_for(g.state_dir), r] {
    state::update_image_state(layout, r.image, r.fields);
    if (!r.version_file.empty()) builder::replay_version_bump(r.version_file, r.bumped_version);
  };
  g.git->record(std::move(change));
}

}  // namespace

Command add_build(CLI::App& root) {
  auto a = std::make_shared<BuildArgs>();
  Command cmd;
  CLI::App* app = root.add_subcommand(
      "build", "build an enrolled image for several platforms with buildah, push one manifest list, record its digest");
  cmd.app = app;
  app->add_option("IMAGE", a->images, "the enrolled image name(s)")->required();
  app->add_option("--tag", a->o.tag, "tag to build (default: local.versionFile, else currentVersion bumped)");
  app->add_option("--platform", a->o.platforms, "platforms, comma-separated (default linux/amd64,linux/arm64)")
      ->delimiter(',')
      ->allow_extra_args(false);
  app->add_option("--registry", a->o.registry, "registry host to push to (default: the enrollment's)")
      ->envname("REGISTRY");
  app->add_flag("--no-push", a->o.no_push, "build the manifest list locally, do not push");
  app->add_flag("--local", a->o.local, "host platform only, tagged localhost/<repository>:local, no push");
  app->add_flag("--dry-run", a->o.dry_run, "print the plan (every buildah/skopeo argv) and run nothing");
  app->add_option("--build-arg", a->o.build_args, "KEY=VALUE passed to every platform's build")
      ->allow_extra_args(false);
  app->add_option("--jobs", a->jobs, "platforms built in parallel (default: all)")->check(CLI::NonNegativeNumber);
  app->add_option("--retries", a->o.retries, "retries of push and read-back on transient registry errors")
      ->check(CLI::Range(0, 20));
  app->add_option("--retry-delay", a->retry_delay, "first backoff between retries, doubling (default 2s)");
  app->add_option("--timeout", a->timeout, "limit for the whole build, e.g. 30m (default: none)");
  app->add_option("--isolation", a->o.isolation, "buildah isolation: chroot (default), oci, rootless")
      ->envname("BUILDAH_ISOLATION");
  app->add_option("--increment", a->increment,
                  "version part bumped (the version file after the push, else currentVersion): major, minor, patch")
      ->check(CLI::IsMember({"major", "minor", "patch"}));
  app->add_option("--suffix", a->o.suffix, "appended to the tag as -<suffix> (the version file is not bumped)");
  app->add_option("--revision", a->o.revision, "build this commit (full id) of source.repo; empty: the branch's tip");
  app->add_option("--cache-dir", a->o.cache_dir, "git cache for sources (default: <state-dir>/.image-factory-cache)");
  app->add_option("--format", a->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  // [inputs] issue 12: build inputs (docs/build.md)
  app->add_option("--base", a->o.bases, "build on exactly this base: repo[:tag]@sha256:… (repeatable; empty ignored)")
      ->allow_extra_args(false);
  app->add_flag("--if-changed", a->o.if_changed,
                "skip (exit 0, \"skipped\": true) when the inputs and the pushed digest are unchanged");
  app->add_option("--target", a->o.target, "build up to this Dockerfile stage");
  app->add_option("--cache-from", a->o.cache_from, "registry layer cache to reuse (buildah --cache-from REPO)");
  app->add_option("--cache-to", a->o.cache_to, "registry layer cache to fill (buildah --cache-to REPO)");

  cmd.run = [a](const Globals& g) -> int {
    builder::Options o = a->o;
    o.image = a->images.front();
    o.more_images.assign(a->images.begin() + 1, a->images.end());
    o.jobs = static_cast<std::size_t>(a->jobs);
    o.json = a->format == "json";
    o.increment = *builder::parse_increment(a->increment);
    if (!a->timeout.empty()) o.timeout = duration_option(a->timeout, "--timeout");
    o.retry_delay = duration_option(a->retry_delay, "--retry-delay");
    proc::SystemRunner runner;
    builder::Context ctx;
    ctx.state_dir = g.state_dir;
    ctx.images_file = g.images_file;
    ctx.runner = &runner;
    if (g.git) ctx.on_recorded = [&g](const builder::Recorded& r) { record_build(g, r); };
    return o.more_images.empty() ? builder::run(o, ctx) : builder::run_many(o, ctx);
  };
  return cmd;
}

}  // namespace imgf::cli
