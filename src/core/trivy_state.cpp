// Enrolled images: the reference to scan, and the scan summary recorded in the state file.
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "imgfactory/trivy.hpp"

namespace imgf::trivy {
namespace {

bool is_sha256_digest(std::string_view d) {
  return d.size() == 71 && d.substr(0, 7) == "sha256:" &&
         std::all_of(d.begin() + 7, d.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string scalar(const YAML::Node& root, const char* key) {
  const YAML::Node n = root[key];
  if (!n || !n.IsScalar()) return {};
  return n.Scalar();
}

}  // namespace

std::string pushed_reference(const enrollment::Image& image, std::string_view registry_override, std::string_view tag,
                             std::string_view state_yaml) {
  std::string registry = registry_override.empty() ? image.registry : std::string(registry_override);
  std::string repo = registry.empty() ? image.repository : registry + "/" + image.repository;
  if (!tag.empty()) return repo + ":" + std::string(tag);
  std::string digest, version;
  if (!state_yaml.empty()) {
    try {
      YAML::Node root = YAML::Load(std::string(state_yaml));
      if (root.IsMap()) {
        digest = scalar(root, "currentDigest");
        version = scalar(root, "currentVersion");
      }
    } catch (const YAML::Exception&) {
      // An unreadable state file leaves us with the tag "latest".
    }
  }
  if (is_sha256_digest(digest)) return repo + "@" + digest;
  if (!version.empty()) return repo + ":" + version;
  return repo + ":latest";
}

state::FieldValue last_scan_field(const ScanOutcome& scan, std::string_view reference, std::string_view scanned_at) {
  const auto& s = scan.summary;
  std::string t;
  t += "  scannedAt: " + state::yaml_timestamp(scanned_at) + "\n";
  if (!reference.empty()) t += "  reference: " + state::yaml_scalar(reference) + "\n";
  t += "  counts:\n";
  for (Severity x : kSeveritiesDescending)
    t += "    " + std::string(to_string(x)) + ": " + std::to_string(s.vulnerabilities[x]) + "\n";
  t += "  misconfigurations: " + std::to_string(s.misconfigurations.total()) + "\n";
  t += "  secrets: " + std::to_string(s.secrets.total()) + "\n";
  t += "  reportSha256: " + scan.sha256 + "\n";
  if (s.policy.fail_on) t += "  failOn: " + std::string(to_string(*s.policy.fail_on)) + "\n";
  t += std::string("  passed: ") + (s.policy.passed ? "true" : "false");
  return state::FieldValue{t, true};
}

}  // namespace imgf::trivy
