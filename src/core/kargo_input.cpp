// Reads the state files synth needs (images/<name>.yaml, base-images/<name>.yaml). The
// canonical writer belongs to analyze; this reader only takes the fields the manifests are
// made of, tolerates the original tool's quirks (Python's "None" for null) and reports
// anything else it cannot use as FILE:LINE.
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <system_error>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/kargo.hpp"

namespace imgf::kargo {
namespace fs = std::filesystem;

namespace {

int line_of(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

YAML::Node load_yaml(std::string_view text, const std::string& file) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& ex) {
    throw input_error("invalid YAML: " + ex.msg, file, ex.mark.line >= 0 ? ex.mark.line + 1 : 0,
                      "fix the state file or re-run 'imgfactory analyze' to rewrite it");
  }
}

// An optional string field: absent, null and the original tool's "None" read as empty.
Located opt_string(const YAML::Node& map, const char* key, const std::string& file) {
  const YAML::Node n = map[key];
  if (!n || n.IsNull()) return {};
  if (!n.IsScalar()) throw input_error(std::string(key) + " must be a string", file, line_of(n));
  if (n.Scalar() == "None") return {};
  return {n.Scalar(), line_of(n)};
}

const YAML::Node& require_map(const YAML::Node& root, const std::string& file) {
  if (!root.IsMap()) throw input_error("a state file must be a mapping of fields", file, line_of(root));
  return root;
}

// Base-image state names become file names: refuse anything that could leave base-images/.
bool safe_state_name(std::string_view s) {
  if (s.empty() || s.size() > 255 || s.front() == '.' || s.front() == '-') return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Located BaseImageState::repository_url() const {
  if (!repo_url.empty()) return repo_url;
  if (!repository.empty())
    return {(registry.empty() ? std::string("docker.io") : registry.value) + "/" + repository.value, repository.line};
  return {};
}

ImageState parse_image_state(std::string_view text, const std::string& file) {
  ImageState st;
  st.file = file;
  st.exists = true;
  const YAML::Node root = load_yaml(text, file);
  if (!root || root.IsNull()) return st;
  require_map(root, file);
  if (const YAML::Node b = root["baseImages"]; b && !b.IsNull()) {
    if (!b.IsSequence())
      throw input_error("baseImages must be a list of base-image state names", file, line_of(b));
    for (const auto& item : b) {
      if (!item.IsScalar() || item.Scalar().empty())
        throw input_error("each baseImages entry must be a base-image state name", file, line_of(item));
      if (!safe_state_name(item.Scalar()))
        throw input_error("baseImages entry '" + item.Scalar() + "' is not a valid state name", file, line_of(item),
                          "letters, digits, '.', '_' and '-', as 'imgfactory analyze' writes them");
      st.base_images.push_back({item.Scalar(), line_of(item)});
    }
  }
  st.current_version = opt_string(root, "currentVersion", file);
  st.allow_tags = opt_string(root, "allowTags", file);
  st.image_selection_strategy = opt_string(root, "imageSelectionStrategy", file);
  st.repo_url = opt_string(root, "repoURL", file);
  return st;
}

BaseImageState parse_base_image_state(std::string_view text, const std::string& file, const std::string& name) {
  BaseImageState st;
  st.file = file;
  st.name = name;
  const YAML::Node root = load_yaml(text, file);
  if (!root || root.IsNull())
    throw input_error("base-image state file is empty", file, 1, "re-run 'imgfactory analyze' to rewrite it");
  require_map(root, file);
  st.full_image = opt_string(root, "fullImage", file);
  st.registry = opt_string(root, "registry", file);
  st.repository = opt_string(root, "repository", file);
  st.tag = opt_string(root, "tag", file);
  st.allow_tags = opt_string(root, "allowTags", file);
  st.image_selection_strategy = opt_string(root, "imageSelectionStrategy", file);
  st.repo_url = opt_string(root, "repoURL", file);
  if (st.repository_url().empty())
    throw input_error("base-image state has neither repoURL nor repository", file, line_of(root),
                      "re-run 'imgfactory analyze' to rewrite it");
  return st;
}

Input load_input(const enrollment::Layout& layout, enrollment::Enrollment enrollment) {
  Input in;
  in.enrollment = std::move(enrollment);
  std::error_code ec;
  for (const auto& img : in.enrollment.images) {
    const fs::path path = layout.image_state(img.name);
    ImageState st;
    if (fs::is_regular_file(path, ec)) {
      st = parse_image_state(fsutil::read_file(path), path.string());
    } else {
      st.file = path.string();
      if (img.managed()) spdlog::debug("{}: no state yet (not analysed)", path.string());
    }
    for (const auto& base : st.base_images) {
      if (in.bases.contains(base.value)) continue;
      const fs::path bpath = layout.base_image_state(base.value);
      if (!fs::is_regular_file(bpath, ec))
        throw input_error("base image '" + base.value + "' has no state file " + bpath.string(), st.file, base.line,
                          "run 'imgfactory analyze' to write it");
      in.bases.emplace(base.value, parse_base_image_state(fsutil::read_file(bpath), bpath.string(), base.value));
    }
    in.images.emplace(img.name, std::move(st));
  }
  return in;
}

}  // namespace imgf::kargo
