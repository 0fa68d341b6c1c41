#pragma once
// `imgfactory analyze --dockerfile FILE`: one Dockerfile, nothing written.
#include <string>
#include <vector>

namespace imgf::cli {

struct AnalyzeDockerfileOptions {
  std::string dockerfile;
  std::vector<std::string> build_args;  // K=V, or K to take the value from the environment
  std::vector<std::string> platforms;   // each may hold a comma-separated list
  std::string target;
  std::string format = "text";  // text | json | ast
};

// Prints the result to stdout; returns the exit code or throws imgf::Error.
int run_analyze_dockerfile(const AnalyzeDockerfileOptions& options);

}  // namespace imgf::cli
