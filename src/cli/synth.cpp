// `imgfactory synth`: Kargo manifests for the enrolled images.
#include <spdlog/spdlog.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>

#include "commands.hpp"
#include "imgfactory/enrollment.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/gitstate.hpp"
#include "imgfactory/kargo.hpp"

namespace imgf::cli {

namespace {

// True when `path` holds exactly `content`; streams the file (manifests of a large fleet are
// tens of MB: no second copy in memory), and a size mismatch answers without reading.
bool same_content(const std::filesystem::path& path, std::string_view content) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size != content.size()) return false;
  std::ifstream in(path, std::ios::binary);
  std::array<char, 1 << 16> buf{};
  std::size_t off = 0;
  while (in && off < content.size()) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0 || content.compare(off, got, std::string_view(buf.data(), got)) != 0) return false;
    off += got;
  }
  return off == content.size();
}

// --git-commit: on a newer tip of the state branch the manifests are regenerated from that
// tip's state files and images.yaml.
void record_synth(const Globals& g, const kargo::Options& ko, const std::filesystem::path& out,
                  const kargo::Manifests& m) {
  gitstate::Change change;
  change.summary = "synth: regenerate " + out.filename().string() + " (" + std::to_string(m.warehouses) +
                   " Warehouses, " + std::to_string(m.stages) + " Stages)";
  change.replay = [state_dir = g.state_dir, images_file = g.images_file, ko, out] {
    const kargo::Manifests again =
        kargo::synthesize(kargo::load_input(enrollment::layout_for(state_dir), enrollment::load(images_file)), ko);
    if (!same_content(out, again.yaml)) fsutil::atomic_write(out, again.yaml);
  };
  g.git->record(std::move(change));
}

}  // namespace

struct ManifestFlags {
  kargo::Options kargo;
  std::vector<std::string> namespace_labels;
  bool no_original_namespace_labels = false;
  std::string build_security = "userns";
};

std::shared_ptr<ManifestFlags> add_manifest_flags(CLI::App* app) {
  auto f = std::make_shared<ManifestFlags>();
  kargo::Options& k = f->kargo;
  app->add_option("--namespace", k.namespace_name, "Kargo project and namespace")->capture_default_str();
  app->add_option("--builder-image", k.builder_image, "image the verification Jobs run (imgfactory inside)")
      ->envname("IMGFACTORY_BUILDER_IMAGE")
      ->capture_default_str();
  app->add_option("--state-repo", k.state_repo,
                  "git URL the Jobs clone the state repository from (default: read at run time from the Secret "
                  "--state-repo-secret, key repoURL)")
      ->envname("IMAGE_FACTORY_STATE_REPO");
  app->add_option("--state-branch", k.state_branch, "branch of the state repository")->capture_default_str();
  app->add_option("--state-path", k.state_path, "directory of the state inside that repository")
      ->capture_default_str();
  app->add_option("--state-repo-secret", k.state_repo_secret, "Secret holding repoURL when --state-repo is not given")
      ->capture_default_str();
  app->add_option("--registry-secret", k.registry_secret,
                  "dockerconfigjson Secret: image pulls and the build's registry credentials")
      ->capture_default_str();
  app->add_option("--github-token-secret", k.github_token_secret,
                  "Secret (key token) for dispatching GitHub workflows")
      ->capture_default_str();
  app->add_option("--git-credentials-secret", k.git_credentials_secret,
                  "optional Secret with the Jobs' git credentials: keys password (GITHUB_TOKEN), gitlab-token "
                  "(GITLAB_TOKEN), github-host, gitlab-host, git-credentials (a git store file)")
      ->capture_default_str();
  app->add_option("--image-interval", k.image_interval, "discovery interval of the built images' Warehouses")
      ->capture_default_str();
  app->add_option("--base-interval", k.base_interval, "discovery interval of base and external images' Warehouses")
      ->capture_default_str();
  app->add_option("--namespace-label", f->namespace_labels, "extra label KEY=VALUE on the Namespace (repeatable)");
  app->add_flag("--no-original-namespace-labels", f->no_original_namespace_labels,
                "drop the original tool's Namespace labels secrets/gh-docker-registry and kargo.deps/ghcr");
  app->add_option("--rebuild-spread", k.rebuild_spread,
                  "build and rebuild Stages wait a per-image offset in [0, SPREAD) before taking new Freight, "
                  "so they do not all start at once (0s: off)")
      ->capture_default_str();
  app->add_option("--build-security", f->build_security,
                  "how the build Job's pod runs buildah: userns (pod user namespace), rootless, privileged")
      ->check(CLI::IsMember({"userns", "rootless", "privileged"}))
      ->capture_default_str();
  app->add_option("--cache-repo", k.cache_repo,
                  "registry repository for the build Job's layer cache (--cache-from/--cache-to; default none)");
  app->add_option("--git-author-name", k.git_author_name, "author of the state commits the Jobs push")
      ->capture_default_str();
  app->add_option("--git-author-email", k.git_author_email, "email of that author")->capture_default_str();
  return f;
}

kargo::Options manifest_options(const ManifestFlags& f, const std::string& manifests_path) {
  kargo::Options ko = f.kargo;
  if (f.no_original_namespace_labels) ko.original_namespace_labels = false;
  for (const auto& kv : f.namespace_labels) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw input_error("--namespace-label '" + kv + "' must be KEY=VALUE");
    ko.namespace_labels.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  ko.build_security = *kargo::parse_build_security(f.build_security);  // checked by CLI11
  ko.manifests_path = manifests_path;
  kargo::validate(ko);  // flags first: a bad flag is reported before any file is read
  return ko;
}

bool write_manifests(const Globals& g, const kargo::Options& ko, const std::filesystem::path& out) {
  const auto layout = enrollment::layout_for(g.state_dir);
  const kargo::Input input = kargo::load_input(layout, enrollment::load(g.images_file));
  const kargo::Manifests m = kargo::synthesize(input, ko);
  const bool changed = !same_content(out, m.yaml);
  if (changed) fsutil::atomic_write(out, m.yaml);
  spdlog::info("{} {}: {} documents ({} Warehouses, {} Stages, {} AnalysisTemplates)",
               changed ? "wrote" : "unchanged", out.string(), m.documents, m.warehouses, m.stages,
               m.analysis_templates);
  if (g.git) record_synth(g, ko, out, m);
  return changed;
}

namespace {

struct SynthOptions {
  std::string output;  // empty: <state-dir>/dist/image-factory.k8s.yaml; "-": stdout
  std::string credentials_skeleton;  // empty: none
  std::string manifests_path = "dist/image-factory.k8s.yaml";
  std::shared_ptr<ManifestFlags> flags;
};

// -o relative to the state directory, when it lies inside it (else empty).
std::string inside_state_dir(const std::filesystem::path& state_dir, const std::string& output) {
  std::error_code ec;
  const auto root = std::filesystem::weakly_canonical(std::filesystem::absolute(state_dir, ec), ec);
  const auto file = std::filesystem::weakly_canonical(std::filesystem::absolute(output, ec), ec);
  if (ec) return {};
  const auto rel = file.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return {};
  return rel.generic_string();
}

int run_synth(const Globals& g, const SynthOptions& opts) {
  const kargo::Options ko = manifest_options(*opts.flags, opts.manifests_path);
  if (!opts.output.empty() && opts.output != "-") {
    const std::string rel = inside_state_dir(g.state_dir, opts.output);
    if (!rel.empty() && rel != opts.manifests_path)
      spdlog::warn("the manifests go to {} in the state directory, but the analyze Job regenerates {} "
                   "(--manifests-path); give --manifests-path {} to keep them in one place",
                   rel, opts.manifests_path.empty() ? "none" : opts.manifests_path, rel);
  }

  const auto layout = enrollment::layout_for(g.state_dir);
  if (opts.output != "-") {
    const std::filesystem::path out =
        opts.output.empty() ? layout.dist_dir / "image-factory.k8s.yaml" : std::filesystem::path(opts.output);
    write_manifests(g, ko, out);
  }
  if (opts.output == "-" || !opts.credentials_skeleton.empty()) {
    const kargo::Manifests m = kargo::synthesize(kargo::load_input(layout, enrollment::load(g.images_file)), ko);
    if (opts.output == "-") {
      std::fwrite(m.yaml.data(), 1, m.yaml.size(), stdout);
      if (std::fflush(stdout) != 0) throw failure("cannot write the manifests to stdout");
    }
    if (!opts.credentials_skeleton.empty()) {
      const std::filesystem::path file(opts.credentials_skeleton);
      const std::string text = kargo::credential_skeletons(m, ko);
      const bool changed = !same_content(file, text);
      if (changed) fsutil::atomic_write(file, text);
      spdlog::info("{} {}: credential Secret skeletons for {} image and {} git repositories (fill in, then apply)",
                   changed ? "wrote" : "unchanged", file.string(), m.image_repos.size(), m.git_repos.size());
    }
  }
  return 0;
}

}  // namespace

Command add_synth(CLI::App& root) {
  auto opts = std::make_shared<SynthOptions>();
  Command cmd;
  cmd.app = root.add_subcommand("synth", "generate the Kargo manifests (Warehouses, Stages, AnalysisTemplates ...)");
  auto* app = cmd.app;
  app->add_option("--output,-o", opts->output,
                  "file to write, '-' for stdout (default <state-dir>/dist/image-factory.k8s.yaml)");
  opts->flags = add_manifest_flags(app);
  app->add_option("--manifests-path", opts->manifests_path,
                  "where the analyze Job regenerates these manifests, relative to the state directory "
                  "('' : it does not)")
      ->capture_default_str();
  app->add_option("--credentials-skeleton", opts->credentials_skeleton,
                  "also write skeletons of Kargo's repository-credential Secrets (no values) to FILE");
  cmd.run = [opts](const Globals& g) { return run_synth(g, *opts); };
  return cmd;
}

}  // namespace imgf::cli
