#include "analyze_dockerfile.hpp"
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
  app->add_option("--format", opts->dockerfile.format, "text or json (and ast with --dockerfile)")
      ->check(CLI::IsMember({"text", "json", "ast"}));
  app->add_option("--dockerfile", opts->dockerfile.dockerfile, "analyze this one Dockerfile; writes nothing");
  app->add_option("--build-arg", opts->dockerfile.build_args, "K=V build argument (repeatable, with --dockerfile)")
      ->allow_extra_args(false);
  app->add_option("--platform", opts->dockerfile.platforms, "OS/ARCH target platform (repeatable, with --dockerfile)")
      ->allow_extra_args(false);
  app->add_option("--target", opts->dockerfile.target, "stop after this stage (with --dockerfile)");
  cmd.run = [opts](const Globals&) -> int {
    if (!opts->dockerfile.dockerfile.empty()) return run_analyze_dockerfile(opts->dockerfile);
    if (opts->dockerfile.format == "ast") throw input_error("--format ast needs --dockerfile FILE");
    throw input_error("analyze of the whole enrollment is not implemented yet (issue #3)", {}, 0,
                      "use 'imgfactory analyze --dockerfile FILE' for one Dockerfile");
  };
  return cmd;
}

}  // namespace imgf::cli
