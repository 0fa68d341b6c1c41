// `imgfactory status [--image NAME]... [--format table|json]`: the fleet at a glance, read
// from the state files; writes nothing.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "commands.hpp"
#include "imgfactory/enrollment.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/status.hpp"

namespace imgf::cli {
namespace {

struct StatusOptions {
  std::vector<std::string> images;
  std::string format = "table";
};

// The clock: SOURCE_DATE_EPOCH when set (reproducible output, tests), else the system's.
status::Time now_from_env() {
  const char* epoch = std::getenv("SOURCE_DATE_EPOCH");
  if (epoch == nullptr || *epoch == '\0')
    return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  char* end = nullptr;
  const long long secs = std::strtoll(epoch, &end, 10);
  if (end == nullptr || *end != '\0' || secs < 0)
    throw input_error("SOURCE_DATE_EPOCH must be a number of seconds, not '" + std::string(epoch) + "'");
  return status::Time{std::chrono::seconds{secs}};
}

int run_status(const Globals& g, const StatusOptions& o) {
  const status::Time now = now_from_env();
  const auto layout = enrollment::layout_for(g.state_dir);
  const auto enrolled = enrollment::load(g.images_file);
  const auto images = status::load(layout, enrolled, o.images, now);
  const std::string out = o.format == "json" ? status::render_json(images) : status::render_table(images, now, g.color);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (std::fflush(stdout) != 0) throw failure("cannot write to stdout");
  return 0;
}

}  // namespace

Command add_status(CLI::App& root) {
  auto opts = std::make_shared<StatusOptions>();
  Command cmd;
  cmd.app = root.add_subcommand("status", "the fleet at a glance: versions, base image changes, rebuilds due, scans");
  CLI::App* app = cmd.app;
  app->add_option("--image", opts->images, "only this enrolled image (repeatable)")->allow_extra_args(false);
  app->add_option("--format", opts->format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd.run = [opts](const Globals& g) { return run_status(g, *opts); };
  return cmd;
}

}  // namespace imgf::cli
