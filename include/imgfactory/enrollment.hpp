#pragma once
// images.yaml: the enrollment registry, in the format of the original Image Factory.
// Loading validates every field and throws imgf::Error (exit 2) naming FILE:LINE before
// anything is written; unknown keys are warned about.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imgf::enrollment {

struct Source {
  std::string provider;    // github | gitlab
  std::string repo;        // owner/name (or a full URL)
  std::string branch;      // default "main"
  std::string dockerfile;  // path inside the repository, default "Dockerfile"
  std::string workflow;    // GitHub workflow file to dispatch, if any
  std::string context;     // build context inside the repository, default: the Dockerfile's dir
  std::string pipeline;    // GitLab (kept for compatibility)
  std::string job;
  int line = 0;
  // The known keys of the source mapping with their values, in the order images.yaml gives
  // them (state files copy the enrollment in this order, as the original tool did).
  std::vector<std::pair<std::string, std::string>> fields;
  // https URL of the repository: https://github.com/<repo>.git (or the repo itself if a URL)
  [[nodiscard]] std::string url() const;
};

struct Local {
  std::string dir;         // inside the state repository
  std::string dockerfile;  // relative to dir, default "Dockerfile"
  std::vector<std::string> patch_files;  // relative to the state repository
  std::string version_file;              // relative to the state repository
  int line = 0;
};

struct UpdateTarget {
  std::string repo;
  std::string path;
  std::string type;
  // The keys present, in images.yaml order, with their values.
  std::vector<std::pair<std::string, std::string>> fields;
};

struct Image {
  std::string name;
  int line = 0;  // line of the entry in images.yaml
  std::string registry;    // e.g. ghcr.io (may be empty for external images)
  std::string repository;  // e.g. craigedmunds/backstage
  std::optional<Source> source;
  std::optional<Local> local;
  std::string rebuild_delay = "7d";
  std::chrono::seconds rebuild_delay_seconds{7 * 24 * 3600};
  bool auto_rebuild = true;
  std::vector<UpdateTarget> updates;
  std::string allow_tags;                // regex, external images
  std::string image_selection_strategy;  // SemVer | Lexical | NewestBuild | Digest
  int allow_tags_line = 0;
  // platforms: (os/arch[/variant], validated); empty: build's default, linux/amd64 + linux/arm64.
  std::vector<std::string> platforms;
  int platforms_line = 0;

  // Built by us (has a source or a local dir) as opposed to an external image we only watch.
  [[nodiscard]] bool managed() const { return source.has_value() || local.has_value(); }
  // <registry>/<repository> (no tag)
  [[nodiscard]] std::string repository_url() const;
};

struct Enrollment {
  std::filesystem::path file;
  std::vector<Image> images;

  [[nodiscard]] const Image* find(std::string_view name) const;
  // Throws imgf::Error (exit 2) listing the enrolled names when `name` is not enrolled.
  [[nodiscard]] const Image& get(std::string_view name) const;
  [[nodiscard]] std::vector<std::string> names() const;
};

// Parses images.yaml text; `file_label` is used in error messages.
Enrollment parse(std::string_view text, const std::string& file_label);
// Reads and parses the file.
Enrollment load(const std::filesystem::path& file);

// A name usable as a file name and Kubernetes name part: [a-z0-9]([a-z0-9._-]*[a-z0-9])?, <= 128.
bool is_safe_name(std::string_view name);

// Where the state files of a state repository live. The original tool kept them under
// state/ (state/images, state/base-images); CLI.md's layout puts them at the root. An
// existing state/ directory wins when the root has no images/ directory.
struct Layout {
  std::filesystem::path root;         // --state-dir
  std::filesystem::path images_dir;   // <root>/images or <root>/state/images
  std::filesystem::path base_images_dir;
  std::filesystem::path dist_dir;     // <root>/dist
  std::filesystem::path lock_file;    // <root>/.imgfactory.lock
  [[nodiscard]] std::filesystem::path image_state(std::string_view name) const;
  [[nodiscard]] std::filesystem::path base_image_state(std::string_view name) const;
};
Layout layout_for(const std::filesystem::path& state_dir);

}  // namespace imgf::enrollment
