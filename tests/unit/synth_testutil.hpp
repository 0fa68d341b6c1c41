#pragma once
// Helpers shared by the synth tests (kargo_graph_test.cpp, kargo_tagproof_test.cpp): load a
// state directory, parse the generated YAML back, find documents by kind and name, and read
// a Warehouse's image subscription back into the tag rule's Selection.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "imgfactory/enrollment.hpp"
#include "imgfactory/kargo.hpp"
#include "imgfactory/tagrule.hpp"
#include "testutil.hpp"

namespace imgf::test::synth {

inline std::filesystem::path data_dir() { return source_dir() / "tests" / "data" / "synth"; }

inline kargo::Input load_state(const std::filesystem::path& root) {
  return kargo::load_input(enrollment::layout_for(root), enrollment::load(root / "images.yaml"));
}

// Every document of a synth output, by "Kind/name".
inline std::map<std::string, YAML::Node> documents(const std::string& yaml) {
  std::map<std::string, YAML::Node> out;
  for (const auto& doc : YAML::LoadAll(yaml))
    out[doc["kind"].as<std::string>() + "/" + doc["metadata"]["name"].as<std::string>()] = doc;
  return out;
}

inline std::vector<YAML::Node> of_kind(const std::map<std::string, YAML::Node>& docs, const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const auto& [key, doc] : docs)
    if (key.starts_with(kind + "/")) out.push_back(doc);
  return out;
}

inline std::string label(const YAML::Node& doc, const std::string& key) {
  const auto v = doc["metadata"]["labels"][key];
  return v ? v.as<std::string>() : std::string();
}

// The image subscription as Kargo reads it: strictSemvers absent = Kargo's default (true).
inline tagrule::Selection selection_of(const YAML::Node& image_sub) {
  tagrule::Selection s;
  s.strategy = image_sub["imageSelectionStrategy"] ? image_sub["imageSelectionStrategy"].as<std::string>() : "SemVer";
  if (image_sub["constraint"]) s.constraint = image_sub["constraint"].as<std::string>();
  if (image_sub["strictSemvers"]) s.strict_semvers = image_sub["strictSemvers"].as<bool>();
  for (const auto& re : image_sub["allowTagsRegexes"]) s.allow_tags_regexes.push_back(re.as<std::string>());
  return s;
}

// The args of a Stage's verification, by name.
inline std::map<std::string, std::string> verification_args(const YAML::Node& stage) {
  std::map<std::string, std::string> out;
  for (const auto& a : stage["spec"]["verification"]["args"]) out[a["name"].as<std::string>()] = a["value"].as<std::string>();
  return out;
}

}  // namespace imgf::test::synth
