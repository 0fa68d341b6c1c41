#pragma once
// `imgfactory build`: multi-arch builds with buildah into one manifest list, pushed and
// recorded. Plan, then act: the pure planner (src/core/build_plan.cpp) turns resolved inputs
// into the exact argv of every buildah/skopeo call, grouped in stages that say what may run
// in parallel; the executor (src/edge/builder_exec.cpp) runs a plan through a proc::Runner;
// build() (src/edge/builder.cpp) resolves the enrolled image, checks its source out into a
// scratch workspace, plans, executes and records the result in the state file.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "imgfactory/enrollment.hpp"
#include "imgfactory/process.hpp"
#include "imgfactory/state_fields.hpp"

namespace imgf::registry {
class Client;
}

namespace imgf::builder {

// --- values -------------------------------------------------------------------------------

// An OCI platform: os/arch[/variant], e.g. linux/arm64, linux/arm/v7.
struct Platform {
  std::string os;
  std::string arch;
  std::string variant;
  [[nodiscard]] std::string str() const;   // "linux/arm/v7"
  [[nodiscard]] std::string slug() const;  // "linux-arm-v7" (usable in a tag)
  friend bool operator==(const Platform&, const Platform&) = default;
};
// nullopt when `text` is not os/arch[/variant] of lowercase letters, digits and '_'.
std::optional<Platform> parse_platform(std::string_view text);
// "linux/amd64,linux/arm64" (also repeated values); throws imgf::Error (exit 2) on a bad entry
// or a duplicate. Empty input: the default pair linux/amd64, linux/arm64.
std::vector<Platform> parse_platforms(const std::vector<std::string>& values);
// The OCI platform of a machine as uname(2) names it (x86_64 -> linux/amd64, aarch64 ->
// linux/arm64, armv7l -> linux/arm/v7, ...); nullopt for an unknown machine.
std::optional<Platform> platform_for_machine(std::string_view uname_machine);

enum class Increment { none, major, minor, patch };
// "major" | "minor" | "patch" | "" (none); nullopt otherwise.
std::optional<Increment> parse_increment(std::string_view text);

// The next version as the original Image Factory computed it: MAJOR.MINOR.PATCH read from
// `current` (a leading 'v' is kept, a "-prerelease"/"+build" part dropped, missing parts are 0),
// one part incremented and the lower ones reset. Throws imgf::Error (exit 2) when `current`
// is not numeric dot-separated.
std::string bump_version(std::string_view current, Increment increment);
// "-<suffix>" as the original formed it: lowercased, anything but [a-z0-9] becomes '-'.
std::string version_suffix(std::string_view suffix);

// Where the tag comes from, in order: --tag, else (with --increment) the next version after
// the state's currentVersion (else the versionFile's, else 0.0.0), else local.versionFile,
// else "latest"; --suffix is appended. Throws imgf::Error (exit 2) on an invalid result or
// --tag combined with --increment.
struct TagInputs {
  std::string explicit_tag;     // --tag
  std::string version_file;     // content of local.versionFile (trimmed), if any
  std::string current_version;  // currentVersion of the state file, if any
  Increment increment = Increment::none;
  std::string suffix;
};
std::string resolve_tag(const TagInputs& in);


// K=V with a non-empty K of [A-Za-z0-9_.-]; throws imgf::Error (exit 2) otherwise.
std::pair<std::string, std::string> parse_build_arg(std::string_view text);

// --- plan ---------------------------------------------------------------------------------

// What the planner needs, all resolved: no file system, environment or clock is read.
struct PlanInput {
  std::string image_name;  // the enrolled name (org.opencontainers.image.title)
  std::string reference;   // push target <registry>/<repository>:<tag>, or localhost/<repository>:local
  std::string tag;
  std::vector<Platform> platforms;
  bool push = true;
  bool local = false;  // one platform, tagged `reference`, no manifest list
  std::filesystem::path workspace;   // scratch directory (digest file lives here)
  std::filesystem::path dockerfile;  // absolute
  std::filesystem::path context;     // absolute
  std::vector<std::pair<std::string, std::string>> build_args;
  std::vector<std::pair<std::string, std::string>> labels;  // see oci_labels()
  std::string isolation = "chroot";
  // Build inputs (issue 12):
  std::map<std::string, std::filesystem::path> platform_dockerfiles;  // os/arch -> pinned copy; else `dockerfile`
  std::string timestamp;   // buildah --timestamp (epoch seconds); empty: none
  std::string target;      // buildah --target; empty: the last stage
  std::string cache_from;  // buildah --cache-from REPO (registry layer cache); empty: none
  std::string cache_to;    // buildah --cache-to REPO
  // Further tags of the pushed manifest list (`latest`): copied from `reference` after the
  // read-back with `skopeo copy --all --preserve-digests` (the same digest, or a failure).
  std::vector<std::string> also_tags{};
};

// org.opencontainers.image.{source,revision,created,version,title,description}; empty values
// are left out.
std::vector<std::pair<std::string, std::string>> oci_labels(const std::string& source_url,
                                                            const std::string& revision,
                                                            const std::string& created,
                                                            const std::string& version,
                                                            const std::string& title,
                                                            const std::string& description = {});

struct Step {
  enum class Kind { prepare, build, assemble, push, inspect, cleanup };
  Kind kind = Kind::prepare;
  std::string label;     // log prefix and error name: "linux/arm64", "push", ...
  std::vector<std::string> argv;
  bool may_fail = false;  // a failure is ignored (removing leftovers of an earlier run)
  bool retry = false;     // transient registry errors are retried with backoff
  bool capture = false;   // stdout is data the builder reads (not streamed as log lines)
  // A file the step must write: exiting 0 without it counts as a transient failure.
  // (`buildah manifest push` 1.28 exits 0 without writing --digestfile when the registry
  // connection drops mid-push.)
  std::filesystem::path produces;
};

struct Stage {
  std::string name;
  bool parallel = false;  // steps may run concurrently (up to --jobs)
  std::vector<Step> steps;
};

struct Plan {
  std::vector<Stage> stages;
  std::vector<Step> on_failure;  // best effort when a step fails, times out or is interrupted
  std::string list;              // local manifest list (empty with --local)
  std::string reference;
  std::filesystem::path digest_file;  // written by `buildah manifest push --digestfile`
};

Plan make_plan(const PlanInput& in);
// The local tag of one platform's image: localhost/imgfactory-build/<repository>:<tag>-<slug>.
std::string platform_image(const PlanInput& in, const Platform& p);

// One argv line per step (format_argv), stage headers and the failure cleanup as '#' comments.
std::string render_plan_text(const Plan& plan, std::size_t jobs);
// {"stages":[{"name","parallel","steps":[{"kind","label","argv","mayFail","retry"}]}],"onFailure":[...]}
std::string render_plan_json(const Plan& plan, std::size_t jobs);

// --- reading results ------------------------------------------------------------------------

struct PlatformDigest {
  std::string platform;  // os/arch[/variant]
  std::string digest;
  friend bool operator==(const PlatformDigest&, const PlatformDigest&) = default;
};
// The instances of a Docker manifest list or OCI image index (JSON); throws imgf::Error
// (exit 1) when the text is not one.
std::vector<PlatformDigest> parse_manifest_list(std::string_view json);

// Whether a registry operation's error output describes a transient failure worth retrying
// (connection refused/reset, timeouts, EOF, 429, 5xx), as opposed to auth, name or manifest errors.
bool is_transient_registry_error(std::string_view error_text);

struct Result {
  std::string image;
  std::string reference;
  std::string tag;
  std::string digest;  // the manifest list's digest as pushed (empty when not pushed)
  std::vector<PlatformDigest> platforms;
  bool pushed = false;
  bool skipped = false;  // --if-changed: the inputs and the registry were unchanged, nothing was built
  std::vector<std::string> tags{};  // every tag pushed (`tag`, then `latest`); empty when nothing was pushed
};
// {"image","reference","tag","digest","platforms":[{"platform","digest"}],"pushed","skipped","tags"} (digest null when empty)
std::string render_result_json(const Result& r);
std::string render_result_text(const Result& r);

// --- executor -------------------------------------------------------------------------------

struct ExecOptions {
  std::size_t jobs = 0;  // 0: as many as a stage has steps
  int retries = 3;       // extra attempts of retry steps after a transient failure
  std::chrono::milliseconds retry_delay{2000};  // first backoff; doubles, capped at 30 s
  std::chrono::milliseconds timeout{0};         // the whole plan; 0: none
  std::chrono::milliseconds kill_grace{3000};   // SIGTERM -> SIGKILL for interrupted children
  std::filesystem::path cwd;                    // children's working directory
  // Receives every output line of every streamed step, with the step's label; default: spdlog.
  std::function<void(const std::string& label, std::string_view line)> on_line;
  // Sleeps between retries (injectable for tests); default: interruptible sleep.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Stdout of the steps that asked for it (capture), by label.
struct ExecOutput {
  std::map<std::string, std::string> captured;
};

// Runs the stages in order, the steps of a parallel stage concurrently up to `jobs`.
// On a failed step: the running steps of its stage finish, no further step starts, the
// on_failure steps run, and imgf::Error (exit 1) names the failed step(s) with their last
// error line. On SIGINT/SIGTERM: the children were signalled by the runner; on_failure runs
// and imgf::Error carries exit 130/143. On --timeout: children are stopped, exit 1.
ExecOutput execute(const Plan& plan, proc::Runner& runner, const ExecOptions& options);

// --- the command ----------------------------------------------------------------------------

struct Options {
  std::string image;
  std::vector<std::string> more_images;  // further IMAGE arguments (run_many)
  std::string tag;
  std::vector<std::string> platforms;  // as given; empty: linux/amd64,linux/arm64
  std::string registry;                // --registry / REGISTRY; empty: the enrollment's
  bool no_push = false;
  bool local = false;
  bool dry_run = false;
  std::vector<std::string> build_args;  // K=V
  std::size_t jobs = 0;
  int retries = 3;
  std::chrono::milliseconds retry_delay{2000};
  std::chrono::milliseconds timeout{0};
  std::string isolation;  // empty: BUILDAH_ISOLATION, else chroot
  Increment increment = Increment::none;
  std::string suffix;
  bool json = false;
  // Build inputs (issue 12; src/edge/build_inputs.cpp):
  std::vector<std::string> bases;  // --base repo[:tag]@sha256:… (empty values ignored)
  bool if_changed = false;         // skip when the recorded inputs and the pushed digest are unchanged
  std::string target;              // --target STAGE
  std::string cache_from;          // --cache-from REPO
  std::string cache_to;            // --cache-to REPO
  // Sources (issue 11): the commit of source.repo to build (empty: the branch's tip; Kargo
  // Jobs pass --revision "" when they have none) and the git cache (empty: analyze's default,
  // <state-dir>/.image-factory-cache).
  std::string revision;
  std::filesystem::path cache_dir;
};

// What a successful push recorded in images/<image>.yaml (state::update_image_state with
// `fields`): handed to Context::on_recorded for --git-commit's message and for re-applying the
// record on a newer tip of the state branch.
struct Recorded {
  std::string image;
  std::string reference;
  std::string tag;
  std::string digest;
  std::vector<std::pair<std::string, state::FieldValue>> fields;
  // The version file bumped after the push (empty path: none): it held `version_before` and
  // now holds `bumped_version`.
  std::filesystem::path version_file{};
  std::string version_before{};
  std::string bumped_version{};
};

// The version-file bump of a build, re-applied on a newer tip of the state branch (--git-push
// after someone pushed first): writes `bumped` unless the file there already holds that
// version or a later one (another build bumped it meanwhile, or someone set it higher).
void replay_version_bump(const std::filesystem::path& version_file, const std::string& bumped);

struct Context {
  std::filesystem::path state_dir;
  std::filesystem::path images_file;
  proc::Runner* runner = nullptr;
  std::function<std::string()> now;  // ISO 8601 UTC; default state::utc_now_iso8601
  std::string host_machine;          // uname machine; empty: uname(2)
  std::filesystem::path temp_dir;    // scratch workspaces; empty: $TMPDIR or /tmp
  registry::Client* registry = nullptr;  // digests (shared by run_many); null: run() makes its own
  std::function<void(const Recorded&)> on_recorded;  // after the state file was written
};

// Runs `imgfactory build`; prints the plan (dry run) or the result to stdout. Returns the
// exit code; throws imgf::Error for failures.
int run(const Options& options, const Context& context);

// `imgfactory build IMAGE...` with several images (src/edge/build_many.cpp): with --if-changed
// the registry questions of all of them are asked first, in parallel; then each image is built
// (or skipped) in turn, one result printed per image (a JSON object per line with --format
// json). A failing image does not stop the others; the exit code is the first failure's.
int run_many(const Options& options, const Context& context);

}  // namespace imgf::builder
