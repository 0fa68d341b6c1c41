#include "imgfactory/enrollment.hpp"

#include <re2/re2.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "imgfactory/duration.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"

namespace imgf::enrollment {
namespace fs = std::filesystem;

namespace {

int line_of(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& msg, const std::string& hint = {}) const {
    throw input_error(msg, file_, line_of(at), hint);
  }

  std::string str(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar()) fail(n, what + " must be a string");
    return n.Scalar();
  }

  std::string nonempty(const YAML::Node& n, const std::string& what) const {
    std::string s = str(n, what);
    if (s.empty()) fail(n, what + " must not be empty");
    return s;
  }

  bool boolean(const YAML::Node& n, const std::string& what) const {
    bool b = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b))
      fail(n, what + " must be true or false, not '" + (n.IsScalar() ? n.Scalar() : "a collection") + "'");
    return b;
  }

  void check_keys(const YAML::Node& map, const std::set<std::string>& known, const std::string& where) const {
    for (const auto& kv : map) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      if (!known.contains(key))
        spdlog::warn("{}:{}: unknown key '{}' in {} is ignored", file_, line_of(kv.first), key, where);
    }
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

bool valid_registry(std::string_view r) {
  // host[:port] as the distribution reference grammar's domain: DNS labels, an IPv4
  // address, localhost, or a bracketed IPv6 literal.
  static const RE2 re(
      R"((?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?)");
  return RE2::FullMatch(re2::StringPiece(r.data(), r.size()), re);
}

bool valid_repository(std::string_view r) {
  static const RE2 re(R"([a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*)");
  return r.size() <= 255 && RE2::FullMatch(re2::StringPiece(r.data(), r.size()), re);
}

bool safe_relative(std::string_view p) {
  if (p.empty() || p.front() == '/') return false;
  fs::path path{std::string(p)};
  for (const auto& part : path)
    if (part == "..") return false;
  return true;
}

Source read_source(const Reader& rd, const YAML::Node& n) {
  if (!n.IsMap()) rd.fail(n, "source must be a mapping with provider, repo, branch, dockerfile");
  rd.check_keys(n, {"provider", "repo", "branch", "dockerfile", "workflow", "context", "pipeline", "job"},
                "source");
  Source s;
  s.line = line_of(n);
  if (!n["repo"]) rd.fail(n, "source.repo is missing", "give the repository as owner/name");
  s.repo = rd.nonempty(n["repo"], "source.repo");
  s.provider = n["provider"] ? rd.str(n["provider"], "source.provider") : "github";
  if (s.provider != "github" && s.provider != "gitlab")
    rd.fail(n["provider"], "source.provider must be github or gitlab, not '" + s.provider + "'");
  s.branch = n["branch"] ? rd.nonempty(n["branch"], "source.branch") : "main";
  s.dockerfile = n["dockerfile"] ? rd.nonempty(n["dockerfile"], "source.dockerfile") : "Dockerfile";
  if (!safe_relative(s.dockerfile))
    rd.fail(n["dockerfile"], "source.dockerfile must be a relative path inside the repository");
  if (n["workflow"]) s.workflow = rd.str(n["workflow"], "source.workflow");
  if (n["context"]) {
    s.context = rd.str(n["context"], "source.context");
    if (!s.context.empty() && !safe_relative(s.context) && s.context != ".")
      rd.fail(n["context"], "source.context must be a relative path inside the repository");
  }
  if (n["pipeline"]) s.pipeline = rd.str(n["pipeline"], "source.pipeline");
  if (n["job"]) s.job = rd.str(n["job"], "source.job");
  static const std::set<std::string> known = {"provider", "repo",    "branch",   "dockerfile",
                                              "workflow", "context", "pipeline", "job"};
  for (const auto& kv : n) {
    if (!kv.first.IsScalar() || !known.contains(kv.first.Scalar())) continue;
    s.fields.emplace_back(kv.first.Scalar(), kv.second.IsScalar() ? kv.second.Scalar() : std::string());
  }
  return s;
}

Local read_local(const Reader& rd, const YAML::Node& n) {
  if (!n.IsMap()) rd.fail(n, "local must be a mapping with dir, dockerfile, patchFiles, versionFile");
  rd.check_keys(n, {"dir", "dockerfile", "patchFiles", "versionFile"}, "local");
  Local l;
  l.line = line_of(n);
  if (!n["dir"]) rd.fail(n, "local.dir is missing");
  l.dir = rd.nonempty(n["dir"], "local.dir");
  if (!safe_relative(l.dir)) rd.fail(n["dir"], "local.dir must be a relative path inside the state repository");
  l.dockerfile = n["dockerfile"] ? rd.nonempty(n["dockerfile"], "local.dockerfile") : "Dockerfile";
  if (!safe_relative(l.dockerfile))
    rd.fail(n["dockerfile"], "local.dockerfile must be a relative path inside local.dir");
  if (const auto& p = n["patchFiles"]) {
    if (!p.IsSequence()) rd.fail(p, "local.patchFiles must be a list of paths");
    for (const auto& item : p) {
      std::string f = rd.nonempty(item, "local.patchFiles entry");
      if (!safe_relative(f)) rd.fail(item, "patch file must be a relative path inside the state repository");
      l.patch_files.push_back(f);
    }
  }
  if (n["versionFile"]) {
    l.version_file = rd.nonempty(n["versionFile"], "local.versionFile");
    if (!safe_relative(l.version_file))
      rd.fail(n["versionFile"], "local.versionFile must be a relative path inside the state repository");
  }
  return l;
}

// platforms: a non-empty list of distinct os/arch[/variant] that buildah can build.
void read_platforms(const Reader& rd, const YAML::Node& list, Image& img) {
  img.platforms_line = line_of(list);
  if (!list.IsSequence() || list.size() == 0)
    rd.fail(list, "platforms must be a non-empty list such as [linux/amd64, linux/arm64]");
  static const RE2 re(R"(linux/(amd64(/v[1-4])?|arm64(/v8)?|arm/v[5-7]|386|ppc64le|s390x|riscv64|mips64le|loong64))");
  for (const auto& item : list) {
    const std::string p = rd.nonempty(item, "platforms entry");
    if (!RE2::FullMatch(p, re))
      rd.fail(item, "platform '" + p + "' is not one buildah builds",
              "linux/ARCH[/VARIANT]: amd64, arm64, arm/v7, arm/v6, 386, ppc64le, s390x, riscv64");
    if (std::find(img.platforms.begin(), img.platforms.end(), p) != img.platforms.end())
      rd.fail(item, "platform '" + p + "' is listed twice");
    img.platforms.push_back(p);
  }
}

Image read_image(const Reader& rd, const YAML::Node& n) {
  if (!n.IsMap()) rd.fail(n, "each enrolled image must be a mapping with at least a name");
  rd.check_keys(n,
                {"name", "registry", "repository", "source", "rebuildDelay", "autoRebuild", "updates",
                 "allowTags", "imageSelectionStrategy", "local", "platforms"},
                "image entry");
  Image img;
  img.line = line_of(n);
  if (!n["name"]) rd.fail(n, "image entry has no name");
  img.name = rd.nonempty(n["name"], "name");
  if (!is_safe_name(img.name))
    rd.fail(n["name"], "name '" + img.name + "' is not a safe file name",
            "use lowercase letters, digits, '.', '_' and '-' (it names state files and Kubernetes objects)");
  if (n["registry"]) {
    img.registry = rd.str(n["registry"], "registry");
    if (!img.registry.empty() && !valid_registry(img.registry))
      rd.fail(n["registry"], "registry '" + img.registry + "' is not a valid registry host",
              "a host name or address, with an optional :port, e.g. ghcr.io or 127.0.0.1:5000");
  }
  if (!n["repository"]) rd.fail(n, "image '" + img.name + "' has no repository");
  img.repository = rd.nonempty(n["repository"], "repository");
  if (!valid_repository(img.repository))
    rd.fail(n["repository"], "repository '" + img.repository + "' is not a valid repository name",
            "lowercase path components separated by '/', e.g. team/app");
  if (n["source"]) img.source = read_source(rd, n["source"]);
  if (n["local"]) img.local = read_local(rd, n["local"]);
  if (n["rebuildDelay"]) {
    img.rebuild_delay = rd.nonempty(n["rebuildDelay"], "rebuildDelay");
    auto d = duration::parse(img.rebuild_delay, nullptr, duration::Bare::refused);  // "7": 7 what?
    if (!d)
      rd.fail(n["rebuildDelay"], "rebuildDelay '" + img.rebuild_delay + "' is not a duration",
              "a number followed by s, m, h, d or w, e.g. 30m, 12h, 7d, 2w");
    img.rebuild_delay_seconds = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }
  if (n["autoRebuild"]) img.auto_rebuild = rd.boolean(n["autoRebuild"], "autoRebuild");
  if (const auto& u = n["updates"]) {
    if (!u.IsSequence()) rd.fail(u, "updates must be a list of {repo, path, type}");
    for (const auto& item : u) {
      if (!item.IsMap()) rd.fail(item, "each updates entry must be a mapping with repo, path, type");
      rd.check_keys(item, {"repo", "path", "type"}, "updates entry");
      UpdateTarget t;
      if (item["repo"]) t.repo = rd.str(item["repo"], "updates.repo");
      if (item["path"]) t.path = rd.str(item["path"], "updates.path");
      if (item["type"]) t.type = rd.str(item["type"], "updates.type");
      for (const auto& kv : item) {
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
        if (key == "repo" || key == "path" || key == "type") t.fields.emplace_back(key, kv.second.Scalar());
      }
      img.updates.push_back(std::move(t));
    }
  }
  if (n["allowTags"]) {
    img.allow_tags = rd.str(n["allowTags"], "allowTags");
    img.allow_tags_line = line_of(n["allowTags"]);
    RE2 re(img.allow_tags, RE2::Quiet);
    if (!re.ok())
      rd.fail(n["allowTags"], "allowTags is not a valid regular expression: " + re.error(),
              "Kargo evaluates it as a Go (RE2) regular expression");
  }
  if (const auto& p = n["platforms"]) read_platforms(rd, p, img);
  if (n["imageSelectionStrategy"]) {
    img.image_selection_strategy = rd.str(n["imageSelectionStrategy"], "imageSelectionStrategy");
    static const std::set<std::string> strategies = {"SemVer", "Lexical", "NewestBuild", "Digest"};
    if (!strategies.contains(img.image_selection_strategy))
      rd.fail(n["imageSelectionStrategy"],
              "imageSelectionStrategy must be one of SemVer, Lexical, NewestBuild, Digest, not '" +
                  img.image_selection_strategy + "'");
  }
  return img;
}

}  // namespace

std::string Source::url() const {
  if (repo.find("://") != std::string::npos || repo.rfind("git@", 0) == 0) return repo;
  std::string host = provider == "gitlab" ? "gitlab.com" : "github.com";
  std::string r = repo;
  if (r.size() > 4 && r.ends_with(".git")) r.resize(r.size() - 4);
  return "https://" + host + "/" + r + ".git";
}

std::string Image::repository_url() const {
  return registry.empty() ? repository : registry + "/" + repository;
}

const Image* Enrollment::find(std::string_view name) const {
  for (const auto& i : images)
    if (i.name == name) return &i;
  return nullptr;
}

const Image& Enrollment::get(std::string_view name) const {
  if (const Image* i = find(name)) return *i;
  std::string list;
  for (const auto& n : names()) list += (list.empty() ? "" : ", ") + n;
  throw input_error("'" + std::string(name) + "' is not an enrolled image", file.string(), 0,
                    list.empty() ? "images.yaml enrols no images" : "enrolled images: " + list);
}

std::vector<std::string> Enrollment::names() const {
  std::vector<std::string> out;
  for (const auto& i : images) out.push_back(i.name);
  return out;
}

Enrollment parse(std::string_view text, const std::string& file_label) {
  Reader rd(file_label);
  Enrollment e;
  e.file = file_label;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& ex) {
    throw input_error("invalid YAML: " + ex.msg, file_label, ex.mark.line >= 0 ? ex.mark.line + 1 : 0);
  }
  if (!root || root.IsNull()) return e;  // an empty registry enrols nothing
  YAML::Node list = root;
  if (root.IsMap()) {
    if (!root["images"]) rd.fail(root, "images.yaml must be a list of images (or a mapping with an 'images' list)");
    list = root["images"];
  }
  if (!list.IsSequence()) rd.fail(list, "images.yaml must be a list of images");
  std::map<std::string, int> seen;
  for (const auto& item : list) {
    Image img = read_image(rd, item);
    if (auto it = seen.find(img.name); it != seen.end())
      rd.fail(item["name"], "duplicate image name '" + img.name + "' (first enrolled at line " +
                                std::to_string(it->second) + ")");
    seen[img.name] = img.line;
    e.images.push_back(std::move(img));
  }
  return e;
}

Enrollment load(const fs::path& file) {
  std::string text = fsutil::read_file(file);
  return parse(text, file.string());
}

bool is_safe_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

fs::path Layout::image_state(std::string_view name) const { return images_dir / (std::string(name) + ".yaml"); }
fs::path Layout::base_image_state(std::string_view name) const {
  return base_images_dir / (std::string(name) + ".yaml");
}

Layout layout_for(const fs::path& state_dir) {
  Layout l;
  l.root = state_dir;
  std::error_code ec;
  fs::path base = state_dir;
  if (!fs::is_directory(state_dir / "images", ec) && fs::is_directory(state_dir / "state" / "images", ec))
    base = state_dir / "state";
  l.images_dir = base / "images";
  l.base_images_dir = base / "base-images";
  l.dist_dir = state_dir / "dist";
  l.lock_file = state_dir / ".imgfactory.lock";
  return l;
}

}  // namespace imgf::enrollment
