#include "analyze_enrollment.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include <nlohmann/json.hpp>

#include "imgfactory/analyze.hpp"
#include "imgfactory/base_digests.hpp"
#include "imgfactory/enrollment.hpp"
#include "imgfactory/duration.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/gitstate.hpp"
#include "imgfactory/state_fields.hpp"

namespace imgf::cli {
namespace {

// SOURCE_DATE_EPOCH (reproducible builds) fixes the time written into state files.
std::function<std::string()> clock_from_env() {
  const char* epoch = std::getenv("SOURCE_DATE_EPOCH");
  if (epoch == nullptr || *epoch == '\0') return {};
  char* end = nullptr;
  long long secs = std::strtoll(epoch, &end, 10);
  if (end == nullptr || *end != '\0' || secs < 0)
    throw input_error("SOURCE_DATE_EPOCH must be a number of seconds, not '" + std::string(epoch) + "'");
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string now = buf;
  return [now] { return now; };
}

void print(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

std::string names_text(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 5) out += " and " + std::to_string(names.size() - 5) + " more";
  return out;
}

// --git-commit: the commit names the images and base images whose files changed; on a newer
// tip of the state branch the write phase runs again over that tip's files — the same images,
// from the sources this run fetched (offline: the cache), at the same time stamp.
void record_analyze(const Globals& g, const analyze::Options& opts, const analyze::Report& report, bool digests) {
  std::vector<std::string> images, bases, analysed;
  int created = 0, updated = 0;
  for (const auto& f : report.files) {
    if (f.action == analyze::Action::unchanged) continue;
    (f.kind == "image" ? images : bases).push_back(f.name);
    ++(f.action == analyze::Action::created ? created : updated);
  }
  for (const auto& i : report.images) analysed.push_back(i.name);
  gitstate::Change change;
  change.summary = "analyze:";
  if (!images.empty()) change.summary += " image" + std::string(images.size() == 1 ? " " : "s ") + names_text(images);
  if (!bases.empty())
    change.summary += std::string(images.empty() ? "" : ";") + " base image" + (bases.size() == 1 ? " " : "s ") +
                      names_text(bases);
  if (images.empty() && bases.empty()) change.summary += " no state file changed";
  change.summary += " (" + std::to_string(created) + " created, " + std::to_string(updated) + " updated)";
  if (digests) change.summary += "; base image digests checked";
  change.replay = [opts, analysed, digests] {
    analyze::Options again = opts;
    again.offline = true;
    again.only.clear();
    const auto enrolled = enrollment::load(again.images_file);
    for (const auto& name : analysed)
      if (enrolled.find(name) != nullptr) again.only.push_back(name);
    if (again.only.empty()) return;  // the new tip enrolls none of them any more
    auto discoverer = analyze::dockerfile_discoverer();
    const analyze::Report r = analyze::run(again, *discoverer);
    if (r.exit_code() != 0) throw failure(r.errors.front());
    if (digests) {  // the registries are asked again: the new tip gets what they serve now
      proc::SystemRunner runner;
      analyze::DigestOptions d;
      d.clock = again.clock;
      const analyze::DigestReport dr = analyze::check_digests(again, r, runner, d);
      if (dr.exit_code() != 0) throw failure(dr.errors.front());
    }
  };
  g.git->record(std::move(change));
}

}  // namespace

int run_analyze_enrollment(const AnalyzeEnrollmentOptions& o, const Globals& g) {
  if (o.format != "text" && o.format != "json")
    throw input_error("--format " + o.format + " needs --dockerfile FILE", {}, 0,
                      "the whole enrollment is reported as text or json");
  if (!o.graph.empty() && o.format == "json")
    throw input_error("--graph and --format json both write to stdout", {}, 0,
                      "use --graph json for the graph, or --format json for the report");
  auto timeout = duration::parse(o.git_timeout);
  if (!timeout || timeout->count() <= 0)
    throw input_error("--git-timeout '" + o.git_timeout + "' is not a duration", {}, 0, "e.g. 30s, 2m");

  analyze::Options opts;
  opts.state_dir = g.state_dir;
  opts.images_file = g.images_file;
  opts.cache_dir = o.cache_dir;
  opts.only = o.images;
  opts.offline = o.offline;
  opts.dry_run = o.dry_run;
  opts.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
  opts.io_timeout = opts.connect_timeout;
  opts.clock = clock_from_env();
  if (g.git && !opts.clock) opts.clock = [now = state::utc_now_iso8601()] { return now; };  // the replay's too

  if (o.digests && o.offline)
    throw input_error("--digests asks the registries; --offline forbids the network", {}, 0, "leave out one of them");

  auto discoverer = analyze::dockerfile_discoverer();
  analyze::Report report = analyze::run(opts, *discoverer);

  // [inputs] issue 12: --digests
  std::optional<analyze::DigestReport> digests;
  if (o.digests) {
    proc::SystemRunner runner;
    analyze::DigestOptions d;
    d.dry_run = o.dry_run;
    d.clock = opts.clock;
    digests = analyze::check_digests(opts, report, runner, d);
  }

  if (o.graph == "json") print(graph::to_json(report.graph));
  else if (o.graph == "dot") print(graph::to_dot(report.graph));
  else if (o.graph == "mermaid") print(graph::to_mermaid(report.graph));
  else if (o.format == "json" && digests) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(analyze::to_json(report));
    j["digests"] = nlohmann::ordered_json::parse(analyze::digests_to_json(*digests));
    print(j.dump(2) + "\n");
  } else if (o.format == "json") print(analyze::to_json(report));
  else print(analyze::to_text(report) + (digests ? analyze::digests_to_text(*digests) : std::string()));
  if (digests && !o.graph.empty()) {
    std::string text = analyze::digests_to_text(*digests);
    text.pop_back();
    spdlog::info("{}", text.substr(text.rfind('\n') + 1));
  }
  if (!o.graph.empty()) {
    std::string text = analyze::to_text(report);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    std::size_t last = text.rfind('\n');
    spdlog::info("{}", last == std::string::npos ? text : text.substr(last + 1));
  }
  if (report.exit_code() != 0)
    spdlog::error("{} of {} images could not be analysed; their state keeps the previous base images",
                  std::count_if(report.images.begin(), report.images.end(),
                                [](const analyze::ImageOutcome& i) { return i.status == state::Discovery::failed; }),
                  report.images.size());
  if (digests && digests->exit_code() != 0)
    spdlog::error("{} base image digest(s) could not be checked; their files were left as they were",
                  digests->errors.size());
  const int code = std::max(report.exit_code(), digests ? digests->exit_code() : 0);
  if (g.git && !o.dry_run && code == 0) record_analyze(g, opts, report, o.digests);
  return code;
}

}  // namespace imgf::cli
