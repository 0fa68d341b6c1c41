#include <optional>

#include "analyze_dockerfile.hpp"
#include "analyze_enrollment.hpp"
#include "commands.hpp"
#include "imgfactory/error.hpp"

namespace imgf::cli {

namespace {

struct AnalyzeOptions {
  // The whole enrollment (issue #3).
  std::vector<std::string> images;
  std::string cache_dir;
  bool offline = false;
  bool dry_run = false;
  std::string graph;
  std::string git_timeout = "30s";
  bool digests = false;  // [inputs] issue 12
  // --synth PATH: regenerate the manifests after recording (the analyze Job).
  std::string synth;
  std::shared_ptr<ManifestFlags> manifests;
  // One Dockerfile.
  AnalyzeDockerfileOptions dockerfile;
};

}  // namespace

Command add_analyze(CLI::App& root) {
  auto opts = std::make_shared<AnalyzeOptions>();
  Command cmd;
  CLI::App* app = root.add_subcommand(
      "analyze", "discover base images: of the enrolled images, or of one Dockerfile (--dockerfile)");
  cmd.app = app;
  app->add_option("--image", opts->images, "only these enrolled images (repeatable)");
  app->add_option("--cache-dir", opts->cache_dir, "source checkout cache (default <state-dir>/.image-factory-cache)");
  app->add_flag("--offline", opts->offline, "use only cached sources");
  app->add_flag("--dry-run", opts->dry_run, "show what would be written, write nothing");
  app->add_option("--graph", opts->graph, "print the dependency graph")->check(CLI::IsMember({"json", "dot", "mermaid"}));
  app->add_option("--git-timeout", opts->git_timeout,
                  "give up on a git host that does not connect or answer for this long (default 30s)");
  app->add_flag("--digests", opts->digests,
                "also ask each base image's registry for its digest and record it (currentDigest, lastChecked, ...)");
  app->add_option("--synth", opts->synth,
                  "then regenerate the Kargo manifests into PATH (relative to the state directory) with the synth "
                  "options given here, in the same --git-commit");
  opts->manifests = add_manifest_flags(
      app->add_option_group("synth options", "with --synth: the options of `imgfactory synth` (see its --help)"));
  app->add_option("--format", opts->dockerfile.format, "text or json (and ast with --dockerfile)")
      ->check(CLI::IsMember({"text", "json", "ast"}));
  app->add_option("--dockerfile", opts->dockerfile.dockerfile, "analyze this one Dockerfile; writes nothing");
  app->add_option("--build-arg", opts->dockerfile.build_args, "K=V build argument (repeatable, with --dockerfile)")
      ->allow_extra_args(false);
  app->add_option("--platform", opts->dockerfile.platforms, "OS/ARCH target platform (repeatable, with --dockerfile)")
      ->allow_extra_args(false);
  app->add_option("--target", opts->dockerfile.target, "stop after this stage (with --dockerfile)");
  cmd.run = [opts](const Globals& g) -> int {
    if (!opts->dockerfile.dockerfile.empty()) {
      if (opts->digests) throw input_error("--digests records base images of the enrollment; leave out --dockerfile");
      return run_analyze_dockerfile(opts->dockerfile);
    }
    if (opts->dockerfile.format == "ast") throw input_error("--format ast needs --dockerfile FILE");
    std::optional<kargo::Options> ko;
    if (!opts->synth.empty()) {
      if (opts->dry_run) throw input_error("--synth writes the manifests; leave out --dry-run");
      ko = manifest_options(*opts->manifests, opts->synth);  // bad flags before any work
    }
    AnalyzeEnrollmentOptions e;
    e.images = opts->images;
    e.cache_dir = opts->cache_dir;
    e.offline = opts->offline;
    e.dry_run = opts->dry_run;
    e.graph = opts->graph;
    e.format = opts->dockerfile.format;
    e.git_timeout = opts->git_timeout;
    e.digests = opts->digests;
    const int code = run_analyze_enrollment(e, g);
    if (code == 0 && ko) write_manifests(g, *ko, g.state_dir / ko->manifests_path);
    return code;
  };
  return cmd;
}

}  // namespace imgf::cli
