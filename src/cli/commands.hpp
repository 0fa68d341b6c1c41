#pragma once
// The CLI layer: global options and one registration function per subcommand. Each
// subcommand file only wires CLI11 options into a plain options struct and calls the
// library; the engine never sees argv.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "imgfactory/kargo.hpp"
#include "imgfactory/log.hpp"

namespace imgf::gitstate {
class Session;
}

namespace imgf::cli {

struct Globals {
  std::filesystem::path state_dir = ".";
  std::filesystem::path images_file;  // resolved: --images, IMAGES_YAML, else <state-dir>/images.yaml
  log::Options log;
  bool color = false;
  bool ci = false;  // CI set: no interactive output, no progress bars
  // --git-commit / --git-push: the session that commits what the command records; null without.
  // A command that wrote state calls git->record({summary, details, replay}) (imgfactory/gitstate.hpp).
  gitstate::Session* git = nullptr;
};

// A registered subcommand: `run` is called after a successful parse when `app` was chosen.
// It returns the process exit code, or throws imgf::Error.
struct Command {
  CLI::App* app = nullptr;
  std::function<int(const Globals&)> run;
};

// The options of `synth` that shape the manifests, shared with `analyze --synth` (the analyze
// Job passes synth's own effective options back, kargo::synth_flags), so both parse them alike.
struct ManifestFlags;
std::shared_ptr<ManifestFlags> add_manifest_flags(CLI::App* app);
// The validated kargo::Options the flags give; `manifests_path` as given.
kargo::Options manifest_options(const ManifestFlags& flags, const std::string& manifests_path);
// Renders the manifests into `out` (written only when the content changes) and, with
// --git-commit, records them in the run's commit. Returns whether the file changed.
bool write_manifests(const Globals& g, const kargo::Options& ko, const std::filesystem::path& out);

Command add_analyze(CLI::App& root);
Command add_synth(CLI::App& root);
Command add_build(CLI::App& root);
Command add_scan(CLI::App& root);
Command add_healthcheck(CLI::App& root);
Command add_status(CLI::App& root);

}  // namespace imgf::cli
