// `imgfactory build IMAGE...`: several images in one run. With --if-changed, what each
// image's check will ask the registries — the digests of the base images it recorded and the
// digest its last pushed tag serves — is asked first, all at once (bounded parallelism), so
// that a fleet whose inputs did not change is checked in about the time of its slowest query;
// then each image is built or skipped in turn, sharing those answers (a push forgets the
// answers about its own repository, so an image built on another one sees the new digest).
#include <spdlog/spdlog.h>

#include <set>

#include "imgfactory/build_inputs.hpp"
#include "imgfactory/builder.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/registry.hpp"
#include "imgfactory/state.hpp"

namespace imgf::builder {
namespace fs = std::filesystem;
namespace {

// The registry questions the --if-changed check of `img` will ask, learned from its state file.
void expected_queries(const enrollment::Image& img, const enrollment::Layout& layout, const Options& o,
                      std::vector<std::string>& out) {
  fs::path p = layout.image_state(img.name);
  std::error_code ec;
  if (!fs::exists(p, ec)) return;
  std::string text;
  try {
    text = fsutil::read_file(p);
  } catch (const Error&) {
    return;
  }
  auto recorded = inputs::parse_recorded(text);
  if (!recorded) return;
  for (const auto& b : recorded->base_images)
    if (auto r = reference::try_parse(b.reference)) out.push_back(registry::query_reference(*r));
  std::string registry = o.registry.empty() ? img.registry : o.registry;
  std::optional<std::string> version;
  try {
    version = state::Document::parse(text, p.string(), false).scalar("currentVersion");
  } catch (const Error&) {
  }
  std::string tag = o.tag.empty() ? version.value_or("") : o.tag;
  if (!registry.empty() && !tag.empty())
    if (auto r = reference::try_parse(registry + "/" + img.repository + ":" + tag))
      out.push_back(registry::query_reference(*r));
}

}  // namespace

int run_many(const Options& options, const Context& context) {
  if (context.runner == nullptr) throw failure("internal: build needs a runner");
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& n : std::vector<std::string>{options.image}) names.push_back(n), seen.insert(n);
  for (const auto& n : options.more_images)
    if (seen.insert(n).second) names.push_back(n);
  if (names.size() == 1) {
    Options one = options;
    one.more_images.clear();
    return run(one, context);
  }
  bool any_base = std::any_of(options.bases.begin(), options.bases.end(),
                              [](const std::string& b) { return inputs::parse_base_option(b).has_value(); });
  if (any_base)
    throw input_error("--base pins the build of one image; " + std::to_string(names.size()) + " were given", {}, 0,
                      "run one build per image with its --base");
  if (!options.revision.empty())  // [compat] issue 11
    throw input_error("--revision names a commit of one image's source; " + std::to_string(names.size()) +
                          " images were given",
                      {}, 0, "run one build per image with its --revision");
  inputs::LibGit2 git;  // one libgit2 initialisation for all the images (see LibGit2)
  auto enr = enrollment::load(context.images_file);
  std::vector<const enrollment::Image*> images;
  for (const auto& n : names) images.push_back(&enr.get(n));  // unknown names: exit 2 before anything runs

  registry::Options ro;
  ro.retries = options.retries;
  ro.retry_delay = options.retry_delay;
  registry::Client own(*context.runner, ro);
  Context ctx = context;
  if (ctx.registry == nullptr) ctx.registry = &own;

  if (options.if_changed && !options.dry_run) {
    auto layout = enrollment::layout_for(context.state_dir);
    std::vector<std::string> queries;
    for (const auto* img : images) expected_queries(*img, layout, options, queries);
    std::sort(queries.begin(), queries.end());
    queries.erase(std::unique(queries.begin(), queries.end()), queries.end());
    spdlog::info("--if-changed: asking {} registry question(s) for {} images", queries.size(), images.size());
    ctx.registry->resolve_all(queries);  // answers are kept; failures are met again (and logged) per image
  }

  int rc = 0;
  std::vector<std::string> failed;
  for (const auto& name : names) {
    Options one = options;
    one.image = name;
    one.more_images.clear();
    try {
      int r = run(one, ctx);
      if (r != 0 && rc == 0) rc = r;
    } catch (const Error& e) {
      if (e.code() == Exit::sigint || e.code() == Exit::sigterm) throw;
      spdlog::error("build of {} failed: {}", name, e.formatted());
      failed.push_back(name);
      if (rc == 0) rc = e.exit_code();
    }
  }
  if (!failed.empty()) {
    std::string list;
    for (const auto& f : failed) list += (list.empty() ? "" : ", ") + f;
    spdlog::error("{} of {} images failed: {}", failed.size(), names.size(), list);
  }
  return rc;
}

}  // namespace imgf::builder
