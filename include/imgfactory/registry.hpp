#pragma once
// What a registry serves now: the digest of the manifest a reference resolves to (for a
// multi-platform image the index digest, i.e. the sha256 of the raw manifest as served) and
// its per-platform manifests. Asked with skopeo through proc::Runner (argv only), with the
// retries, backoff and transient-error rules of `build` (its executor runs each query as a
// one-step plan), skopeo's own per-attempt timeout, and several queries in parallel (bounded).
// Credentials and insecure registries are configured the containers way — REGISTRY_AUTH_FILE,
// registries.conf and its drop-ins — read by skopeo itself; nothing is passed on the command line.
//
// The manifest reading (describe_manifest, platform_of_config, query_reference) is pure
// (src/core/registry_manifest.cpp); the Client is the edge (src/edge/registry.cpp).
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imgfactory/builder.hpp"
#include "imgfactory/process.hpp"
#include "imgfactory/reference.hpp"

namespace imgf::registry {

// --- pure -------------------------------------------------------------------------------------

struct Manifest {
  std::string digest;      // "sha256:" + sha256 of the raw bytes
  std::string media_type;  // as the document says (may be empty for old Docker lists)
  bool index = false;      // an OCI image index or a Docker manifest list
  std::vector<builder::PlatformDigest> platforms;  // index: its instances, in order
  std::string config_digest;  // a single image manifest: its config blob
  std::string platform;       // a schema-1 manifest: os/arch as it says; else ""
};
// Reads a raw manifest as a registry serves it; imgf::Error (exit 1) when it is not one.
Manifest describe_manifest(std::string_view raw);
// os/arch[/variant] of an image config blob (JSON); "" when it does not say.
std::string platform_of_config(std::string_view config_json);
// The manifest of `platform` (os/arch[/variant]) among an index's instances: the exact match,
// else the only instance of the same os/arch; "" when there is none.
std::string instance_for(const std::vector<builder::PlatformDigest>& instances, std::string_view platform);
// The reference skopeo is asked for: name:tag, or name@digest when there is a digest
// (containers/image refuses a tag together with a digest).
std::string query_reference(const reference::Reference& ref);

// --- edge -------------------------------------------------------------------------------------

struct Resolved {
  std::string reference;  // the query reference (query_reference)
  std::string digest;     // what it serves now
  bool index = false;
  // os/arch[/variant] -> manifest digest: an index's instances; for a single image its own
  // platform (from its config) and digest.
  std::vector<builder::PlatformDigest> platforms;
};

struct Options {
  int retries = 3;                                    // as `build --retries`
  std::chrono::milliseconds retry_delay{2000};        // as `build --retry-delay`: doubles, capped at 30 s
  std::chrono::milliseconds attempt_timeout{30000};   // skopeo --command-timeout, per attempt
  std::size_t jobs = 8;                               // queries at the same time
  std::function<void(std::chrono::milliseconds)> sleep;  // between retries; default: interruptible
};

struct Outcome {
  std::string reference;            // as asked
  std::optional<Resolved> resolved;  // nullopt: failed
  std::string error;                 // why, one line (names the reference and skopeo's error)
};

class Client {
 public:
  explicit Client(proc::Runner& runner, Options options = {});

  // What `reference` (any spelling reference::parse accepts) serves now. Answers are kept for
  // the life of the Client. Throws imgf::Error: exit 2 for a malformed reference, exit 1 when
  // the registry cannot tell (after the retries), 130/143 when interrupted.
  Resolved resolve(const std::string& reference);
  // Many references, up to Options::jobs at a time; each one asked once. Never throws for a
  // registry failure (see Outcome::error); 130/143 when interrupted.
  std::vector<Outcome> resolve_all(const std::vector<std::string>& references);
  // Forget the answers about one repository (its canonical <domain>/<path>), e.g. after a push.
  void forget(const std::string& repository_url);
  // Number of skopeo processes started so far (for logs and benchmarks).
  [[nodiscard]] std::size_t queries() const;

 private:
  std::string skopeo_raw(const std::vector<std::string>& args, const std::string& label);
  Resolved ask(const reference::Reference& ref);

  proc::Runner& runner_;
  Options options_;
  mutable std::mutex mu_;
  std::map<std::string, Outcome> memo_;  // by query reference
  std::size_t queries_ = 0;
};

}  // namespace imgf::registry
