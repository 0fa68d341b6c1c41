// Reading what a registry serves: a raw manifest (OCI index, Docker list, image manifest,
// schema 1), an image config's platform, and the reference form skopeo accepts. Pure.
#include <nlohmann/json.hpp>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/registry.hpp"

namespace imgf::registry {
namespace {

std::string platform_text(const nlohmann::json& j, const char* os_key, const char* arch_key, const char* variant_key) {
  if (!j.is_object()) return {};
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string os = str(os_key), arch = str(arch_key), variant = str(variant_key);
  if (os.empty() || arch.empty()) return {};
  return os + "/" + arch + (variant.empty() ? "" : "/" + variant);
}

}  // namespace

Manifest describe_manifest(std::string_view raw) {
  nlohmann::json j = nlohmann::json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw failure("the registry did not return a manifest (not a JSON object)", {}, 0,
                  "check that the reference names an image");
  Manifest m;
  m.digest = "sha256:" + fsutil::sha256_hex(raw);
  if (auto it = j.find("mediaType"); it != j.end() && it->is_string()) m.media_type = it->get<std::string>();
  auto manifests = j.find("manifests");
  if (manifests != j.end() && manifests->is_array()) {
    m.index = true;
    m.platforms = builder::parse_manifest_list(raw);
    return m;
  }
  if (auto cfg = j.find("config"); cfg != j.end() && cfg->is_object()) {
    if (auto d = cfg->find("digest"); d != cfg->end() && d->is_string()) m.config_digest = d->get<std::string>();
    return m;
  }
  if (j.contains("fsLayers") || j.value("schemaVersion", 0) == 1) {  // Docker schema 1
    std::string arch = j.value("architecture", "");
    if (!arch.empty()) m.platform = "linux/" + arch;
    return m;
  }
  throw failure("the registry returned a document that is neither an image manifest nor an index (mediaType '" +
                m.media_type + "')");
}

std::string platform_of_config(std::string_view config_json) {
  nlohmann::json j = nlohmann::json::parse(config_json, nullptr, false);
  if (j.is_discarded()) return {};
  return platform_text(j, "os", "architecture", "variant");
}

std::string instance_for(const std::vector<builder::PlatformDigest>& instances, std::string_view platform) {
  auto os_arch = [](std::string_view p) {
    auto first = p.find('/');
    auto second = first == std::string_view::npos ? first : p.find('/', first + 1);
    return std::string(p.substr(0, second));
  };
  std::string found;
  int same_arch = 0;
  for (const auto& i : instances) {
    if (i.platform == platform) return i.digest;
    if (os_arch(i.platform) == os_arch(platform)) {
      ++same_arch;
      found = i.digest;
    }
  }
  return same_arch == 1 ? found : std::string();
}

std::string query_reference(const reference::Reference& ref) {
  if (!ref.digest.empty()) return ref.repository_url() + "@" + ref.digest;
  return ref.repository_url() + ":" + ref.effective_tag();
}

}  // namespace imgf::registry
