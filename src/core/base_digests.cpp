// `analyze --digests`, the pure half: one registry observation applied to a base-image state
// file as targeted edits of its runtime keys, in the canonical format analyze writes.
#include <algorithm>

#include "imgfactory/base_digests.hpp"
#include "imgfactory/build_inputs.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/state_fields.hpp"

namespace imgf::state {
namespace {

// analyze's canonical comments on these keys (src/core/state.cpp): kept, so that analyze's
// writer reproduces the file exactly.
constexpr const char* kLastUpdatedComment = "  # Will be set when digest first changes";
constexpr const char* kEligibleFallback = "  default: null  # Will be calculated as lastUpdated + rebuildDelay";

std::vector<std::string> history_lines(const Entry* e) {
  if (e == nullptr || !e->value.empty()) return {};  // missing, [] or another flow value
  return e->block;
}

}  // namespace

DigestRecord record_digest(const Document& existing, const DigestObservation& o) {
  auto now = inputs::parse_iso8601_utc(o.now);
  if (!now) throw input_error("not an ISO 8601 UTC time: '" + o.now + "'");
  DigestRecord out;
  out.previous = existing.scalar("currentDigest").value_or("");
  if (out.previous == "None") out.previous.clear();
  const std::string when = timestamp_text(o.now);

  std::vector<std::pair<std::string, FieldValue>> fields;
  fields.emplace_back("lastChecked", FieldValue{when});
  fields.emplace_back("currentDigest", FieldValue{scalar_text(o.digest)});
  out.changed = !out.previous.empty() && out.previous != o.digest;
  if (out.changed) {
    fields.emplace_back("lastUpdated", FieldValue{when + kLastUpdatedComment});
    fields.emplace_back("previousDigest", FieldValue{scalar_text(out.previous)});
    // rebuildEligibleAt: the earliest (default) and one per image built on it.
    std::string block;
    if (o.dependents.empty()) {
      block = std::string(kEligibleFallback) + "\n";
    } else {
      auto deps = o.dependents;
      std::sort(deps.begin(), deps.end());
      auto shortest = std::min_element(deps.begin(), deps.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; })->second;
      out.rebuild_eligible_at = inputs::iso8601_utc(*now + shortest.count());
      block = "  default: " + timestamp_text(out.rebuild_eligible_at) + "\n";
      for (const auto& [name, delay] : deps) {
        if (name == "default") continue;
        block += "  " + scalar_text(name) + ": " + timestamp_text(inputs::iso8601_utc(*now + delay.count())) + "\n";
      }
    }
    fields.emplace_back("rebuildEligibleAt", FieldValue{block, true});
    // updateHistory: newest first, at most kUpdateHistoryLimit entries, older entries verbatim.
    std::string hist = "  - digest: " + scalar_text(o.digest) + "\n" + "    previousDigest: " +
                       scalar_text(out.previous) + "\n" + "    detectedAt: " + when + "\n";
    int entries = 1;
    std::vector<std::string> older = history_lines(existing.find("updateHistory"));
    // An indentless sequence ("- digest: ...", as PyYAML writes it) is indented to match.
    const bool indentless = !older.empty() && older.front().rfind("- ", 0) == 0;
    for (const auto& l : older) {
      std::string line = indentless && !l.empty() ? "  " + l : l;
      if (line.rfind("  - ", 0) == 0) ++entries;
      if (entries > kUpdateHistoryLimit) break;
      hist += line + "\n";
    }
    fields.emplace_back("updateHistory", FieldValue{hist, true});
  }
  out.text = set_top_level_fields(existing.text(), fields);
  return out;
}

}  // namespace imgf::state
