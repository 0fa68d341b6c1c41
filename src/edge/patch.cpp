#include "patch.hpp"

#include "imgfactory/error.hpp"

namespace imgf::patch {

std::vector<std::string> argv(const std::filesystem::path& patch, const std::string& include) {
  std::vector<std::string> a = {"git", "apply", "--whitespace=nowarn"};
  if (!include.empty()) a.push_back("--include=" + include);
  a.push_back(patch.string());
  return a;
}

void apply(proc::Runner& runner, const std::filesystem::path& dir, const std::filesystem::path& ceiling,
           const std::filesystem::path& patch, const Target& target, const std::string& include,
           std::chrono::milliseconds timeout, const std::function<void(std::string_view)>& on_line) {
  proc::Spec spec;
  spec.argv = argv(patch, include);
  spec.cwd = dir;
  spec.env_set = {{"GIT_CEILING_DIRECTORIES", ceiling.string()}};
  spec.timeout = timeout;
  if (on_line) spec.on_stderr_line = on_line;
  proc::Result r = runner.run(spec);
  proc::throw_if_interrupted();
  if (r.ok()) return;
  const std::string first = r.err.substr(0, r.err.find('\n'));
  throw failure("patch '" + target.name + "' does not apply to " + target.onto + " (git apply " + r.describe() + ")",
                target.images_file, target.line, first.empty() ? "" : "git apply: " + first);
}

}  // namespace imgf::patch
