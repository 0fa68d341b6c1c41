// `imgfactory analyze --digests`, the edge: which base images to ask about, the registry
// queries (in parallel, with build's retries and timeouts), and the state writes under the
// state lock. A base image whose registry cannot tell is named and its file left as it was.
#include <spdlog/spdlog.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "imgfactory/base_digests.hpp"
#include "imgfactory/enrollment.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/state_fields.hpp"

namespace imgf::analyze {
namespace fs = std::filesystem;
namespace {

std::string short_digest(const std::string& d) { return d.size() > 19 ? d.substr(0, 19) + "…" : d; }

// The base-image state names to check: those of the analysed images with --image, else every
// base-image state file (sample *.example.yaml files are not state files).
std::vector<std::string> bases_to_check(const Options& options, const Report& report,
                                        const enrollment::Layout& layout) {
  std::set<std::string> names;
  if (!options.only.empty()) {
    for (const auto& img : report.images) names.insert(img.base_images.begin(), img.base_images.end());
  } else {
    std::error_code ec;
    if (fs::is_directory(layout.base_images_dir, ec))
      for (const auto& e : fs::directory_iterator(layout.base_images_dir, ec)) {
        std::string f = e.path().filename().string();
        if (e.path().extension() != ".yaml" || f.front() == '.' || f.ends_with(".example.yaml")) continue;
        names.insert(e.path().stem().string());
      }
  }
  return {names.begin(), names.end()};
}

}  // namespace

DigestReport check_digests(const Options& options, const Report& report, proc::Runner& runner,
                           const DigestOptions& d) {
  DigestReport out;
  const auto layout = enrollment::layout_for(options.state_dir);
  const fs::path images_file = options.images_file.empty() ? options.state_dir / "images.yaml" : options.images_file;
  const auto enrolled = enrollment::load(images_file);
  auto rel = [&](const fs::path& p) {
    fs::path r = p.lexically_relative(options.state_dir);
    return r.empty() ? p.string() : r.string();
  };

  // The reference each file tracks.
  struct Item {
    std::string name;
    fs::path path;
    std::string query;
  };
  std::vector<Item> items;
  for (const auto& name : bases_to_check(options, report, layout)) {
    fs::path path = layout.base_image_state(name);
    std::error_code ec;
    if (!fs::exists(path, ec)) continue;  // a failed image's stale reference: nothing to record into
    std::optional<std::string> full;
    try {
      full = state::Document::parse(fsutil::read_file(path), path.string(), false).scalar("fullImage");
    } catch (const Error& e) {
      std::string msg = "base image '" + name + "': " + e.formatted();
      out.errors.push_back(msg);
      out.entries.push_back(DigestEntry{name, "", "", "", false, "", false, e.message()});
      continue;
    }
    std::string why;
    auto ref = full ? reference::try_parse(*full, &why) : std::nullopt;
    if (!ref) {
      spdlog::warn("{}: fullImage '{}' is not a reference a registry can be asked about ({}); not checked", rel(path),
                   full.value_or(""), full ? why : "no fullImage");
      continue;
    }
    items.push_back(Item{name, path, registry::query_reference(*ref)});
  }

  std::vector<std::string> queries;
  for (const auto& i : items) queries.push_back(i.query);
  registry::Client client(runner, d.registry);
  spdlog::info("asking {} registr{} for {} base image digest(s)", queries.size(), queries.size() == 1 ? "y" : "ies",
               items.size());
  std::vector<registry::Outcome> answers = client.resolve_all(queries);
  out.queries = client.queries();

  const std::string now = d.clock ? d.clock() : state::utc_now_iso8601();
  std::map<std::string, std::chrono::seconds> delay_of;
  for (const auto& img : enrolled.images) delay_of[img.name] = img.rebuild_delay_seconds;

  std::optional<fsutil::FileLock> lock;
  if (!d.dry_run) lock.emplace(layout.lock_file);
  for (std::size_t i = 0; i < items.size(); ++i) {
    proc::throw_if_interrupted();
    const Item& item = items[i];
    DigestEntry e;
    e.name = item.name;
    e.reference = item.query;
    const registry::Outcome& a = answers[i];
    if (!a.resolved) {
      e.error = a.error;
      std::string msg = "base image '" + item.name + "' (" + rel(item.path) + "): " + a.error + "; file left as it was";
      spdlog::error("{}", msg);
      out.errors.push_back(msg);
      out.entries.push_back(std::move(e));
      continue;
    }
    e.digest = a.resolved->digest;
    state::DigestObservation obs;
    obs.digest = e.digest;
    obs.now = now;
    if (auto it = report.graph.dependents.find(item.name); it != report.graph.dependents.end())
      for (const auto& img : it->second)
        if (auto dl = delay_of.find(img); dl != delay_of.end()) obs.dependents.emplace_back(img, dl->second);
    try {
      auto doc = state::Document::parse(fsutil::read_file(item.path), item.path.string(), true);
      state::DigestRecord r = state::record_digest(doc, obs);
      e.previous = r.previous;
      e.changed = r.changed;
      e.rebuild_eligible_at = r.rebuild_eligible_at;
      e.written = r.text != doc.text();
      if (e.written && !d.dry_run) fsutil::atomic_write(item.path, r.text);
      if (r.changed)
        spdlog::info("{}: {} changed {} -> {}{}", rel(item.path), item.query, short_digest(r.previous),
                     short_digest(e.digest),
                     r.rebuild_eligible_at.empty() ? "" : "; rebuild eligible at " + r.rebuild_eligible_at);
    } catch (const Error& err) {
      if (err.code() == Exit::sigint || err.code() == Exit::sigterm) throw;
      e.error = err.message();
      std::string msg = "base image '" + item.name + "': " + err.formatted();
      spdlog::error("{}", msg);
      out.errors.push_back(msg);
    }
    out.entries.push_back(std::move(e));
  }
  return out;
}

std::string digests_to_text(const DigestReport& report) {
  std::string out;
  std::size_t changed = 0, failed = 0;
  for (const auto& e : report.entries) {
    if (!e.error.empty()) {
      ++failed;
      out += "failed        base-images/" + e.name + ".yaml: " + e.error + "\n";
      continue;
    }
    std::string what = e.changed ? "changed from " + short_digest(e.previous)
                       : e.previous.empty() ? std::string("first recorded")
                                            : std::string("unchanged");
    if (e.changed) ++changed;
    out += "digest        base-images/" + e.name + ".yaml " + short_digest(e.digest) + " (" + what +
           (e.rebuild_eligible_at.empty() ? "" : "; rebuild eligible at " + e.rebuild_eligible_at) + ")\n";
  }
  out += "checked " + std::to_string(report.entries.size()) + " base image digest" +
         (report.entries.size() == 1 ? "" : "s") + ": " + std::to_string(changed) + " changed, " +
         std::to_string(failed) + " failed\n";
  return out;
}

std::string digests_to_json(const DigestReport& report) {
  using J = nlohmann::ordered_json;
  J arr = J::array();
  auto opt = [](const std::string& s) { return s.empty() ? J(nullptr) : J(s); };
  for (const auto& e : report.entries)
    arr.push_back(J{{"name", e.name},
                    {"reference", opt(e.reference)},
                    {"digest", opt(e.digest)},
                    {"previousDigest", opt(e.previous)},
                    {"changed", e.changed},
                    {"rebuildEligibleAt", opt(e.rebuild_eligible_at)},
                    {"written", e.written},
                    {"error", opt(e.error)}});
  return arr.dump();
}

}  // namespace imgf::analyze
