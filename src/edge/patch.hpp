#pragma once
// Applying a local.patchFiles entry as the original Image Factory did: `git apply` in a
// directory that is not a git repository (GIT_CEILING_DIRECTORIES stops the search above it),
// so git patches the files as patch(1) would. Shared by `build` (the whole checkout) and
// `analyze` (a scratch copy of the Dockerfile alone, with --include). Internal to src/edge.
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "imgfactory/process.hpp"

namespace imgf::patch {

// git apply --whitespace=nowarn [--include=INCLUDE] PATCH
std::vector<std::string> argv(const std::filesystem::path& patch, const std::string& include = {});

// Where a patch is applied, for the error: "patch 'NAME' does not apply to ONTO".
struct Target {
  std::string name;         // as written in images.yaml
  std::string onto;         // "acme/tool (branch main, 0123456789ab)", "local.dir 'app'", ...
  std::string images_file;  // the error's FILE:LINE
  int line = 0;
};

// Applies `patch` in `dir` (argv above; GIT_CEILING_DIRECTORIES=ceiling), within `timeout`
// (0: none); git's stderr lines go to `on_line` when given. Throws imgf::Error (exit 1) naming
// the patch and what it was applied to, git's first error line as the hint.
void apply(proc::Runner& runner, const std::filesystem::path& dir, const std::filesystem::path& ceiling,
           const std::filesystem::path& patch, const Target& target, const std::string& include = {},
           std::chrono::milliseconds timeout = {}, const std::function<void(std::string_view)>& on_line = {});

}  // namespace imgf::patch
