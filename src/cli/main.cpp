// imgfactory: keeps a fleet of container images built, current and safe.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <set>
#include <vector>

#include "commands.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/gitstate.hpp"
#include "imgfactory/log.hpp"
#include "imgfactory/process.hpp"
#include "imgfactory/version.hpp"

namespace {

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

int run(int argc, char** argv) {
  using imgf::cli::Globals;
  CLI::App app{"imgfactory - keep a fleet of container images built, current and safe", "imgfactory"};
  app.set_version_flag("--version", imgf::version_string());
  app.require_subcommand(1);
  app.fallthrough();  // global options are accepted before or after the subcommand

  Globals g;
  g.log = imgf::log::default_options();
  std::string state_dir = ".";
  std::string images;
  std::string log_level = g.log.level;
  std::string log_format;
  bool no_color = false;
  bool git_commit = false;
  bool git_push = false;
  app.add_option("--state-dir", state_dir, "root of the state repository")
      ->envname("IMAGE_FACTORY_STATE_DIR");
  app.add_option("--images", images, "the enrollment registry (default <state-dir>/images.yaml)")
      ->envname("IMAGES_YAML");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->envname("IMGFACTORY_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--log-format", log_format,
                 "text or json (default json when KUBERNETES_SERVICE_HOST is set)")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--no-color", no_color, "no colour in output (also NO_COLOR)");
  app.add_flag("--git-commit", git_commit,
               "commit the state files this run changed (only those) to the state repository, one commit")
      ->envname("IMGFACTORY_GIT_COMMIT");
  app.add_flag("--git-push", git_push,
               "--git-commit, then push it to the state branch; on a race fetch, re-apply, retry (bounded); never "
               "forced")
      ->envname("IMGFACTORY_GIT_PUSH");

  std::vector<imgf::cli::Command> commands = {
      imgf::cli::add_analyze(app), imgf::cli::add_synth(app), imgf::cli::add_build(app),
      imgf::cli::add_scan(app), imgf::cli::add_healthcheck(app), imgf::cli::add_status(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(imgf::Exit::usage);
  }

  g.state_dir = state_dir;
  g.images_file = images.empty() ? g.state_dir / "images.yaml" : std::filesystem::path(images);
  g.log.level = log_level;
  if (log_format == "json") g.log.format = imgf::log::Format::json;
  if (log_format == "text") g.log.format = imgf::log::Format::text;
  g.ci = env_set("CI");
  if (no_color || env_set("NO_COLOR") || g.ci) g.log.color = false;
  g.color = g.log.color && isatty(STDOUT_FILENO) != 0;
  imgf::log::setup(g.log);
  for (const char* secret_env : {"GITHUB_TOKEN", "GITLAB_TOKEN", "REGISTRY_PASSWORD", "REGISTRY_TOKEN"})
    if (const char* v = std::getenv(secret_env); v && *v) imgf::log::add_secret(v);
  imgf::proc::install_signal_handlers();

  // The commands that write state honour --git-commit / --git-push.
  static const std::set<std::string> state_writers = {"analyze", "build", "scan", "synth"};
  for (auto& c : commands) {
    if (c.app->parsed()) {
      const std::string name = c.app->get_name();
      std::unique_ptr<imgf::gitstate::Session> git;
      if (git_commit || git_push) {
        if (state_writers.contains(name)) {
          git = std::make_unique<imgf::gitstate::Session>(imgf::gitstate::options_from_env(g.state_dir, git_push));
          g.git = git.get();
        } else {
          spdlog::warn("--git-commit / --git-push: '{}' writes no state; ignored", name);
        }
      }
      const std::string fallback = "imgfactory " + name + ": update state";
      int rc = 0;
      try {
        rc = c.run(g);
      } catch (const imgf::Error& e) {
        // A scan that violates the policy (exit 3) has completed and recorded its result:
        // that record is committed; every other failure commits nothing.
        if (git && e.code() == imgf::Exit::policy && imgf::proc::pending_signal() == 0) git->finish(fallback);
        throw;
      }
      if (int sig = imgf::proc::pending_signal(); sig != 0) return imgf::proc::exit_code_for_signal(sig);
      if (git && rc == 0) git->finish(fallback);
      return rc;
    }
  }
  std::fputs(app.help().c_str(), stderr);
  return static_cast<int>(imgf::Exit::usage);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const imgf::Error& e) {
    std::fflush(stdout);
    imgf::log::report_error(e.formatted());
    if (int sig = imgf::proc::pending_signal(); sig != 0) return imgf::proc::exit_code_for_signal(sig);
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    imgf::log::report_error(std::string("internal error: ") + e.what());
    return static_cast<int>(imgf::Exit::failure);
  }
}
