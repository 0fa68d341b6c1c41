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

struct SynthOptions {
  std::string output;  // empty: <state-dir>/dist/image-factory.k8s.yaml; "-": stdout
  std::string credentials_skeleton;  // empty: none
  std::vector<std::string> namespace_labels;
  bool no_original_namespace_labels = false;
  kargo::Options kargo;
};

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

int run_synth(const Globals& g, const SynthOptions& opts) {
  kargo::Options ko = opts.kargo;
  if (opts.no_original_namespace_labels) ko.original_namespace_labels = false;
  for (const auto& kv : opts.namespace_labels) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw input_error("--namespace-label '" + kv + "' must be KEY=VALUE");
    ko.namespace_labels.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  kargo::validate(ko);  // flags first: a bad flag is reported before any file is read

  const auto layout = enrollment::layout_for(g.state_dir);
  auto enrolled = enrollment::load(g.images_file);
  const kargo::Input input = kargo::load_input(layout, std::move(enrolled));
  const kargo::Manifests m = kargo::synthesize(input, ko);

  if (opts.output == "-") {
    std::fwrite(m.yaml.data(), 1, m.yaml.size(), stdout);
    if (std::fflush(stdout) != 0) throw failure("cannot write the manifests to stdout");
  } else {
    const std::filesystem::path out =
        opts.output.empty() ? layout.dist_dir / "image-factory.k8s.yaml" : std::filesystem::path(opts.output);
    const bool changed = !same_content(out, m.yaml);
    if (changed) fsutil::atomic_write(out, m.yaml);
    spdlog::info("{} {}: {} documents ({} Warehouses, {} Stages, {} AnalysisTemplates)",
                 changed ? "wrote" : "unchanged", out.string(), m.documents, m.warehouses, m.stages,
                 m.analysis_templates);
    if (g.git) record_synth(g, ko, out, m);
  }
  if (!opts.credentials_skeleton.empty()) {
    const std::filesystem::path file(opts.credentials_skeleton);
    const std::string text = kargo::credential_skeletons(m, ko);
    const bool changed = !same_content(file, text);
    if (changed) fsutil::atomic_write(file, text);
    spdlog::info("{} {}: credential Secret skeletons for {} image and {} git repositories (fill in, then apply)",
                 changed ? "wrote" : "unchanged", file.string(), m.image_repos.size(), m.git_repos.size());
  }
  return 0;
}

}  // namespace

Command add_synth(CLI::App& root) {
  auto opts = std::make_shared<SynthOptions>();
  Command cmd;
  cmd.app = root.add_subcommand("synth", "generate the Kargo manifests (Warehouses, Stages, AnalysisTemplates ...)");
  auto* app = cmd.app;
  kargo::Options& k = opts->kargo;
  app->add_option("--output,-o", opts->output,
                  "file to write, '-' for stdout (default <state-dir>/dist/image-factory.k8s.yaml)");
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
                  "Secret (key password) exported to the Jobs as GITHUB_TOKEN, if present")
      ->capture_default_str();
  app->add_option("--image-interval", k.image_interval, "discovery interval of the built images' Warehouses")
      ->capture_default_str();
  app->add_option("--base-interval", k.base_interval, "discovery interval of base and external images' Warehouses")
      ->capture_default_str();
  app->add_option("--namespace-label", opts->namespace_labels, "extra label KEY=VALUE on the Namespace (repeatable)");
  app->add_flag("--no-original-namespace-labels", opts->no_original_namespace_labels,
                "drop the original tool's Namespace labels secrets/gh-docker-registry and kargo.deps/ghcr");
  app->add_option("--rebuild-spread", k.rebuild_spread,
                  "build and rebuild Stages wait a per-image offset in [0, SPREAD) before taking new Freight, "
                  "so they do not all start at once (0s: off)")
      ->capture_default_str();
  app->add_option("--credentials-skeleton", opts->credentials_skeleton,
                  "also write skeletons of Kargo's repository-credential Secrets (no values) to FILE");
  cmd.run = [opts](const Globals& g) { return run_synth(g, *opts); };
  return cmd;
}

}  // namespace imgf::cli
