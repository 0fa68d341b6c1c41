#pragma once
// `imgfactory analyze --digests`: each base image's digest asked of its registry and recorded
// in base-images/<name>.yaml — currentDigest, lastChecked; when it changed previousDigest,
// lastUpdated, an updateHistory entry and rebuildEligibleAt (lastUpdated plus the shortest
// rebuildDelay among the images built on it, and one entry per such image) — in the
// original's canonical format: targeted edits of those keys, every other line kept, and a
// result that analyze's canonical writer leaves as it is.
//
// record_digest is pure (src/core/base_digests.cpp); check_digests is the edge
// (src/edge/analyze_digests.cpp).
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "imgfactory/analyze.hpp"
#include "imgfactory/process.hpp"
#include "imgfactory/registry.hpp"
#include "imgfactory/state.hpp"

namespace imgf::state {

struct DigestObservation {
  std::string digest;  // what the registry serves now
  std::string now;     // ISO 8601 UTC
  // The enrolled images built on this base, with their rebuildDelay.
  std::vector<std::pair<std::string, std::chrono::seconds>> dependents;
};

struct DigestRecord {
  std::string text;       // the new file content
  std::string previous;   // currentDigest before ("" when none was recorded)
  bool changed = false;   // a recorded digest was replaced by another one
  std::string rebuild_eligible_at;  // when changed and something is built on it: the earliest
};

// The update history keeps this many entries, newest first (as the original's comment says).
inline constexpr int kUpdateHistoryLimit = 10;

// Applies one observation to an existing base-image file. Throws imgf::Error (exit 2) when
// `now` is not an ISO 8601 UTC time.
DigestRecord record_digest(const Document& existing, const DigestObservation& observation);

}  // namespace imgf::state

namespace imgf::analyze {

struct DigestOptions {
  bool dry_run = false;
  std::function<std::string()> clock;  // ISO-8601 UTC now; empty: the system clock
  registry::Options registry;
};

struct DigestEntry {
  std::string name;       // base-image state name
  std::string reference;  // what was asked (registry::query_reference)
  std::string digest;     // served now ("" on failure)
  std::string previous;
  bool changed = false;
  std::string rebuild_eligible_at;
  bool written = false;   // the file changed
  std::string error;      // the registry could not tell: the file was left as it was
};

struct DigestReport {
  std::vector<DigestEntry> entries;
  std::vector<std::string> errors;  // one line per base image that could not be checked
  std::size_t queries = 0;          // skopeo processes started
  [[nodiscard]] int exit_code() const { return errors.empty() ? 0 : 1; }
};

// After analyze::run: the base images of the analysed images (all base-image state files when
// `options.only` is empty) asked of their registries in parallel, recorded under the state
// lock. Throws imgf::Error only for 130/143 and for an unwritable state directory.
DigestReport check_digests(const Options& options, const Report& report, proc::Runner& runner,
                           const DigestOptions& digest_options);

std::string digests_to_text(const DigestReport& report);
// [{"name","reference","digest","previousDigest","changed","rebuildEligibleAt","written","error"}]
std::string digests_to_json(const DigestReport& report);

}  // namespace imgf::analyze
