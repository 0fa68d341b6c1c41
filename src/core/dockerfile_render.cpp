// Output of `imgfactory analyze --dockerfile`: the JSON shape of CLI.md and a text summary.
#include <nlohmann/json.hpp>

#include "imgfactory/dockerfile.hpp"

namespace imgf::dockerfile {

namespace {

using json = nlohmann::ordered_json;

json null_if_empty(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json image_json(const BaseImage& b) {
  json j;
  j["ref"] = b.ref;
  j["name"] = b.name;
  j["registry"] = b.parsed.domain;
  j["repository"] = b.parsed.path;
  j["tag"] = null_if_empty(b.parsed.tag);
  j["digest"] = null_if_empty(b.parsed.digest);
  j["canonical"] = b.parsed.canonical();
  j["line"] = b.line;
  return j;
}

}  // namespace

std::string render_json(const Analysis& a, const std::string& dockerfile) {
  json out;
  out["dockerfile"] = dockerfile;
  json stages = json::array();
  for (const Stage& s : a.stages) {
    json j;
    j["index"] = s.index;
    j["name"] = null_if_empty(s.name);
    j["from"] = s.from;
    j["resolved"] = s.resolved;
    j["platform"] = null_if_empty(s.platform);
    j["kind"] = kind_name(s.kind);
    j["line"] = s.line;
    j["resolvedPlatform"] = s.resolved_platform;
    if (s.kind == StageKind::stage) j["baseStage"] = s.base_stage;
    j["reachable"] = s.reachable;
    stages.push_back(std::move(j));
  }
  out["stages"] = std::move(stages);
  json bases = json::array();
  for (const BaseImage& b : a.base_images) bases.push_back(image_json(b));
  out["baseImages"] = std::move(bases);
  json copies = json::array();
  for (const BaseImage& b : a.copy_from_images) copies.push_back(image_json(b));
  out["copyFromImages"] = std::move(copies);
  out["platforms"] = a.platforms;
  out["target"] = a.target;
  return out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string render_text(const Analysis& a, const std::string& dockerfile) {
  std::string out = "Dockerfile: " + dockerfile + "\n";
  out += "Platforms: ";
  for (std::size_t i = 0; i < a.platforms.size(); ++i) out += (i ? ", " : "") + a.platforms[i];
  out += "\nStages (target " + a.target + "):\n";
  for (const Stage& s : a.stages) {
    out += "  " + std::to_string(s.index) + (s.name.empty() ? "" : " " + s.name) + ": FROM " + s.from;
    if (s.resolved != s.from) out += " -> " + s.resolved;
    out += "  [" + std::string(kind_name(s.kind));
    if (s.kind == StageKind::stage) out += " " + std::to_string(s.base_stage);
    out += ", " + s.resolved_platform;
    if (!s.reachable) out += ", not needed by the target";
    out += "]  line " + std::to_string(s.line) + "\n";
  }
  auto list = [&](const char* title, const std::vector<BaseImage>& images) {
    out += title;
    if (images.empty()) out += "  (none)\n";
    for (const BaseImage& b : images)
      out += "  " + b.ref + "  " + b.parsed.canonical() + "  state: " + b.name + "\n";
  };
  list("Base images:\n", a.base_images);
  list("Images used by COPY --from / RUN --mount=from:\n", a.copy_from_images);
  return out;
}

}  // namespace imgf::dockerfile
