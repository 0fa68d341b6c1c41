// The Discoverer of the Dockerfile model: imgf::dockerfile::analyze for the platforms
// `imgfactory build` builds (the image's platforms:, else its default), imgf::reference for
// image references.
#include "imgfactory/analyze.hpp"
#include "imgfactory/builder.hpp"
#include "imgfactory/dockerfile.hpp"
#include "imgfactory/reference.hpp"

#include <set>

namespace imgf::analyze {
namespace {

state::BaseRef to_base_ref(std::string_view text, const reference::Reference& r) {
  state::BaseRef b;
  b.ref = std::string(text);
  b.name = reference::state_name(text);
  b.registry = r.domain;
  b.repository = r.path;
  b.tag = r.effective_tag();
  b.digest = r.digest;
  // node and node:latest are one image: the identity is the reference as pulled.
  b.canonical = r.canonical();
  return b;
}

class DockerfileDiscoverer final : public Discoverer {
 public:
  std::vector<state::BaseRef> discover(std::string_view content, const std::string& label,
                                      const std::vector<std::string>& platforms) override {
    dockerfile::Options options;
    for (const auto& p : builder::parse_platforms(platforms)) options.platforms.push_back(p.str());
    dockerfile::Analysis a = dockerfile::analyze(content, label, options);
    std::vector<state::BaseRef> out;
    std::set<std::string> seen;
    for (const auto* list : {&a.base_images, &a.copy_from_images})
      for (const auto& b : *list) {
        state::BaseRef r = to_base_ref(b.ref, b.parsed);
        if (seen.insert(r.canonical).second) out.push_back(std::move(r));
      }
    return out;
  }

  std::optional<state::BaseRef> parse(std::string_view text) override {
    auto r = reference::try_parse(text);
    if (!r) return std::nullopt;
    return to_base_ref(text, *r);
  }
};

}  // namespace

std::unique_ptr<Discoverer> dockerfile_discoverer() { return std::make_unique<DockerfileDiscoverer>(); }

}  // namespace imgf::analyze
