// The shallow first fetch: `git fetch --depth 1` with the git CLI into a repository that
// libgit2 then reads. libgit2 1.5 (Debian 12) cannot fetch shallow, so a first fetch with
// it downloads the whole history; git sends the tip alone. docs/analyze.md has the
// measurements behind this choice.
//
// The child gets an argv (never a shell), the URL that insteadOf already chose, the token as
// an http.<url>.extraHeader through GIT_CONFIG_COUNT/KEY/VALUE (the environment, never argv,
// never a log line), no terminal prompts, and is stopped when it writes nothing for the
// connection timeout or when we are interrupted (the runner forwards SIGINT/SIGTERM).
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "imgfactory/log.hpp"
#include "imgfactory/source.hpp"

namespace imgf::source {
namespace {

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool starts_with_any(std::string_view line, std::initializer_list<std::string_view> prefixes) {
  for (auto p : prefixes)
    if (line.starts_with(p)) return true;
  return false;
}

}  // namespace

std::string basic_auth_header(std::string_view user, std::string_view token) {
  return "Authorization: Basic " + base64(std::string(user) + ":" + std::string(token));
}

proc::Spec shallow_fetch_spec(const ShallowFetch& f) {
  proc::Spec s;
  s.argv = {"git",
            "-C",
            f.repo.string(),
            // No background maintenance or gc left running after us; never the ext:: transport.
            "-c",
            "gc.auto=0",
            "-c",
            "maintenance.auto=false",
            "-c",
            "protocol.ext.allow=never",
            "fetch",
            f.unshallow ? "--unshallow" : "--depth=1",
            "--no-tags",
            "--no-recurse-submodules",
            "--no-write-fetch-head",
            "--progress",  // output while it works: silence means a stuck connection
            "--",
            f.url,
            f.revision.empty() ? "+refs/heads/" + f.branch + ":refs/remotes/origin/" + f.branch : f.revision};
  s.env_set = {{"GIT_TERMINAL_PROMPT", "0"}, {"GCM_INTERACTIVE", "never"}, {"LC_ALL", "C"}};
  if (!f.auth_header.empty()) {
    // Appended to the caller's own GIT_CONFIG_COUNT entries (insteadOf rules may be there).
    long n = 0;
    if (const char* c = std::getenv("GIT_CONFIG_COUNT"); c && *c) n = std::strtol(c, nullptr, 10);
    if (n < 0) n = 0;
    s.env_set.emplace_back("GIT_CONFIG_KEY_" + std::to_string(n), "http." + f.url + ".extraHeader");
    s.env_set.emplace_back("GIT_CONFIG_VALUE_" + std::to_string(n), f.auth_header);
    s.env_set.emplace_back("GIT_CONFIG_COUNT", std::to_string(n + 1));
  }
  s.idle_timeout = f.idle_timeout;
  s.kill_grace = std::chrono::milliseconds(2000);
  s.capture_stdout = false;
  s.capture_stderr = false;
  return s;
}

ShallowOutcome shallow_fetch(const ShallowFetch& f, proc::Runner& runner) {
  proc::Spec spec = shallow_fetch_spec(f);
  if (!f.auth_header.empty()) log::add_secret(f.auth_header.substr(f.auth_header.rfind(' ') + 1));
  spdlog::debug("running {}", proc::format_argv(spec.argv));
  // git's own words for a failure: its fatal:/error: lines (progress is \r-separated).
  std::vector<std::string> said;
  spec.on_stderr_line = [&said](std::string_view line) {
    while (!line.empty()) {
      const auto cr = line.find('\r');
      std::string_view part = line.substr(0, cr);
      if (starts_with_any(part, {"fatal: ", "error: "}) && said.size() < 5) said.emplace_back(part);
      if (cr == std::string_view::npos) break;
      line.remove_prefix(cr + 1);
    }
  };
  const proc::Result r = runner.run(spec);
  ShallowOutcome out;
  out.ok = r.ok();
  if (out.ok) return out;
  if (r.idle_timed_out) {
    const auto ms = f.idle_timeout.count();
    out.stalled = true;
    out.error = "git fetch: no data for " + (ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms");
    return out;
  }
  for (const auto& l : said) out.error += (out.error.empty() ? "" : "; ") + l;
  if (out.error.empty()) out.error = "git fetch " + r.describe();
  return out;
}

}  // namespace imgf::source
