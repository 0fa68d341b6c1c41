// `imgfactory status`: reads the state files of the selected images, each base-image file
// once however many images share it. No lock: every writer renames whole files into place,
// so a read sees a file before or after a change, never half of one.
#include <algorithm>
#include <system_error>
#include <unordered_map>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/status.hpp"

namespace imgf::status {
namespace fs = std::filesystem;

std::vector<ImageStatus> load(const enrollment::Layout& layout, const enrollment::Enrollment& enrolled,
                              const std::vector<std::string>& only, Time now) {
  std::vector<const enrollment::Image*> selected;
  if (only.empty()) {
    for (const auto& i : enrolled.images) selected.push_back(&i);
  } else {
    for (const auto& name : only) {
      const enrollment::Image* i = &enrolled.get(name);  // exit 2 naming the enrolled images
      if (std::find(selected.begin(), selected.end(), i) == selected.end()) selected.push_back(i);
    }
  }

  std::unordered_map<std::string, std::optional<BaseRecord>> bases;
  auto base = [&](const std::string& name) -> const BaseRecord* {
    auto it = bases.find(name);
    if (it == bases.end()) {
      std::optional<BaseRecord> rec;
      const fs::path file = layout.base_image_state(name);
      std::error_code ec;
      if (fs::is_regular_file(file, ec)) rec = parse_base_state(fsutil::read_file(file), file.string());
      it = bases.emplace(name, std::move(rec)).first;
    }
    return it->second ? &*it->second : nullptr;
  };

  std::vector<ImageStatus> out;
  out.reserve(selected.size());
  for (const enrollment::Image* image : selected) {
    const fs::path file = layout.image_state(image->name);
    std::optional<ImageRecord> rec;
    std::error_code ec;
    if (fs::is_regular_file(file, ec)) rec = parse_image_state(fsutil::read_file(file), file.string());
    out.push_back(evaluate(*image, rec ? &*rec : nullptr, base, now));
  }
  return out;
}

}  // namespace imgf::status
