#pragma once
// `imgfactory analyze` over the whole enrollment: options -> imgf::analyze::run.
#include <string>
#include <vector>

#include "commands.hpp"

namespace imgf::cli {

struct AnalyzeEnrollmentOptions {
  std::vector<std::string> images;  // --image
  std::string cache_dir;
  bool offline = false;
  bool dry_run = false;
  std::string graph;              // "" | json | dot | mermaid
  std::string format = "text";    // text | json
  std::string git_timeout = "30s";  // connect / silence limit of a fetch
  bool digests = false;             // --digests: ask the registries for base image digests
};

// Prints the report (or the graph) to stdout; returns the exit code or throws imgf::Error.
int run_analyze_enrollment(const AnalyzeEnrollmentOptions& options, const Globals& globals);

}  // namespace imgf::cli
