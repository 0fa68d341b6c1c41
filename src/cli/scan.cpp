// imgfactory scan (IMAGE | --report FILE) [--severity LIST] [--fail-on SEVERITY]
//   [--ignore-unfixed] [--ignore-file FILE] [--format table|json|sarif|junit|markdown]
//   [--output FILE] [--tag TAG] [--registry HOST] [--timeout DURATION] [--save-report FILE]
//   [--trivy-arg ARG]... [--no-state]
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include "commands.hpp"
#include "imgfactory/duration.hpp"
#include "imgfactory/enrollment.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/gitstate.hpp"
#include "imgfactory/process.hpp"
#include "imgfactory/report.hpp"
#include "imgfactory/state_fields.hpp"
#include "imgfactory/trivy.hpp"

namespace imgf::cli {
namespace {
namespace fs = std::filesystem;

struct ScanOptions {
  std::string image;  // IMAGE: an enrolled name or an image reference
  std::string report;
  std::string severity;
  std::string fail_on;
  bool ignore_unfixed = false;
  std::string ignore_file;
  std::string format = "table";
  std::string output;
  std::string tag;
  std::string registry;
  std::string timeout = "15m";
  std::string save_report;
  std::vector<std::string> trivy_args;
  bool no_state = false;
};

// An enrolled name cannot contain '/', ':' or '@'; anything that does is a reference.
bool could_be_enrolled_name(const std::string& s) { return s.find_first_of("/:@") == std::string::npos; }

int run_scan(const Globals& g, const ScanOptions& o) {
  if (o.image.empty() && o.report.empty())
    throw input_error("nothing to scan: give an IMAGE (an enrolled name or an image reference) or --report FILE", {},
                      0, "e.g. 'imgfactory scan backstage' or 'imgfactory scan --report trivy.json'");
  auto format = report::parse_format(o.format);
  if (!format)
    throw input_error("--format: unknown format '" + o.format + "'", {}, 0,
                      "use table, json, sarif, junit or markdown");

  trivy::ScanOptions so;
  so.detail = report::detail_for(*format);
  if (!o.severity.empty()) so.filters.severities = trivy::parse_severity_list(o.severity, "--severity");
  so.filters.ignore_unfixed = o.ignore_unfixed;
  if (!o.ignore_file.empty()) so.filters.ignores = trivy::load_ignore_file(o.ignore_file);
  if (!o.fail_on.empty()) {
    so.policy.fail_on = trivy::parse_severity(o.fail_on);
    if (!so.policy.fail_on)
      throw input_error("--fail-on: unknown severity '" + o.fail_on + "'", {}, 0,
                        "use one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN");
  }
  so.check_interrupt = [] { proc::throw_if_interrupted(); };
  auto timeout = duration::parse(o.timeout);
  if (!timeout) throw input_error("--timeout: '" + o.timeout + "' is not a duration", {}, 0, "e.g. 90s, 15m, 1h");

  // What to scan: an enrolled image resolves to its pushed reference.
  report::Context ctx;
  ctx.color = g.color && o.output.empty();
  std::optional<enrollment::Layout> layout;
  if (!o.image.empty()) {
    const enrollment::Image* enrolled = nullptr;
    enrollment::Enrollment e;
    std::error_code ec;
    if (could_be_enrolled_name(o.image) && fs::exists(g.images_file, ec)) {
      e = enrollment::load(g.images_file);
      enrolled = e.find(o.image);
    }
    if (enrolled != nullptr) {
      layout = enrollment::layout_for(g.state_dir);
      std::string state_text;
      if (fs::exists(layout->image_state(enrolled->name), ec)) state_text = fsutil::read_file(layout->image_state(enrolled->name));
      std::string registry = o.registry;
      if (registry.empty())
        if (const char* r = std::getenv("REGISTRY"); r && *r) registry = r;
      ctx.image = enrolled->name;
      ctx.reference = trivy::pushed_reference(*enrolled, registry, o.tag, state_text);
    } else {
      if (!o.tag.empty() || !o.registry.empty())
        throw input_error("--tag and --registry apply to enrolled images; '" + o.image + "' is not enrolled in " +
                              g.images_file.string(),
                          {}, 0, "give the full image reference instead");
      ctx.reference = o.image;
    }
  }

  trivy::ScanOutcome scan;
  if (!o.report.empty()) {
    fs::path p = o.report == "-" ? fs::path("/dev/stdin") : fs::path(o.report);
    scan = trivy::scan_file(p, so);
  } else {
    proc::SystemRunner runner;
    trivy::RunOptions ro;
    ro.reference = ctx.reference;
    if (const char* t = std::getenv("TRIVY"); t && *t) ro.trivy = t;
    ro.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
    ro.extra_args = o.trivy_args;
    // A private directory for Trivy's report: in $TMPDIR, or beside --save-report so that the
    // report can be renamed into place.
    fs::path parent = o.save_report.empty() ? fs::path() : fs::absolute(o.save_report).parent_path();
    if (!o.save_report.empty()) fs::create_directories(parent);
    fsutil::TempDir dir(".imgfactory-scan-", parent);
    ro.output = dir.path() / "trivy-report.json";
    trivy::run_trivy(runner, ro);
    std::error_code ec;
    if (!fs::exists(ro.output, ec))
      throw failure("trivy exited successfully but wrote no report", ro.output.string(), 0,
                    "check that TRIVY points at Trivy (it must honour --output)");
    try {
      scan = trivy::scan_file(ro.output, so);
    } catch (const Error& e) {
      if (e.code() != Exit::usage) throw;
      // We ran Trivy: a report we cannot read is the scanner's failure, not the user's input.
      throw failure("Trivy wrote a report imgfactory cannot read: " + e.message(), e.file(), e.line(), e.hint());
    }
    scan.source = o.save_report;
    if (!o.save_report.empty()) {
      fs::rename(ro.output, o.save_report, ec);
      if (ec) throw failure("cannot save the report: " + ec.message(), o.save_report);
      spdlog::info("saved Trivy's report to {}", o.save_report);
    }
  }
  proc::throw_if_interrupted();

  // Output.
  std::shared_ptr<const std::string> written_report;  // kept for --git-commit's replay
  if (o.output.empty() || o.output == "-") {
    report::render(*format, scan, ctx, std::cout);
    std::cout.flush();
  } else {
    std::ostringstream buf;
    report::render(*format, scan, ctx, buf);
    fsutil::atomic_write(o.output, buf.str());
    if (g.git) written_report = std::make_shared<const std::string>(buf.str());
    spdlog::info("wrote the {} report to {}", report::to_string(*format), o.output);
  }

  // The state file of an enrolled image.
  if (layout && !o.no_state) {
    auto field = trivy::last_scan_field(scan, ctx.reference, state::utc_now_iso8601());
    state::update_image_state(*layout, ctx.image, {{"lastScan", field}});
    spdlog::info("recorded the scan in {}", layout->image_state(ctx.image).string());
    if (g.git) {
      // --git-commit: on a newer tip of the state branch, lastScan (and a report written into
      // the work tree) are written again.
      const auto& v = scan.summary.vulnerabilities;
      gitstate::Change change;
      change.summary = "scan " + ctx.image + ": lastScan of " + ctx.reference + " (" + std::to_string(v.total()) +
                       " vulnerabilities, " + std::to_string(v[trivy::Severity::critical]) + " critical)";
      change.replay = [layout = *layout, image = ctx.image, field, output = o.output, written_report] {
        state::update_image_state(layout, image, {{"lastScan", field}});
        if (written_report) fsutil::write_if_changed(output, *written_report);
      };
      g.git->record(std::move(change));
    }
  }

  const auto& s = scan.summary;
  spdlog::info("{}: {} vulnerabilities, {} misconfigurations, {} secrets after filters",
               ctx.reference.empty() ? scan.source : ctx.reference, s.vulnerabilities.total(),
               s.misconfigurations.total(), s.secrets.total());
  if (!s.policy.passed)
    throw Error(Exit::policy, "scan policy failed: " + trivy::describe_policy_failure(s.policy), {}, 0,
                "fix or upgrade the packages, or ignore accepted findings with --ignore-file (with an expiry)");
  return 0;
}

}  // namespace

Command add_scan(CLI::App& root) {
  Command cmd;
  auto o = std::make_shared<ScanOptions>();
  CLI::App* app = root.add_subcommand("scan", "Scan an image with Trivy (or read a Trivy JSON report), filter, gate, convert");
  cmd.app = app;
  app->add_option("IMAGE", o->image, "an enrolled image name (scans its pushed reference) or an image reference");
  app->add_option("--report", o->report, "read this Trivy JSON report (SchemaVersion 2) instead of running Trivy ('-': stdin)");
  app->add_option("--severity", o->severity, "severities to report, e.g. HIGH,CRITICAL (default: all)");
  app->add_option("--fail-on", o->fail_on, "exit 3 when a finding at or above this severity remains after filters");
  app->add_flag("--ignore-unfixed", o->ignore_unfixed, "drop vulnerabilities that have no fixed version");
  app->add_option("--ignore-file", o->ignore_file, ".trivyignore (IDs, exp:YYYY-MM-DD) or .trivyignore.yaml");
  app->add_option("--format", o->format, "table, json, sarif, junit or markdown")
      ->check(CLI::IsMember({"table", "json", "sarif", "junit", "markdown"}));
  app->add_option("--output,-o", o->output, "write the report to FILE (atomically) instead of stdout");
  app->add_option("--tag", o->tag, "enrolled image: scan this tag (default: the recorded digest or version)");
  app->add_option("--registry", o->registry, "enrolled image: the registry to scan it in (default: REGISTRY, else the enrollment)");
  app->add_option("--timeout", o->timeout, "give Trivy this long (default 15m)");
  app->add_option("--save-report", o->save_report, "keep Trivy's JSON report in FILE");
  app->add_option("--trivy-arg", o->trivy_args, "an extra argument for 'trivy image' (repeatable)")->allow_extra_args(false);
  app->add_flag("--no-state", o->no_state, "do not record the scan in the image's state file");
  cmd.run = [o](const Globals& g) -> int { return run_scan(g, *o); };
  return cmd;
}

}  // namespace imgf::cli
