// `imgfactory healthcheck`: wires CLI11 options into health::Options and prints the report.
#include <cstdio>
#include <memory>

#include "commands.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/health.hpp"
#include "imgfactory/process.hpp"

namespace imgf::cli {

namespace {
struct HealthArgs {
  std::string format = "text";
  std::string timeout = "5s";
  std::vector<std::string> require;
  std::vector<std::string> optional;
  std::string cache;
  bool no_cache = false;
  bool in_image = false;
};

std::vector<std::string> flatten(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items)
    for (auto& t : health::split_list(item)) out.push_back(std::move(t));
  return out;
}
}  // namespace

Command add_healthcheck(CLI::App& root) {
  auto args = std::make_shared<HealthArgs>();
  Command cmd;
  cmd.app = root.add_subcommand(
      "healthcheck",
      "check that the builder's tools, storage and configuration are usable (exit 0 healthy, 1 unhealthy)");
  CLI::App* app = cmd.app;
  app->add_option("--format", args->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app->add_option("--timeout", args->timeout, "timeout of each probe (e.g. 500ms, 5s)")->capture_default_str();
  auto* require = app->add_option("--require", args->require,
                                  "comma-separated tools that must be present (default: task,podman,buildah,"
                                  "skopeo,trivy,git)")
                      ->envname("IMGFACTORY_HEALTH_REQUIRE")
                      ->delimiter(',')
                      ->allow_extra_args(false);
  auto* optional = app->add_option("--optional", args->optional,
                                   "comma-separated tools reported but not required (default: kubectl,jq)")
                       ->envname("IMGFACTORY_HEALTH_OPTIONAL")
                       ->delimiter(',')
                       ->allow_extra_args(false);
  app->add_option("--cache", args->cache,
                  "version cache file (default $XDG_CACHE_HOME/imgfactory/health.json; env "
                  "IMGFACTORY_HEALTH_CACHE)");
  app->add_flag("--no-cache", args->no_cache, "probe every tool's version, read and write no cache");
  app->add_flag("--in-image", args->in_image,
                "also check storage and configuration, as inside the builder image (default: detected; env "
                "IMGFACTORY_IN_IMAGE=1|0)");

  cmd.run = [args, require, optional](const Globals&) -> int {
    health::Options o = health::options_from_environment();
    o.timeout = health::parse_duration(args->timeout);
    if (require->count() > 0) o.required = flatten(args->require);
    if (optional->count() > 0) o.optional = flatten(args->optional);
    if (args->no_cache) o.cache_file.clear();
    else if (!args->cache.empty()) o.cache_file = args->cache;
    if (args->in_image) o.in_image = true;

    proc::SystemRunner runner;
    health::Report report = health::run(o, runner);
    std::string out = args->format == "json" ? health::render_json(report) : health::render_text(report);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    return report.healthy ? 0 : static_cast<int>(Exit::failure);
  };
  return cmd;
}

}  // namespace imgf::cli
