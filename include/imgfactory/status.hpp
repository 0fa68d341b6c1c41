#pragma once
// `imgfactory status`: the fleet at a glance, read from the state files.
//
// Three layers, pure except load():
//   records  — the few fields status reads from images/<name>.yaml and base-images/<name>.yaml
//              (parse_image_state / parse_base_state: text in, values out, FILE:LINE errors);
//   evaluate — per image: each base's changedSinceBuild, its rebuildEligibleAt, rebuildDue,
//              the last scan's gate, against a clock passed in;
//   render   — the JSON of CLI.md and the operator's table.
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imgfactory/enrollment.hpp"

namespace imgf::status {

using Time = std::chrono::sys_seconds;

// ISO-8601 as the state files hold it: 2024-12-03T12:00:00Z, 2025-12-29T19:25:06.841994+00:00,
// a space for the T, an offset of +HH:MM / +HHMM / Z, or a date alone (midnight UTC).
std::optional<Time> parse_time(std::string_view text);
// 2024-12-03T12:00:00Z
std::string format_time(Time t);
// `t` relative to `now`, short: "now", "45s ago", "3d ago", "in 2d", "14mo ago", "2y ago".
std::string relative_time(Time t, Time now);

// A digest for a terminal: the 12 first hex digits of sha256:<hex> (as podman shows image
// IDs); anything else (a placeholder) cut to 12 characters.
std::string short_digest(std::string_view digest);

// --- records ----------------------------------------------------------------------------

// The last scan, as scan writes it under lastScan (src/core/trivy_state.cpp).
struct ScanRecord {
  std::optional<std::string> scanned_at;
  std::optional<std::string> reference;
  std::array<std::uint64_t, 5> counts{};  // CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN
  std::uint64_t misconfigurations = 0;
  std::uint64_t secrets = 0;
  std::optional<std::string> fail_on;  // the gate (--fail-on), when one was set
  bool passed = true;
};
inline constexpr std::array<std::string_view, 5> kSeverityNames = {"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"};

// What images/<name>.yaml records of one base image at the last build.
struct BuiltOn {
  std::optional<std::string> digest;                            // as its registry served the tag
  std::vector<std::pair<std::string, std::string>> platforms;  // platform -> manifest digest
};

struct ImageRecord {
  std::string file;
  std::optional<std::string> current_version, current_digest, last_built;
  std::vector<std::string> base_images;        // base-image state names
  bool has_build_inputs = false;               // the last build recorded its inputs
  std::map<std::string, BuiltOn> built_on;     // by base-image state name
  std::optional<ScanRecord> last_scan;
};

struct BaseRecord {
  std::string file;
  std::string name;
  std::string full_image;  // the reference as written
  std::optional<std::string> current_digest, last_updated;
  // rebuildEligibleAt: a time, or the original's mapping of dependent image name (or
  // "default") to a time.
  std::optional<std::string> eligible_default;
  std::map<std::string, std::string> eligible_by_image;
};

// Throw imgf::Error (exit 2, FILE:LINE) for text that is not YAML or a field of the wrong kind.
ImageRecord parse_image_state(std::string_view text, const std::string& file);
BaseRecord parse_base_state(std::string_view text, const std::string& file);

// --- evaluation -------------------------------------------------------------------------

enum class Change { no, yes, unknown };

struct BaseStatus {
  std::string name;
  std::string reference;                   // fullImage; the name when the file is missing
  std::optional<std::string> digest;       // recorded currentDigest
  std::optional<std::string> built_on;     // the digest the image was built on
  Change changed = Change::unknown;        // changedSinceBuild
  std::optional<std::string> eligible_at;  // rebuildEligibleAt for this image, ISO-8601
  std::optional<Time> last_updated;
  bool missing = false;                    // no base-images/<name>.yaml
};

// Where an image stands, most urgent first.
enum class Rebuild {
  due,           // a base changed since the build and its rebuildEligibleAt has passed
  waiting,       // a base changed; eligible later (next_eligible)
  unknown,       // some base's digest at build time or now is not recorded
  current,       // every base is as it was at the build
  never_built,   // no lastBuilt
  not_analyzed,  // no images/<name>.yaml
  external,      // enrolled without a source: watched, not built here
};
std::string_view to_string(Rebuild r);

struct ImageStatus {
  std::string name;
  bool auto_rebuild = true;
  std::optional<std::string> version, digest, last_built;
  std::vector<BaseStatus> bases;
  Rebuild rebuild = Rebuild::unknown;
  bool rebuild_due = false;
  std::optional<Time> next_eligible;  // waiting: the earliest rebuildEligibleAt among changed bases
  std::optional<ScanRecord> scan;
  [[nodiscard]] bool scan_failing() const { return scan && !scan->passed; }
};

// `record` null: no state file. `base` looks a base-image state up by name (null: missing).
ImageStatus evaluate(const enrollment::Image& image, const ImageRecord* record,
                     const std::function<const BaseRecord*(const std::string&)>& base, Time now);

struct Summary {
  std::size_t images = 0, due = 0, waiting = 0, unknown = 0, current = 0, never_built = 0, not_analyzed = 0,
              external = 0, scan_failing = 0, scanned = 0;
};
Summary summarize(const std::vector<ImageStatus>& images);

// --- rendering --------------------------------------------------------------------------

// {"images": [{"name", "currentVersion", "currentDigest", "lastBuilt", "rebuildDue",
//   "baseImages": [{"name", "reference", "digest", "changedSinceBuild", "rebuildEligibleAt"}],
//   "lastScan"}]} with a newline; changedSinceBuild is null when unknown.
std::string render_json(const std::vector<ImageStatus>& images);
// One line per image, its base images indented below it, a summary line. ANSI colour only
// when `color`.
std::string render_table(const std::vector<ImageStatus>& images, Time now, bool color);

// --- loading (the file system) ----------------------------------------------------------

// The status of `only` (every enrolled image when empty; an unknown name is exit 2 listing
// the enrolled ones), in images.yaml order. Each state file is read once.
std::vector<ImageStatus> load(const enrollment::Layout& layout, const enrollment::Enrollment& enrolled,
                              const std::vector<std::string>& only, Time now);

}  // namespace imgf::status
