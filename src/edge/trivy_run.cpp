// Running Trivy: `trivy image --format json --quiet --output FILE REF` through a Runner.
// The report goes to a file (not a pipe) so that a report of hundreds of MB is streamed from
// disk by the reader instead of being held in memory.
#include <spdlog/spdlog.h>

#include "imgfactory/error.hpp"
#include "imgfactory/process.hpp"
#include "imgfactory/trivy.hpp"

namespace imgf::trivy {
namespace {

// The last `max_lines` non-empty lines of `text`, at most `max_bytes` of them.
std::string tail(std::string_view text, std::size_t max_lines, std::size_t max_bytes) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  std::size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
  std::string out;
  for (std::size_t i = from; i < lines.size(); ++i) {
    if (!out.empty()) out += '\n';
    out += lines[i];
  }
  if (out.size() > max_bytes) out = "..." + out.substr(out.size() - max_bytes);
  return out;
}

}  // namespace

std::vector<std::string> trivy_argv(const RunOptions& o) {
  std::vector<std::string> argv{o.trivy.empty() ? std::string("trivy") : o.trivy,
                                "image",
                                "--format",
                                "json",
                                "--quiet",
                                "--output",
                                o.output.string()};
  argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
  argv.push_back(o.reference);
  return argv;
}

void run_trivy(proc::Runner& runner, const RunOptions& o) {
  if (o.reference.empty()) throw input_error("no image reference to scan");
  if (o.reference.front() == '-')
    throw input_error("'" + o.reference + "' is not an image reference", {}, 0,
                      "an image reference does not start with '-'");
  proc::Spec spec;
  spec.argv = trivy_argv(o);
  spec.timeout = o.timeout;
  spec.capture_limit = std::size_t{1} << 20;  // Trivy's stdout/stderr: messages only (the report is a file)
  spec.on_stderr_line = [](std::string_view line) { spdlog::debug("trivy: {}", line); };
  spdlog::info("scanning {}: {}", o.reference, proc::format_argv(spec.argv));
  proc::Result r = runner.run(spec);
  proc::throw_if_interrupted();
  if (r.ok()) {
    spdlog::debug("trivy finished in {} ms", r.elapsed.count());
    return;
  }
  if (r.spawn_failed)
    throw failure("cannot run Trivy (" + spec.argv[0] + "): " + r.spawn_error, {}, 0,
                  "install Trivy, or set TRIVY to the path of its executable");
  std::string err = tail(r.err, 20, 4096);
  if (err.empty()) err = tail(r.out, 20, 4096);
  std::string msg = "trivy " + r.describe() + " while scanning " + o.reference;
  if (!err.empty()) msg += ":\n" + err;
  throw failure(msg, {}, 0,
                r.timed_out ? "raise --timeout, or check that the registry is reachable"
                            : "check the image reference, registry credentials (REGISTRY_AUTH_FILE) and Trivy's "
                              "database access");
}

}  // namespace imgf::trivy
