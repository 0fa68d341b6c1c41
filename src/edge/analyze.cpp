#include "imgfactory/analyze.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "imgfactory/enrollment.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/process.hpp"
#include "imgfactory/source.hpp"
#include "imgfactory/state_fields.hpp"

namespace imgf::analyze {
namespace fs = std::filesystem;

std::string_view to_string(Action a) {
  switch (a) {
    case Action::created: return "created";
    case Action::updated: return "updated";
    case Action::unchanged: return "unchanged";
  }
  return "unchanged";
}

namespace {

struct Discovered {
  const enrollment::Image* image = nullptr;
  ImageOutcome outcome;
  std::vector<state::BaseRef> refs;  // on success
};

// An existing base-images file.
struct BaseFile {
  std::string name;  // file stem
  std::string full_image;
  std::optional<state::BaseRef> ref;
};

// The state files of the base-images directory, by canonical reference. Sample files
// (*.example.yaml, as the original's repository has) are not state files.
struct BaseIndex {
  std::map<std::string, BaseFile> by_name;
  std::map<std::string, std::string> name_by_canonical;
};

BaseIndex index_base_images(const fs::path& dir, Discoverer& discoverer) {
  BaseIndex index;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return index;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const fs::path& p = entry.path();
    std::string fname = p.filename().string();
    if (p.extension() != ".yaml" || fname.front() == '.' || fname.ends_with(".example.yaml")) continue;
    files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    BaseFile f;
    f.name = p.stem().string();
    std::optional<std::string> name_field;
    try {
      auto doc = state::Document::parse(fsutil::read_file(p), p.string());
      if (auto fi = doc.scalar("fullImage")) f.full_image = *fi;
      name_field = doc.scalar("name");
    } catch (const Error& e) {
      spdlog::warn("{}", e.formatted());
    }
    if (!f.full_image.empty()) f.ref = discoverer.parse(f.full_image);
    if (f.ref) {
      auto [it, inserted] = index.name_by_canonical.emplace(f.ref->canonical, f.name);
      // Two files for one reference: the one whose name: matches its file name wins.
      if (!inserted && name_field && *name_field == f.name && it->second != f.name) {
        spdlog::warn("{} and {} both track {}; using {}", it->second, f.name, f.ref->canonical, f.name);
        it->second = f.name;
      } else if (!inserted) {
        spdlog::warn("{} and {} both track {}; using {}", it->second, f.name, f.ref->canonical, it->second);
      }
    }
    index.by_name.emplace(f.name, std::move(f));
  }
  return index;
}

std::string default_clock() { return state::utc_now_iso8601(); }

std::string rel(const fs::path& p, const fs::path& root) {
  fs::path r = p.lexically_relative(root);
  return r.empty() ? p.string() : r.string();
}

}  // namespace

Report run(const Options& options, Discoverer& discoverer) {
  Report report;
  report.dry_run = options.dry_run;
  const fs::path images_file = options.images_file.empty() ? options.state_dir / "images.yaml" : options.images_file;
  const enrollment::Enrollment enrolled = enrollment::load(images_file);
  std::vector<const enrollment::Image*> selected;
  if (options.only.empty()) {
    for (const auto& i : enrolled.images) selected.push_back(&i);
  } else {
    std::set<std::string> seen;
    for (const auto& name : options.only)
      if (seen.insert(name).second) selected.push_back(&enrolled.get(name));
  }
  const enrollment::Layout layout = enrollment::layout_for(options.state_dir);
  const std::string now = options.clock ? options.clock() : default_clock();

  // Phase 1: sources and Dockerfiles (no lock held: this is the slow part).
  source::Options sopts;
  sopts.state_dir = options.state_dir;
  sopts.cache_dir = options.cache_dir;
  sopts.offline = options.offline;
  sopts.connect_timeout = options.connect_timeout;
  sopts.io_timeout = options.io_timeout;
  std::unique_ptr<source::Cache> cache;
  std::vector<Discovered> found;
  found.reserve(selected.size());
  for (const enrollment::Image* img : selected) {
    proc::throw_if_interrupted();
    Discovered d;
    d.image = img;
    d.outcome.name = img->name;
    if (!img->managed()) {
      d.outcome.status = state::Discovery::external;
      found.push_back(std::move(d));
      continue;
    }
    try {
      if (!cache) cache = std::make_unique<source::Cache>(sopts);
      source::Checkout co = cache->checkout(*img);
      d.outcome.origin = co.origin;
      d.outcome.revision = co.revision;
      std::string label = img->local ? rel(co.dockerfile, fs::weakly_canonical(options.state_dir))
                                     : img->source->repo + "@" + img->source->branch + ":" + img->source->dockerfile;
      d.refs = discoverer.discover(fsutil::read_file(co.dockerfile), label);
      d.outcome.status = state::Discovery::success;
    } catch (const Error& e) {
      if (e.code() == Exit::sigint || e.code() == Exit::sigterm) throw;
      proc::throw_if_interrupted();
      d.outcome.status = state::Discovery::failed;
      d.outcome.error = e.formatted();
      std::string msg = "image '" + img->name + "': " + e.formatted();
      spdlog::error("{}", msg);
      report.errors.push_back(msg);
    }
    found.push_back(std::move(d));
  }

  // Phase 2: merge with the state files and write them, under the state lock.
  std::optional<fsutil::FileLock> lock;
  if (!options.dry_run) lock.emplace(layout.lock_file);
  BaseIndex index = index_base_images(layout.base_images_dir, discoverer);

  struct BaseRecord {
    std::string name;
    state::BaseRef ref;
    std::string full_image;
  };
  std::map<std::string, BaseRecord> bases;             // by canonical
  std::map<std::string, std::string> taken;            // state name -> canonical
  for (const auto& [name, f] : index.by_name)
    if (f.ref) taken.emplace(name, f.ref->canonical);
  auto name_for = [&](const state::BaseRef& r) -> const BaseRecord& {
    if (auto it = bases.find(r.canonical); it != bases.end()) return it->second;
    BaseRecord rec;
    rec.ref = r;
    if (auto it = index.name_by_canonical.find(r.canonical); it != index.name_by_canonical.end()) {
      rec.name = it->second;
      rec.full_image = index.by_name.at(rec.name).full_image;
    } else {
      rec.name = r.name;
      rec.full_image = r.ref;
      auto t = taken.find(rec.name);
      bool clash = (t != taken.end() && t->second != r.canonical) ||
                   (t == taken.end() && index.by_name.contains(rec.name));
      if (clash) rec.name += "-" + fsutil::sha256_hex(r.canonical).substr(0, 8);
    }
    taken.emplace(rec.name, r.canonical);
    return bases.emplace(r.canonical, std::move(rec)).first->second;
  };

  auto write = [&](const std::string& kind, const std::string& name, const fs::path& path,
                   const std::string& text) {
    FileChange ch;
    ch.kind = kind;
    ch.name = name;
    ch.path = rel(path, options.state_dir);
    std::error_code ec;
    bool exists = fs::exists(path, ec);
    bool changed = true;
    if (options.dry_run) {
      changed = !exists || fsutil::read_file(path) != text;
    } else {
      changed = fsutil::write_if_changed(path, text);
    }
    ch.action = !changed ? Action::unchanged : exists ? Action::updated : Action::created;
    if (ch.action != Action::unchanged) spdlog::debug("{} {}", to_string(ch.action), ch.path.string());
    report.files.push_back(std::move(ch));
  };

  std::vector<std::string> base_order;  // canonicals in order of first use
  std::set<std::string> base_seen;
  for (auto& d : found) {
    const enrollment::Image& img = *d.image;
    const fs::path path = layout.image_state(img.name);
    try {
      std::optional<state::Document> existing;
      std::error_code ec;
      if (fs::exists(path, ec)) existing = state::Document::parse(fsutil::read_file(path), path.string());
      if (d.outcome.status == state::Discovery::success) {
        for (const auto& r : d.refs) {
          const BaseRecord& rec = name_for(r);
          d.outcome.base_images.push_back(rec.name);
          if (base_seen.insert(r.canonical).second) base_order.push_back(r.canonical);
        }
      } else if (d.outcome.status == state::Discovery::failed && existing) {
        d.outcome.base_images = existing->sequence("baseImages");  // keeps its previous base images
      }
      std::string text = state::render_image(img, d.outcome.status, d.outcome.base_images,
                                             existing ? &*existing : nullptr, now);
      write("image", img.name, path, text);
    } catch (const Error& e) {
      if (e.code() == Exit::sigint || e.code() == Exit::sigterm) throw;
      std::string msg = "image '" + img.name + "': " + e.formatted();
      spdlog::error("{}", msg);
      report.errors.push_back(msg);
    }
    report.images.push_back(d.outcome);
  }
  for (const auto& canonical : base_order) {
    const BaseRecord& rec = bases.at(canonical);
    const fs::path path = layout.base_image_state(rec.name);
    try {
      std::optional<state::Document> existing;
      std::error_code ec;
      if (fs::exists(path, ec)) existing = state::Document::parse(fsutil::read_file(path), path.string());
      write("base-image", rec.name, path,
            state::render_base_image(rec.name, rec.ref, rec.full_image, existing ? &*existing : nullptr, now));
    } catch (const Error& e) {
      if (e.code() == Exit::sigint || e.code() == Exit::sigterm) throw;
      std::string msg = "base image '" + rec.name + "': " + e.formatted();
      spdlog::error("{}", msg);
      report.errors.push_back(msg);
    }
  }
  lock.reset();

  // The graph of the whole enrollment: images not analysed this run contribute the base
  // images their state files record.
  std::vector<graph::BaseNode> gbases;
  for (const auto& [canonical, rec] : bases)
    gbases.push_back({rec.name, rec.full_image, rec.ref.registry + "/" + rec.ref.repository});
  for (const auto& [name, f] : index.by_name)
    if (f.ref && !bases.contains(f.ref->canonical))
      gbases.push_back({name, f.full_image, f.ref->registry + "/" + f.ref->repository});
  std::map<std::string, const ImageOutcome*> outcome_by_name;
  for (const auto& o : report.images) outcome_by_name[o.name] = &o;
  std::vector<graph::ImageNode> gimages;
  for (const auto& img : enrolled.images) {
    graph::ImageNode n{img.name, state::repo_url_for(img), {}};
    if (auto it = outcome_by_name.find(img.name); it != outcome_by_name.end()) {
      n.base_images = it->second->base_images;
    } else if (img.managed()) {
      std::error_code ec;
      fs::path p = layout.image_state(img.name);
      if (fs::exists(p, ec)) {
        try {
          n.base_images = state::Document::parse(fsutil::read_file(p), p.string()).sequence("baseImages");
        } catch (const Error& e) {
          spdlog::warn("{}", e.formatted());
        }
      }
    }
    gimages.push_back(std::move(n));
  }
  report.graph = graph::build(std::move(gbases), std::move(gimages));
  if (!report.graph.cyclic.empty()) {
    std::string list;
    for (const auto& c : report.graph.cyclic) list += (list.empty() ? "" : ", ") + c;
    std::string msg = "dependency cycle between enrolled images: " + list;
    spdlog::error("{}", msg);
    report.errors.push_back(msg);
  }
  return report;
}

std::string to_json(const Report& report) {
  using J = nlohmann::ordered_json;
  J out = J::object();
  out["dryRun"] = report.dry_run;
  J images = J::array();
  for (const auto& o : report.images) {
    J i = J::object();
    i["name"] = o.name;
    i["status"] = std::string(state::to_string(o.status));
    i["origin"] = o.origin.empty() ? J(nullptr) : J(o.origin);
    i["revision"] = o.revision.empty() ? J(nullptr) : J(o.revision);
    i["baseImages"] = o.base_images;
    i["error"] = o.error.empty() ? J(nullptr) : J(o.error);
    images.push_back(std::move(i));
  }
  out["images"] = std::move(images);
  J files = J::array();
  std::map<std::string, int> counts{{"created", 0}, {"updated", 0}, {"unchanged", 0}};
  for (const auto& f : report.files) {
    J j = J::object();
    j["path"] = f.path.string();
    j["kind"] = f.kind;
    j["name"] = f.name;
    j["action"] = std::string(to_string(f.action));
    files.push_back(std::move(j));
    ++counts[std::string(to_string(f.action))];
  }
  out["files"] = std::move(files);
  J summary = J::object();
  summary["images"] = report.images.size();
  summary["failed"] = std::count_if(report.images.begin(), report.images.end(),
                                    [](const ImageOutcome& o) { return o.status == state::Discovery::failed; });
  summary["created"] = counts["created"];
  summary["updated"] = counts["updated"];
  summary["unchanged"] = counts["unchanged"];
  out["summary"] = std::move(summary);
  out["errors"] = report.errors;
  return out.dump(2) + "\n";
}

std::string to_text(const Report& report) {
  std::string out;
  std::map<Action, int> counts;
  for (const auto& f : report.files) {
    ++counts[f.action];
    if (f.action == Action::unchanged) continue;
    std::string verb(to_string(f.action));
    if (report.dry_run) verb = "would " + std::string(f.action == Action::created ? "create" : "update");
    out += verb + std::string(verb.size() < 14 ? 14 - verb.size() : 1, ' ') + f.path.string() + "\n";
  }
  std::size_t failed = static_cast<std::size_t>(std::count_if(
      report.images.begin(), report.images.end(),
      [](const ImageOutcome& o) { return o.status == state::Discovery::failed; }));
  out += "analyzed " + std::to_string(report.images.size()) + " image" + (report.images.size() == 1 ? "" : "s");
  if (failed) out += " (" + std::to_string(failed) + " failed)";
  out += ": " + std::to_string(counts[Action::created]) + " created, " + std::to_string(counts[Action::updated]) +
         " updated, " + std::to_string(counts[Action::unchanged]) + " unchanged";
  if (report.dry_run) out += " (dry run: nothing written)";
  out += "\n";
  return out;
}

}  // namespace imgf::analyze
