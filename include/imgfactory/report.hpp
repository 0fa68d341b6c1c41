#pragma once
// Renders a scan (imgf::trivy::ScanOutcome) as a table, the JSON summary of CLI.md, SARIF
// 2.1.0 (the rules, levels and locations Trivy's own SARIF writer gives), JUnit XML (Trivy's
// junit.tpl) or Markdown (for $GITHUB_STEP_SUMMARY). Renderers write to a stream as they go.
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "imgfactory/trivy.hpp"

namespace imgf::report {

enum class Format { table, json, sarif, junit, markdown };

// "table", "json", "sarif", "junit", "markdown"; nullopt otherwise.
std::optional<Format> parse_format(std::string_view name);
std::string_view to_string(Format f);
// What the reader must keep of each finding for this format.
trivy::Detail detail_for(Format f);

struct Context {
  std::string image;      // enrolled image name, when one was scanned
  std::string reference;  // the image reference Trivy scanned (empty for --report)
  bool color = false;     // ANSI colours in the table
  std::size_t markdown_limit = 500;  // findings listed in Markdown (GitHub caps a step summary at 1 MiB)
};

void render(Format format, const trivy::ScanOutcome& scan, const Context& ctx, std::ostream& out);

void render_table(const trivy::ScanOutcome& scan, const Context& ctx, std::ostream& out);
void render_json(const trivy::ScanOutcome& scan, const Context& ctx, std::ostream& out);
void render_sarif(const trivy::ScanOutcome& scan, std::ostream& out);
void render_junit(const trivy::ScanOutcome& scan, std::ostream& out);
void render_markdown(const trivy::ScanOutcome& scan, const Context& ctx, std::ostream& out);

// ---- helpers (exposed for tests) ---------------------------------------------------------------
// Go's xml.EscapeText: & < > " ' tab LF CR escaped; characters XML cannot carry become U+FFFD.
std::string xml_escape(std::string_view text);
// A JSON string literal as Go's encoding/json writes it (HTML-safe: <, >, & as \u003c ...).
std::string go_json_string(std::string_view text);
// The artifact path Trivy's SARIF writer uses for a Result target: for OS packages the image
// reference's repository (or the path before " (distro version)"), else the target itself.
std::string sarif_target_path(std::string_view target, std::string_view klass);
// `path` as Go's url.Parse(path).String() gives it ("" when Go cannot parse it).
std::string go_url_string(std::string_view path);

}  // namespace imgf::report
