// The fields `imgfactory status` reads from the state files. analyze, build and scan write
// them; this reader takes only what status shows, tolerates the original tool's quirks
// (Python's "None" for null, fractional seconds and +00:00 offsets) and reports anything it
// cannot use as FILE:LINE (exit 2).
#include <yaml-cpp/yaml.h>

#include "imgfactory/error.hpp"
#include "imgfactory/status.hpp"

namespace imgf::status {
namespace {

int line_of(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

constexpr const char* kHint = "fix the state file, or remove it and run 'imgfactory analyze' to write it anew";

YAML::Node load_yaml(std::string_view text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& ex) {
    throw input_error("invalid YAML in state file: " + ex.msg, file, ex.mark.line >= 0 ? ex.mark.line + 1 : 0, kHint);
  }
  if (root && !root.IsNull() && !root.IsMap())
    throw input_error("a state file must be a mapping of fields", file, line_of(root), kHint);
  return root;
}

bool is_null(const YAML::Node& n) { return !n || n.IsNull() || (n.IsScalar() && n.Scalar() == "None"); }

std::optional<std::string> opt_scalar(const YAML::Node& map, const char* key, const std::string& file) {
  const YAML::Node n = map[key];
  if (is_null(n)) return std::nullopt;
  if (!n.IsScalar()) throw input_error(std::string(key) + " must be a single value", file, line_of(n), kHint);
  return n.Scalar();
}

std::optional<std::string> opt_time(const YAML::Node& map, const char* key, const std::string& file) {
  auto v = opt_scalar(map, key, file);
  if (v && !parse_time(*v))
    throw input_error(std::string(key) + ": '" + *v + "' is not a time", file, line_of(map[key]),
                      "write an ISO-8601 time such as '2025-01-31T12:00:00Z'");
  return v;
}

std::uint64_t count(const YAML::Node& map, const char* key, const std::string& file) {
  const YAML::Node n = map[key];
  if (is_null(n)) return 0;
  try {
    if (n.IsScalar()) return n.as<std::uint64_t>();
  } catch (const YAML::Exception&) {
  }
  throw input_error(std::string(key) + " must be a count (a whole number)", file, line_of(n), kHint);
}

const YAML::Node& require_map(const YAML::Node& n, const char* key, const std::string& file) {
  if (!n.IsMap()) throw input_error(std::string(key) + " must be a mapping", file, line_of(n), kHint);
  return n;
}

ScanRecord read_scan(const YAML::Node& n, const std::string& file) {
  require_map(n, "lastScan", file);
  ScanRecord s;
  s.scanned_at = opt_time(n, "scannedAt", file);
  s.reference = opt_scalar(n, "reference", file);
  if (const YAML::Node c = n["counts"]; !is_null(c)) {
    require_map(c, "lastScan.counts", file);
    for (std::size_t k = 0; k < kSeverityNames.size(); ++k)
      s.counts[k] = count(c, std::string(kSeverityNames[k]).c_str(), file);
  }
  s.misconfigurations = count(n, "misconfigurations", file);
  s.secrets = count(n, "secrets", file);
  s.fail_on = opt_scalar(n, "failOn", file);
  if (const YAML::Node p = n["passed"]; !is_null(p)) {
    try {
      s.passed = p.as<bool>();
    } catch (const YAML::Exception&) {
      throw input_error("lastScan.passed must be true or false", file, line_of(p), kHint);
    }
  }
  return s;
}

// The digests of the base images the last build used, as build records them with its
// inputs (the `buildInputs:` contract in docs/build.md, written by `build`). This is the one
// place that knows where they live in images/<name>.yaml:
//   buildInputs:
//     baseImages:
//       - name: python-3.12-slim
//         digest: sha256:...            # what the tag served when the image was built
//         platforms: {linux/amd64: sha256:..., linux/arm64: sha256:...}
void read_built_on(const YAML::Node& root, ImageRecord& rec) {
  const YAML::Node inputs = root["buildInputs"];
  if (is_null(inputs)) return;
  const std::string& file = rec.file;
  require_map(inputs, "buildInputs", file);
  rec.has_build_inputs = true;
  const YAML::Node bases = inputs["baseImages"];
  if (is_null(bases)) return;
  if (!bases.IsSequence()) throw input_error("buildInputs.baseImages must be a list", file, line_of(bases), kHint);
  for (const auto& b : bases) {
    require_map(b, "buildInputs.baseImages entry", file);
    auto name = opt_scalar(b, "name", file);
    if (!name) continue;  // an image without a base-image state name: nothing status shows
    BuiltOn on;
    on.digest = opt_scalar(b, "digest", file);
    if (const YAML::Node p = b["platforms"]; !is_null(p)) {
      require_map(p, "buildInputs.baseImages platforms", file);
      for (const auto& kv : p)
        if (kv.second.IsScalar()) on.platforms.emplace_back(kv.first.Scalar(), kv.second.Scalar());
    }
    rec.built_on[*name] = std::move(on);
  }
}

}  // namespace

ImageRecord parse_image_state(std::string_view text, const std::string& file) {
  ImageRecord rec;
  rec.file = file;
  const YAML::Node root = load_yaml(text, file);
  if (!root || root.IsNull()) return rec;
  rec.current_version = opt_scalar(root, "currentVersion", file);
  rec.current_digest = opt_scalar(root, "currentDigest", file);
  rec.last_built = opt_time(root, "lastBuilt", file);
  if (const YAML::Node b = root["baseImages"]; !is_null(b)) {
    if (!b.IsSequence()) throw input_error("baseImages must be a list of base-image names", file, line_of(b), kHint);
    for (const auto& item : b) {
      if (!item.IsScalar() || item.Scalar().empty() || item.Scalar().front() == '.' ||
          item.Scalar().find('/') != std::string::npos)
        throw input_error("each baseImages entry must be a base-image state name (a file name in base-images/)", file,
                          line_of(item), kHint);
      rec.base_images.push_back(item.Scalar());
    }
  }
  if (const YAML::Node s = root["lastScan"]; !is_null(s)) rec.last_scan = read_scan(s, file);
  read_built_on(root, rec);
  return rec;
}

BaseRecord parse_base_state(std::string_view text, const std::string& file) {
  BaseRecord rec;
  rec.file = file;
  const YAML::Node root = load_yaml(text, file);
  if (!root || root.IsNull()) return rec;
  rec.name = opt_scalar(root, "name", file).value_or("");
  rec.full_image = opt_scalar(root, "fullImage", file).value_or("");
  rec.current_digest = opt_scalar(root, "currentDigest", file);
  rec.last_updated = opt_time(root, "lastUpdated", file);
  const YAML::Node e = root["rebuildEligibleAt"];
  if (is_null(e)) return rec;
  if (e.IsScalar()) {
    rec.eligible_default = opt_time(root, "rebuildEligibleAt", file);
  } else if (e.IsMap()) {
    for (const auto& kv : e) {
      if (is_null(kv.second)) continue;
      const std::string key = kv.first.Scalar();
      if (!kv.second.IsScalar() || !parse_time(kv.second.Scalar()))
        throw input_error("rebuildEligibleAt." + key + " is not a time", file, line_of(kv.second),
                          "write an ISO-8601 time such as '2025-01-31T12:00:00Z'");
      if (key == "default") rec.eligible_default = kv.second.Scalar();
      else rec.eligible_by_image[key] = kv.second.Scalar();
    }
  } else {
    throw input_error("rebuildEligibleAt must be a time or a mapping of image to time", file, line_of(e), kHint);
  }
  return rec;
}

}  // namespace imgf::status
