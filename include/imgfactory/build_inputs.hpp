#pragma once
// What a build is made of, pinned and recorded (issue 12): the external images a Dockerfile
// uses and their rewriting to exact digests (`--base`, or the digest each tag serves now), the
// build inputs recorded in images/<name>.yaml (`buildInputs:`) and their comparison for
// `build --if-changed`. Pure: no registry, file system, environment or clock here — the edge
// (src/edge/build_inputs.cpp) learns the digests, hashes the files and reads the state.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "imgfactory/builder.hpp"
#include "imgfactory/dockerfile.hpp"
#include "imgfactory/enrollment.hpp"
#include "imgfactory/reference.hpp"
#include "imgfactory/state_fields.hpp"

namespace imgf::inputs {

// --- `build --base REF` -----------------------------------------------------------------------

// REF as Kargo gives it: repo[:tag]@sha256:…. nullopt for an empty (or blank) value, so that a
// Job template can always pass the option; imgf::Error (exit 2) when it is not a reference or
// has no digest.
std::optional<reference::Reference> parse_base_option(std::string_view text);

// --- the external images a Dockerfile uses ------------------------------------------------------

enum class UseKind { from, copy_from, mount_from };
const char* use_kind_name(UseKind kind);  // "FROM", "COPY --from", "RUN --mount=from"

struct ImageUse {
  UseKind kind = UseKind::from;
  int line = 0;               // the instruction's first line
  std::string written;        // as the file writes it (FROM: before ARG expansion)
  std::string resolved;       // after ARG expansion, as BuildKit reads it ("python:3.12-slim")
  reference::Reference ref;   // resolved, normalised
  // The platform the image is used for: its stage's (FROM --platform=$BUILDPLATFORM is the
  // build machine's), else the target platform.
  std::string platform;
};

// Every use of an external image by the stages up to the target (buildah 1.28 builds them
// all), for the one platform in `options.platforms` (empty: the host's), in file order.
// Stage names, stage indexes and scratch are not images. Throws imgf::Error (exit 2) as
// dockerfile::analyze does.
std::vector<ImageUse> image_uses(std::string_view content, const std::string& label,
                                 const dockerfile::Options& options);

// The reference a pinned use is rewritten to: the repository (canonical, domain included)
// with the digest and no tag (the tag may not be the one the digest came from).
std::string pinned_reference(const reference::Reference& ref, std::string_view digest);

struct Pinned {
  ImageUse use;
  std::string to;  // the reference written instead
};

struct PinResult {
  std::string content;          // the Dockerfile with every pinned use rewritten
  std::vector<Pinned> pinned;   // in file order
  std::vector<ImageUse> unpinned;  // uses `digest_for` had no digest for, or that could not be located
};

// Rewrites `content` for one platform: each external image use for which `digest_for`
// returns a digest is replaced by pinned_reference(). A FROM instruction is written anew on
// its first line (its flags and `AS name` kept; continuation lines become empty lines, so line
// numbers do not move); a COPY --from / RUN --mount=from value is replaced in place. Nothing
// else of the file changes.
PinResult pin(std::string_view content, const std::string& label, const dockerfile::Options& options,
              const std::function<std::optional<std::string>(const ImageUse&)>& digest_for);

// `labels` as one LABEL instruction at the end of the target stage (buildah 1.28 turns each
// --label flag into a LABEL step of its own: with a registry layer cache each is one more
// round trip). Values are double-quoted with the file's escape token so that they read back
// exactly; nullopt when one cannot be (a newline, an unusual key): keep the flags then.
std::optional<std::string> with_labels(std::string_view content, const std::string& label,
                                       const dockerfile::Options& options,
                                       const std::vector<std::pair<std::string, std::string>>& labels);

// --- build inputs ---------------------------------------------------------------------------------

struct BaseInput {
  std::string name;       // base-images/<name>.yaml name (reference::state_name of `written`)
  std::string reference;  // canonical, as the Dockerfile names it (tag and/or digest)
  std::string digest;     // what the build was pinned to; "" when it could not be learned
  std::vector<std::pair<std::string, std::string>> platforms;  // os/arch[/variant] -> manifest digest, sorted
  friend bool operator==(const BaseInput&, const BaseInput&) = default;
};

struct BuildInputs {
  std::vector<BaseInput> base_images;  // sorted by reference, unique
  std::string source_revision;         // "" when unknown
  long long source_date_epoch = -1;    // -1 when unknown
  std::string local_content_sha256;    // "" for a source without local files
  std::string dockerfile;              // the Dockerfile's path inside the source, as enrolled
  std::string context;                 // the build context inside the source ("" when the Dockerfile's dir)
  std::vector<std::pair<std::string, std::string>> build_args;  // sorted by key, last value of a key wins
  std::vector<std::string> platforms;  // as built, in order
  std::string target;                  // "" when the last stage
  friend bool operator==(const BuildInputs&, const BuildInputs&) = default;
};

// Sorts and de-duplicates base images and build args into their canonical order.
void normalise(BuildInputs& inputs);

// "sha256:<hex>" of the canonical JSON of every field (base images with their platforms).
std::string fingerprint(const BuildInputs& inputs);

// The `buildInputs:` block (each line indented by two spaces, newline-terminated), for
// state::set_top_level_fields with block = true. Keys in a fixed order, scalars quoted as
// the state files quote them.
std::string render_block(const BuildInputs& inputs);

// The `buildInputs` recorded in a state file's text. nullopt (and the reason in *why) when
// the key is missing, null or malformed.
std::optional<BuildInputs> parse_recorded(std::string_view state_text, std::string* why = nullptr);

// Why `now` differs from `recorded`, one human-readable line per difference ("base image
// X: sha256:a… -> sha256:b…", "source revision …"); empty when they are the same. A base
// image whose digest is unknown on either side is always a difference: an unknown input
// never counts as unchanged.
std::vector<std::string> differences(const BuildInputs& recorded, const BuildInputs& now);

// --- time -------------------------------------------------------------------------------------

// SOURCE_DATE_EPOCH's value: decimal seconds >= 0; nullopt otherwise.
std::optional<long long> parse_epoch(std::string_view text);
// 2024-12-03T12:00:00Z
std::string iso8601_utc(long long epoch_seconds);
// The inverse of iso8601_utc (also accepts fractional seconds and a +00:00 offset, as the
// original tool wrote them); nullopt when malformed.
std::optional<long long> parse_iso8601_utc(std::string_view text);

}  // namespace imgf::inputs

// =============================================================================================
// The edge (src/edge/build_inputs.cpp): learning the inputs of one build — digests from the
// registry, commit times and revisions from git (libgit2), local files hashed — writing the
// pinned Dockerfile copies into the build workspace, and the --if-changed check.
// =============================================================================================
namespace imgf::registry {
class Client;
}

namespace imgf::inputs {

struct Request {
  const enrollment::Image* image = nullptr;
  std::filesystem::path dockerfile;       // the checked-out Dockerfile (absolute)
  std::string dockerfile_label;           // for messages: the enrolled path ("app/Dockerfile")
  std::filesystem::path workspace;        // pinned copies are written here (outside the context)
  std::filesystem::path source_dir;       // the checkout of a git source (its commit time is read here)
  std::string source_revision;            // the commit checked out (git source); "" for local
  // Local files: local.dir, the patch files and the version file (excluded from the hash: it
  // is bumped after each push), resolved the way the build resolves them. Empty: none.
  std::filesystem::path local_dir;
  std::vector<std::filesystem::path> patch_files;
  std::filesystem::path version_file;
  std::vector<builder::Platform> platforms;
  std::vector<std::pair<std::string, std::string>> build_args;
  std::string target;
  std::vector<reference::Reference> bases;  // --base, each with a digest
  std::optional<long long> source_date_epoch;  // SOURCE_DATE_EPOCH; nullopt: from git
};

struct Prepared {
  BuildInputs inputs;
  // The Dockerfile each platform builds from: the pinned copy in the workspace, or the
  // checked-out file when nothing was pinned.
  std::map<std::string, std::filesystem::path> dockerfiles;  // by platform (os/arch[/variant])
  long long timestamp = 0;    // buildah --timestamp
  std::string created;        // the same as ISO 8601: org.opencontainers.image.created
  std::string revision;       // org.opencontainers.image.revision ("" when unknown)
  std::vector<std::string> unpinned;  // "line N: FROM x (why)" for uses left as written
};

// Everything above, with the registry queries in parallel. Throws imgf::Error exit 2 when a
// --base matches no image the Dockerfile uses (naming the Dockerfile) or the Dockerfile does
// not parse; a registry that cannot tell a digest leaves that use unpinned, its digest empty
// in `inputs` (so --if-changed builds) and a warning in the log.
Prepared prepare(const Request& request, registry::Client& registry);

// The commit time a local source's images get, and the revision that goes with it: the last
// commit of the git work tree holding `paths` that changed any of them (first-parent history
// from HEAD); HEAD when none did (untracked files); nullopt outside a git work tree.
struct SourceCommit {
  std::string revision;
  long long time = 0;
};
std::optional<SourceCommit> last_commit_touching(const std::vector<std::filesystem::path>& paths);
// The commit time of `revision` in the repository at `dir`; nullopt when unknown.
std::optional<long long> commit_time(const std::filesystem::path& dir, const std::string& revision);
// sha256 hex over local_dir's files (relative path, type, executable bit, content or link
// target; .git and `exclude` left out) and the patch files' names and contents, in order.
std::string local_content_sha256(const std::filesystem::path& local_dir,
                                 const std::vector<std::filesystem::path>& patch_files,
                                 const std::filesystem::path& exclude);

struct SkipCheck {
  bool skip = false;
  std::vector<std::string> reasons;  // why it builds (each a log line); empty when skipping
  builder::Result result;            // when skipping: what the registry still serves
};
// --if-changed: skip when the inputs recorded in `state_text` equal `now` and the registry
// still serves the recorded currentDigest for `<push_repository>:<tag>` — the tag is
// `explicit_tag` when given, else the recorded currentVersion. Never throws for a registry
// failure: any input it cannot learn is a reason to build.
SkipCheck check_unchanged(const std::string& image_name, const std::string& state_text, const BuildInputs& now,
                          const std::string& push_repository, const std::string& explicit_tag,
                          registry::Client& registry);

// Keeps libgit2 initialised while it lives. Each first git_libgit2_init() of a process (and
// each one after the last shutdown) loads the system's CA certificates — most of the CPU time
// of an unchanged `build --if-changed` over 50 images, measured with perf — so a build holds
// one for its whole run and the per-call init/shutdown pairs inside become reference counts.
class LibGit2 {
 public:
  LibGit2();
  ~LibGit2();
  LibGit2(const LibGit2&) = delete;
  LibGit2& operator=(const LibGit2&) = delete;
};

// --- the hooks `build` calls (builder.cpp run(), at the places marked "[inputs]") -------------

class BuildHooks {
 public:
  // Validates the options of this feature (exit 2: --if-changed without a push, a --base
  // without digest). `resolve_path` resolves images.yaml paths as the build does.
  BuildHooks(const builder::Options& options, const builder::Context& context, const enrollment::Image& image,
             std::function<std::filesystem::path(const std::string&)> resolve_path);
  ~BuildHooks();
  BuildHooks(const BuildHooks&) = delete;
  BuildHooks& operator=(const BuildHooks&) = delete;

  // After the checkout: learns the inputs, writes the pinned Dockerfile copies into the
  // workspace. With --if-changed and nothing changed, prints the result ("skipped": true) and
  // returns true: the build ends there, before any buildah process.
  bool prepare(const std::filesystem::path& dockerfile, const std::filesystem::path& workspace,
               const std::filesystem::path& source_dir, const std::string& source_revision,
               const std::vector<builder::Platform>& platforms,
               const std::vector<std::pair<std::string, std::string>>& build_args, const std::string& push_reference);
  // org.opencontainers.image.created / .revision: the source's commit time and revision.
  [[nodiscard]] std::string created() const;
  [[nodiscard]] std::string revision(const std::string& checkout_revision) const;
  // Pinned Dockerfiles, --timestamp, --target, --cache-from/--cache-to into the plan; after
  // prepare(), the labels move from --label flags into the pinned copies (with_labels).
  void apply(builder::PlanInput& plan_input);
  // `buildInputs` for images/<name>.yaml, after a successful push.
  [[nodiscard]] std::vector<std::pair<std::string, state::FieldValue>> state_fields() const;
  // After a push: forget what the registry said about that repository.
  void pushed(const std::string& reference);

 private:
  std::string timestamp_text() const;
  LibGit2 git_;
  const builder::Options& options_;
  const builder::Context& context_;
  const enrollment::Image& image_;
  std::function<std::filesystem::path(const std::string&)> resolve_path_;
  std::vector<reference::Reference> bases_;
  std::optional<long long> source_date_epoch_;
  std::unique_ptr<registry::Client> own_registry_;
  registry::Client* registry_ = nullptr;
  std::optional<Prepared> prepared_;
  std::filesystem::path workspace_;
  std::vector<std::pair<std::string, std::string>> build_args_;
  std::optional<long long> dry_run_time_;  // --dry-run of a local source: its commit time
};

}  // namespace imgf::inputs
