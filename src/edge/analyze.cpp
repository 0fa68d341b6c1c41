#include "imgfactory/analyze.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "imgfactory/enrollment.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/process.hpp"
#include "imgfactory/source.hpp"
#include "imgfactory/state_fields.hpp"
#include "patch.hpp"

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

// The Dockerfile as `build` builds it: in the modes that apply local.patchFiles (upstream: at
// the source's root; local dir: at local.dir's), each patch applied in order with `git apply
// --include=<the Dockerfile's path>` to a scratch copy of the Dockerfile alone, so a patch that
// changes a FROM line is seen and its other files are skipped; the source tree (the cache's
// working tree) is not touched. The original's local.dockerfile mode applies no patches. A
// patch that is missing or does not apply fails this image's discovery, naming the patch.
std::string dockerfile_as_built(const enrollment::Image& img, const source::Checkout& co, const fs::path& state_root,
                                const fs::path& images_file) {
  const std::string content = fsutil::read_file(co.dockerfile);
  if (!img.local || img.local->patch_files.empty() ||
      enrollment::build_mode(img) == enrollment::BuildMode::local_dockerfile)
    return content;
  const auto& l = *img.local;
  const std::string rel = co.dockerfile.lexically_relative(co.dir).generic_string();
  if (rel.empty() || rel.starts_with("..")) return content;
  std::error_code ec;
  const fsutil::TempDir scratch("imgfactory-analyze-patch-");
  const fs::path root = scratch.path() / "src";
  fs::create_directories((root / rel).parent_path());
  {
    std::ofstream out(root / rel, std::ios::binary);  // scratch, not state: not journaled
    out << content;
    if (!out) throw failure("cannot write a scratch copy of " + rel, (root / rel).string());
  }
  proc::SystemRunner runner;
  for (const auto& name : l.patch_files) {
    const fs::path p = source::inside(state_root, l.patch_path(name), "local.patchFiles");
    if (!fs::is_regular_file(p, ec))
      throw input_error("patch file '" + name + "' of image '" + img.name + "' does not exist (" + p.string() + ")",
                        images_file.string(), l.line);
    patch::apply(runner, root, scratch.path(), p, {name, rel + " of " + co.origin, images_file.string(), l.line}, rel,
                 std::chrono::seconds(60));
  }
  return fsutil::read_file(root / rel);
}

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
      auto doc = state::Document::parse(fsutil::read_file(p), p.string(), false);
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

// The state files of one run, written atomically as a batch: each new content goes to a
// temporary file beside its target; commit() makes them durable with one syncfs() (instead
// of an fsync per file, which dominated a first run over thousands of images), renames them
// over their targets and fsyncs each directory once. Nothing is renamed before all data is
// on disk; temporary files of an interrupted or failed run are removed.
class Batch {
 public:
  Batch() = default;
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
  ~Batch() {
    for (const auto& p : pending_) ::unlink(p.tmp.c_str());
  }

  void stage(const fs::path& target, std::string_view content) {
    fs::path dir = target.parent_path();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw failure("cannot create directory: " + ec.message(), dir.string());
    std::string tmpl = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = ::mkstemp(buf.data());
    if (fd < 0) throw failure(std::string("cannot create a temporary file: ") + std::strerror(errno), target.string());
    pending_.push_back({target, std::string(buf.data())});
    struct stat st {};
    ::fchmod(fd, ::stat(target.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644);
    const char* p = content.data();
    std::size_t left = content.size();
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        std::string why = std::strerror(errno);
        ::close(fd);
        throw failure("cannot write: " + why, target.string());
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) throw failure(std::string("cannot write: ") + std::strerror(errno), target.string());
  }

  void commit() {
    if (pending_.empty()) return;
    proc::throw_if_interrupted();
    int fd = ::open(pending_.front().target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::syncfs(fd) != 0) {
      std::string why = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      throw failure("cannot flush the state files to disk: " + why, pending_.front().target.parent_path().string());
    }
    ::close(fd);
    std::set<fs::path> dirs;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (::rename(it->tmp.c_str(), it->target.c_str()) != 0)
        throw failure(std::string("cannot replace file: ") + std::strerror(errno), it->target.string());
      fsutil::journal::record(it->target);  // for --git-commit, as atomic_write does
      dirs.insert(it->target.parent_path());
      it = pending_.erase(it);
    }
    for (const auto& d : dirs) {
      int dfd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
      }
    }
  }

 private:
  struct Pending {
    fs::path target;
    std::string tmp;
  };
  std::list<Pending> pending_;
};

// Temporary files a crashed run left beside the state files.
void remove_stale_temporaries(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string n = entry.path().filename().string();
    if (n.size() > 1 && n.front() == '.' && n.find(".yaml.tmp-") != std::string::npos) fs::remove(entry.path(), ec);
  }
}

std::string rel(const fs::path& p, const fs::path& root) {
  fs::path r = p.lexically_relative(root);
  return r.empty() ? p.string() : r.string();
}

}  // namespace

Report run(const Options& options, Discoverer& discoverer) {
  Report report;
  report.dry_run = options.dry_run;
  const fs::path images_file = options.images_file.empty() ? options.state_dir / "images.yaml" : options.images_file;
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  auto lap = [&t0](const char* what, std::size_t n) {
    auto t1 = Clock::now();
    spdlog::debug("{}: {} in {} ms", what, n, std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count());
    t0 = t1;
  };
  const enrollment::Enrollment enrolled = enrollment::load(images_file);
  lap("enrollment loaded", enrolled.images.size());
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
  std::error_code root_ec;
  const fs::path state_root = fs::weakly_canonical(options.state_dir, root_ec);
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
      std::string label = img->local ? rel(co.dockerfile, state_root)
                                     : img->source->repo + "@" + img->source->branch + ":" + img->source->dockerfile;
      d.refs = discoverer.discover(dockerfile_as_built(*img, co, state_root, images_file), label, img->platforms);
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

  lap("sources and Dockerfiles analysed", found.size());

  // Phase 2: merge with the state files and write them, under the state lock.
  std::optional<fsutil::FileLock> lock;
  if (!options.dry_run) lock.emplace(layout.lock_file);
  BaseIndex index = index_base_images(layout.base_images_dir, discoverer);
  lap("base-image files indexed", index.by_name.size());

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

  Batch batch;
  if (!options.dry_run) {
    remove_stale_temporaries(layout.images_dir);
    remove_stale_temporaries(layout.base_images_dir);
  }
  auto write = [&](const std::string& kind, const std::string& name, const fs::path& path, const std::string& text,
                   const std::optional<state::Document>& existing) {
    FileChange ch;
    ch.kind = kind;
    ch.name = name;
    ch.path = rel(path, options.state_dir);
    const bool changed = !existing || existing->text() != text;
    if (changed && existing) existing->validate();  // never overwrite a file we cannot read
    if (changed && !options.dry_run) batch.stage(path, text);
    ch.action = !changed ? Action::unchanged : existing ? Action::updated : Action::created;
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
      if (fs::exists(path, ec)) existing = state::Document::parse(fsutil::read_file(path), path.string(), false);
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
      write("image", img.name, path, text, existing);
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
      if (fs::exists(path, ec)) existing = state::Document::parse(fsutil::read_file(path), path.string(), false);
      write("base-image", rec.name, path,
            state::render_base_image(rec.name, rec.ref, rec.full_image, existing ? &*existing : nullptr, now),
            existing);
    } catch (const Error& e) {
      if (e.code() == Exit::sigint || e.code() == Exit::sigterm) throw;
      std::string msg = "base image '" + rec.name + "': " + e.formatted();
      spdlog::error("{}", msg);
      report.errors.push_back(msg);
    }
  }
  lap("state files rendered", report.files.size());
  batch.commit();
  lock.reset();
  lap("state files written", report.files.size());

  // The graph of the whole enrollment: images not analysed this run contribute the base
  // images their state files record.
  std::vector<graph::BaseNode> gbases;
  for (const auto& [canonical, rec] : bases)
    gbases.push_back({rec.name, rec.full_image, rec.ref.registry + "/" + rec.ref.repository, rec.ref.canonical});
  for (const auto& [name, f] : index.by_name)
    if (f.ref && !bases.contains(f.ref->canonical))
      gbases.push_back({name, f.full_image, f.ref->registry + "/" + f.ref->repository, f.ref->canonical});
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
          n.base_images = state::Document::parse(fsutil::read_file(p), p.string(), false).sequence("baseImages");
        } catch (const Error& e) {
          spdlog::warn("{}", e.formatted());
        }
      }
    }
    gimages.push_back(std::move(n));
  }
  report.graph = graph::build(std::move(gbases), std::move(gimages));
  lap("graph built", report.graph.images.size());
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
