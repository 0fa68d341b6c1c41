#pragma once
// `imgfactory analyze` over the whole enrollment: fetch each managed image's source, discover
// its base images through the Dockerfile model, keep images/<name>.yaml and
// base-images/<name>.yaml current in the original's canonical format, and build the
// dependency graph. The CLI fills Options; the engine never sees argv.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imgfactory/graph.hpp"
#include "imgfactory/state.hpp"

namespace imgf::analyze {

// The seam between the engine and the Dockerfile model (imgf::dockerfile, imgf::reference).
class Discoverer {
 public:
  virtual ~Discoverer() = default;
  // The external images a Dockerfile builds FROM (and copies from), in order of first
  // appearance, without duplicates, over the given platforms (empty: build's default,
  // linux/amd64 and linux/arm64). `label` names the file in errors. Throws imgf::Error.
  virtual std::vector<state::BaseRef> discover(std::string_view content, const std::string& label,
                                               const std::vector<std::string>& platforms = {}) = 0;
  // An image reference in the terms of the state files; nullopt when it is not one.
  virtual std::optional<state::BaseRef> parse(std::string_view reference) = 0;
};

// The discoverer of the Dockerfile model: BuildKit-compatible parsing, ARG expansion, stages.
std::unique_ptr<Discoverer> dockerfile_discoverer();

enum class Action { created, updated, unchanged };
std::string_view to_string(Action a);

struct Options {
  std::filesystem::path state_dir = ".";
  std::filesystem::path images_file;  // empty: <state_dir>/images.yaml
  std::filesystem::path cache_dir;    // empty: <state_dir>/.image-factory-cache
  std::vector<std::string> only;      // --image NAME...: analyze these (each must be enrolled)
  bool offline = false;
  bool dry_run = false;  // compute everything, write nothing
  std::chrono::milliseconds connect_timeout{15000};
  std::chrono::milliseconds io_timeout{60000};
  std::function<std::string()> clock;  // ISO-8601 UTC now; empty: the system clock
};

struct FileChange {
  std::string kind;  // "image" or "base-image"
  std::string name;
  std::filesystem::path path;  // relative to the state directory
  Action action = Action::unchanged;
};

struct ImageOutcome {
  std::string name;
  state::Discovery status = state::Discovery::success;
  std::vector<std::string> base_images;  // base-image state names
  std::string origin;    // repository and branch, or local dir
  std::string revision;  // commit analysed (git sources)
  std::string error;     // why discovery failed
};

struct Report {
  bool dry_run = false;
  std::vector<ImageOutcome> images;
  std::vector<FileChange> files;
  std::vector<std::string> errors;  // every failure, one line each (images, files, cycles)
  graph::Graph graph;
  [[nodiscard]] int exit_code() const { return errors.empty() ? 0 : 1; }
};

// Runs the analysis. Throws imgf::Error with exit 2 for an invalid images.yaml or an
// unknown --image (before anything is written), 130/143 when interrupted; a failing source,
// Dockerfile or state file is recorded in Report::errors and the run goes on.
Report run(const Options& options, Discoverer& discoverer);

std::string to_json(const Report& report);  // --format json
std::string to_text(const Report& report);  // one line per file, then a summary

}  // namespace imgf::analyze
