// The analyze engine over local sources: state files created, idempotence, failures keeping
// previous base images, --image, --dry-run, base-image naming, the lock.
#include "imgfactory/analyze.hpp"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "imgfactory/error.hpp"
#include "testutil.hpp"

using namespace imgf::analyze;
namespace fs = std::filesystem;

namespace {

// TEMPORARY (until the Dockerfile model of branch `parser` is merged): a tiny FROM-line
// scanner, in this test file only. Replaced by dockerfile_discoverer() after the merge.
class FromScanner final : public Discoverer {
 public:
  std::vector<imgf::state::BaseRef> discover(std::string_view content, const std::string& label) override {
    std::map<std::string, std::string> args;
    std::set<std::string> stages, seen;
    std::vector<imgf::state::BaseRef> out;
    std::istringstream in{std::string(content)};
    std::string line;
    int n = 0;
    auto expand = [&](std::string s) {
      for (const auto& [k, v] : args) {
        for (std::string pat : {"${" + k + "}", "$" + k}) {
          for (std::size_t p; (p = s.find(pat)) != std::string::npos;) s.replace(p, pat.size(), v);
        }
      }
      return s;
    };
    auto add = [&](const std::string& ref) {
      if (ref == "scratch" || stages.contains(ref)) return;
      auto r = parse(ref);
      if (!r) throw imgf::input_error("invalid reference " + ref, label, n);
      if (seen.insert(r->canonical).second) out.push_back(*r);
    };
    while (std::getline(in, line)) {
      ++n;
      std::istringstream w(line);
      std::vector<std::string> words;
      for (std::string x; w >> x;) words.push_back(x);
      if (words.empty()) continue;
      if (words[0] == "ARG" && words.size() > 1) {
        auto eq = words[1].find('=');
        if (eq != std::string::npos) args[words[1].substr(0, eq)] = words[1].substr(eq + 1);
      } else if (words[0] == "FROM") {
        std::size_t i = 1;
        while (i < words.size() && words[i].rfind("--", 0) == 0) ++i;
        if (i >= words.size()) throw imgf::input_error("FROM requires an image", label, n);
        add(expand(words[i]));
        if (i + 2 < words.size()) stages.insert(words[i + 2]);
      } else if (words[0] == "COPY") {
        for (const auto& x : words)
          if (x.rfind("--from=", 0) == 0) add(expand(x.substr(7)));
      }
    }
    return out;
  }
  std::optional<imgf::state::BaseRef> parse(std::string_view text) override {
    std::string s(text);
    if (s.empty() || s.find(' ') != std::string::npos) return std::nullopt;
    imgf::state::BaseRef r;
    r.ref = s;
    std::string rest = s;
    if (auto at = rest.find('@'); at != std::string::npos) {
      r.digest = rest.substr(at + 1);
      rest = rest.substr(0, at);
    }
    auto slash = rest.find('/');
    std::string first = rest.substr(0, slash);
    if (slash != std::string::npos && (first.find('.') != std::string::npos || first.find(':') != std::string::npos)) {
      r.registry = first;
      rest = rest.substr(slash + 1);
    } else {
      r.registry = "docker.io";
    }
    auto colon = rest.rfind(':');
    if (colon != std::string::npos) {
      r.tag = rest.substr(colon + 1);
      rest = rest.substr(0, colon);
    } else if (r.digest.empty()) {
      r.tag = "latest";
    }
    r.repository = (r.registry == "docker.io" && rest.find('/') == std::string::npos) ? "library/" + rest : rest;
    r.canonical = r.registry + "/" + r.repository + (r.tag.empty() ? "" : ":" + r.tag) +
                  (r.digest.empty() ? "" : "@" + r.digest);
    r.name = s;
    for (auto& c : r.name)
      if (c == ':' || c == '/') c = '-';
    return r;
  }
};

std::unique_ptr<Discoverer> discoverer() { return std::make_unique<FromScanner>(); }

Options options_for(const fs::path& dir, const char* now = "2026-02-01T10:00:00Z") {
  Options o;
  o.state_dir = dir;
  o.clock = [now] { return std::string(now); };
  return o;
}

const FileChange* change(const Report& r, const std::string& path) {
  for (const auto& f : r.files)
    if (f.path == path) return &f;
  return nullptr;
}

// A state repository in the original's layout (state/images, state/base-images) with three
// images built from local directories and one external image.
void make_repo(const imgf::test::TempDir& tmp) {
  tmp.write("images.yaml", R"(- name: api
  registry: ghcr.io
  repository: team/api
  local:
    dir: apps/api
- name: worker
  registry: ghcr.io
  repository: team/worker
  local:
    dir: apps/worker
- name: web
  registry: ghcr.io
  repository: team/web
  rebuildDelay: 1d
  local:
    dir: apps/web
    dockerfile: Containerfile
- name: node
  repository: node
  allowTags: ^22-bookworm-slim$
)");
  tmp.write("apps/api/Dockerfile", "ARG PY=3.12\nFROM python:${PY}-slim AS build\nFROM build\n");
  tmp.write("apps/worker/Dockerfile", "FROM ghcr.io/team/api:1.0\nFROM gcr.io/distroless/python3-debian12:latest\n");
  tmp.write("apps/web/Containerfile", "FROM node:22-bookworm-slim\nCOPY --from=alpine:3.19 /etc/os-release /\n");
  fs::create_directories(tmp.path() / "state/images");
  // The original's name for the distroless file dropped the registry; it must be kept.
  tmp.write("state/base-images/distroless-python3-debian12-latest.yaml",
            "# Auto-generated by Image Factory\nname: distroless-python3-debian12-latest\n"
            "fullImage: gcr.io/distroless/python3-debian12:latest\ncurrentDigest: sha256:1234\n");
}

}  // namespace

TEST(Analyze, WritesStateFilesAndIsIdempotent) {
  imgf::test::TempDir tmp;
  make_repo(tmp);
  auto d = discoverer();
  Report r = run(options_for(tmp.path()), *d);
  EXPECT_EQ(r.exit_code(), 0) << (r.errors.empty() ? "" : r.errors[0]);
  ASSERT_EQ(r.images.size(), 4u);
  EXPECT_EQ(r.images[0].base_images, (std::vector<std::string>{"python-3.12-slim"}));
  EXPECT_EQ(r.images[1].base_images,
            (std::vector<std::string>{"ghcr.io-team-api-1.0", "distroless-python3-debian12-latest"}));
  EXPECT_EQ(r.images[2].base_images, (std::vector<std::string>{"node-22-bookworm-slim", "alpine-3.19"}));
  EXPECT_EQ(r.images[3].status, imgf::state::Discovery::external);

  EXPECT_EQ(change(r, "state/images/api.yaml")->action, Action::created);
  EXPECT_EQ(change(r, "state/base-images/python-3.12-slim.yaml")->action, Action::created);
  EXPECT_EQ(change(r, "state/base-images/distroless-python3-debian12-latest.yaml")->action, Action::updated);
  EXPECT_FALSE(fs::exists(tmp.path() / "state/base-images/gcr.io-distroless-python3-debian12-latest.yaml"));
  std::string distroless =
      imgf::test::read_file(tmp.path() / "state/base-images/distroless-python3-debian12-latest.yaml");
  EXPECT_NE(distroless.find("currentDigest: sha256:1234\n"), std::string::npos);  // runtime field kept
  std::string worker = imgf::test::read_file(tmp.path() / "state/images/worker.yaml");
  EXPECT_NE(worker.find("baseImages:\n  - distroless-python3-debian12-latest\n  - ghcr.io-team-api-1.0\n"),
            std::string::npos)
      << worker;
  std::string node = imgf::test::read_file(tmp.path() / "state/images/node.yaml");
  EXPECT_NE(node.find("repoURL: docker.io/library/node\n"), std::string::npos);

  // The graph: worker depends on api (it is built FROM api's repository).
  EXPECT_EQ(r.graph.depends_on.at("worker"), (std::vector<std::string>{"api"}));
  auto pos = [&](const std::string& n) { return std::find(r.graph.order.begin(), r.graph.order.end(), n); };
  EXPECT_LT(pos("api"), pos("worker"));

  // A second run, later: nothing is rewritten, mtimes are kept.
  auto mtime = fs::last_write_time(tmp.path() / "state/images/api.yaml");
  Report again = run(options_for(tmp.path(), "2026-03-01T00:00:00Z"), *d);
  EXPECT_EQ(again.exit_code(), 0);
  for (const auto& f : again.files) EXPECT_EQ(f.action, Action::unchanged) << f.path;
  EXPECT_EQ(fs::last_write_time(tmp.path() / "state/images/api.yaml"), mtime);
  EXPECT_EQ(again.files.size(), r.files.size());
}

TEST(Analyze, AChangedFromLineUpdatesTheImageAndAddsTheBase) {
  imgf::test::TempDir tmp;
  make_repo(tmp);
  auto d = discoverer();
  run(options_for(tmp.path()), *d);
  tmp.write("apps/api/Dockerfile", "FROM python:3.13-slim\n");
  Report r = run(options_for(tmp.path(), "2026-03-01T00:00:00Z"), *d);
  EXPECT_EQ(change(r, "state/images/api.yaml")->action, Action::updated);
  EXPECT_EQ(change(r, "state/base-images/python-3.13-slim.yaml")->action, Action::created);
  EXPECT_EQ(change(r, "state/images/web.yaml")->action, Action::unchanged);
  std::string api = imgf::test::read_file(tmp.path() / "state/images/api.yaml");
  EXPECT_NE(api.find("lastDiscovery: '2026-03-01T00:00:00Z'\n"), std::string::npos);
  EXPECT_NE(api.find("enrolledAt: '2026-02-01T10:00:00Z'\n"), std::string::npos);
  EXPECT_NE(api.find("  - python-3.13-slim\n"), std::string::npos);
  // The old base image's file stays (other state, or Kargo, may refer to it).
  EXPECT_TRUE(fs::exists(tmp.path() / "state/base-images/python-3.12-slim.yaml"));
}

TEST(Analyze, AFailingSourceKeepsItsBaseImagesAndTheRunGoesOn) {
  imgf::test::TempDir tmp;
  make_repo(tmp);
  auto d = discoverer();
  run(options_for(tmp.path()), *d);
  fs::remove(tmp.path() / "apps/api/Dockerfile");
  tmp.write("apps/web/Containerfile", "FROM node:24\n");
  Report r = run(options_for(tmp.path(), "2026-03-01T00:00:00Z"), *d);
  EXPECT_EQ(r.exit_code(), 1);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("image 'api'"), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[0].find("apps/api"), std::string::npos) << r.errors[0];
  EXPECT_EQ(r.images[0].status, imgf::state::Discovery::failed);
  EXPECT_EQ(r.images[0].base_images, (std::vector<std::string>{"python-3.12-slim"}));
  std::string api = imgf::test::read_file(tmp.path() / "state/images/api.yaml");
  EXPECT_NE(api.find("discoveryStatus: failed\n"), std::string::npos);
  EXPECT_NE(api.find("baseImages:\n  - python-3.12-slim\n"), std::string::npos);
  // The other images were analysed.
  EXPECT_EQ(change(r, "state/images/web.yaml")->action, Action::updated);
  // A Dockerfile that does not parse is a failure of that image too.
  tmp.write("apps/api/Dockerfile", "FROM\n");
  Report bad = run(options_for(tmp.path()), *d);
  EXPECT_EQ(bad.exit_code(), 1);
  EXPECT_EQ(bad.images[0].status, imgf::state::Discovery::failed);
  EXPECT_NE(bad.images[0].error.find("apps/api/Dockerfile"), std::string::npos) << bad.images[0].error;
}

TEST(Analyze, SelectedImagesOnly) {
  imgf::test::TempDir tmp;
  make_repo(tmp);
  auto d = discoverer();
  Options o = options_for(tmp.path());
  o.only = {"web"};
  Report r = run(o, *d);
  ASSERT_EQ(r.images.size(), 1u);
  EXPECT_TRUE(fs::exists(tmp.path() / "state/images/web.yaml"));
  EXPECT_FALSE(fs::exists(tmp.path() / "state/images/api.yaml"));
  EXPECT_FALSE(fs::exists(tmp.path() / "state/base-images/python-3.12-slim.yaml"));
  o.only = {"nope"};
  try {
    run(o, *d);
    FAIL() << "accepted an unknown image";
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("api, worker, web, node"), std::string::npos) << e.what();
  }
}

TEST(Analyze, DryRunWritesNothing) {
  imgf::test::TempDir tmp;
  make_repo(tmp);
  auto d = discoverer();
  Options o = options_for(tmp.path());
  o.dry_run = true;
  Report r = run(o, *d);
  EXPECT_TRUE(r.dry_run);
  EXPECT_EQ(change(r, "state/images/api.yaml")->action, Action::created);
  EXPECT_FALSE(fs::exists(tmp.path() / "state/images/api.yaml"));
  EXPECT_FALSE(fs::exists(tmp.path() / ".imgfactory.lock"));
  EXPECT_NE(to_text(r).find("would create  state/images/api.yaml\n"), std::string::npos) << to_text(r);
  auto j = nlohmann::json::parse(to_json(r));
  EXPECT_EQ(j["dryRun"], true);
  EXPECT_EQ(j["summary"]["created"], r.files.size() - 1);
  EXPECT_EQ(j["summary"]["updated"], 1);  // the existing distroless file would gain the canonical keys
}

TEST(Analyze, InvalidImagesYamlFailsBeforeAnythingIsWritten) {
  imgf::test::TempDir tmp;
  make_repo(tmp);
  tmp.write("images.yaml", "- name: api\n  repository: team/api\n  rebuildDelay: soon\n  local:\n    dir: apps/api\n");
  auto d = discoverer();
  try {
    run(options_for(tmp.path()), *d);
    FAIL() << "accepted";
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(e.line(), 3);
  }
  EXPECT_FALSE(fs::exists(tmp.path() / "state/images/api.yaml"));
}

TEST(Analyze, LocalDirOutsideTheStateRepositoryIsRefused) {
  imgf::test::TempDir tmp;
  tmp.write("outside/Dockerfile", "FROM alpine\n");
  tmp.write("repo/images.yaml", "- name: x\n  repository: team/x\n  local:\n    dir: link\n");
  fs::create_symlink(tmp.path() / "outside", tmp.path() / "repo/link");
  auto d = discoverer();
  Report r = run(options_for(tmp.path() / "repo"), *d);
  EXPECT_EQ(r.exit_code(), 1);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("leads out of"), std::string::npos) << r.errors[0];
}

TEST(Analyze, JsonReportAndGraph) {
  imgf::test::TempDir tmp;
  make_repo(tmp);
  auto d = discoverer();
  Report r = run(options_for(tmp.path()), *d);
  auto j = nlohmann::json::parse(to_json(r));
  EXPECT_EQ(j["images"][0]["name"], "api");
  EXPECT_EQ(j["images"][0]["status"], "success");
  EXPECT_EQ(j["images"][0]["origin"], "local dir apps/api");
  EXPECT_EQ(j["summary"]["images"], 4);
  EXPECT_EQ(j["summary"]["failed"], 0);
  bool found = false;
  for (const auto& f : j["files"])
    if (f["path"] == "state/base-images/alpine-3.19.yaml") {
      found = true;
      EXPECT_EQ(f["kind"], "base-image");
      EXPECT_EQ(f["action"], "created");
    }
  EXPECT_TRUE(found);
  auto g = nlohmann::json::parse(imgf::graph::to_json(r.graph));
  for (const auto& b : g["baseImages"])
    if (b["name"] == "ghcr.io-team-api-1.0") {
      EXPECT_EQ(b["producedBy"], "api");
    }
}

TEST(Analyze, ConcurrentRunsNeverCorruptAFile) {
  imgf::test::TempDir tmp;
  std::string yaml;
  for (int i = 0; i < 60; ++i) {
    std::string n = "img" + std::to_string(i);
    yaml += "- name: " + n + "\n  repository: team/" + n + "\n  local:\n    dir: apps/" + n + "\n";
    tmp.write("apps/" + n + "/Dockerfile", "FROM alpine:3." + std::to_string(i % 7) + "\n");
  }
  tmp.write("images.yaml", yaml);
  auto d1 = discoverer();
  auto d2 = discoverer();
  Report r1, r2;
  std::thread a([&] { r1 = run(options_for(tmp.path()), *d1); });
  std::thread b([&] { r2 = run(options_for(tmp.path()), *d2); });
  a.join();
  b.join();
  EXPECT_EQ(r1.exit_code(), 0);
  EXPECT_EQ(r2.exit_code(), 0);
  // Whichever ran second found everything written: every file unchanged for it.
  int unchanged1 = 0, unchanged2 = 0;
  for (const auto& f : r1.files) unchanged1 += f.action == Action::unchanged;
  for (const auto& f : r2.files) unchanged2 += f.action == Action::unchanged;
  EXPECT_EQ(std::max(unchanged1, unchanged2), static_cast<int>(r1.files.size()));
  for (const auto& entry : fs::directory_iterator(tmp.path() / "images")) {
    auto doc = imgf::state::Document::parse(imgf::test::read_file(entry.path()), entry.path().string());
    EXPECT_EQ(doc.sequence("baseImages").size(), 1u) << entry.path();
  }
}
