#pragma once
// Targeted edits of top-level keys in a state file (images/<name>.yaml), keeping every
// other line — comments, key order, quoting — as it was. Used by build (currentVersion,
// currentDigest, lastBuilt) and scan (lastScan); analyze owns the full canonical writer.
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "imgfactory/enrollment.hpp"

namespace imgf::state {

// A rendered YAML value for a top-level key: either a one-line scalar/flow value
// (`block` false: "key: <text>") or an indented block (`block` true: "key:\n<text>", each
// line of text already indented by two spaces).
struct FieldValue {
  std::string text;
  bool block = false;
};

// A scalar as YAML text: plain when it reads back as the same string, single-quoted otherwise
// (timestamps are always single-quoted, as the original tool wrote them).
std::string yaml_scalar(std::string_view value);
std::string yaml_timestamp(std::string_view iso8601);

// Replaces each key's line (and its indented block, if any) or appends the key at the end.
std::string set_top_level_fields(std::string_view yaml_text,
                                 const std::vector<std::pair<std::string, FieldValue>>& fields);

// Applies set_top_level_fields to layout.image_state(image_name) under the state lock,
// atomically; a missing file is started with the original header and `name:`. Returns
// whether the file changed.
bool update_image_state(const enrollment::Layout& layout, const std::string& image_name,
                        const std::vector<std::pair<std::string, FieldValue>>& fields);

// Current UTC time as 2024-12-03T12:00:00Z (the clock is injectable for tests by passing
// times explicitly to the functions above; this is only the default source).
std::string utc_now_iso8601();

}  // namespace imgf::state
