// The pure half of `imgfactory build`: values (platforms, tags, versions, durations), the
// plan (the exact argv of every buildah/skopeo call, in stages) and the reading of results.
// No processes, files, environment or clock here.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <set>

#include "imgfactory/builder.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/reference.hpp"

namespace imgf::builder {
namespace {

bool is_lower_word(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 9 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const char* kind_name(Step::Kind k) {
  switch (k) {
    case Step::Kind::prepare: return "prepare";
    case Step::Kind::build: return "build";
    case Step::Kind::assemble: return "assemble";
    case Step::Kind::push: return "push";
    case Step::Kind::inspect: return "inspect";
    case Step::Kind::cleanup: return "cleanup";
  }
  return "?";
}

}  // namespace

// --- values ---------------------------------------------------------------------------------

std::string Platform::str() const { return os + "/" + arch + (variant.empty() ? "" : "/" + variant); }
std::string Platform::slug() const { return os + "-" + arch + (variant.empty() ? "" : "-" + variant); }

std::optional<Platform> parse_platform(std::string_view text) {
  auto parts = split(text, '/');
  if (parts.size() < 2 || parts.size() > 3) return std::nullopt;
  for (auto p : parts)
    if (!is_lower_word(p)) return std::nullopt;
  Platform pl{std::string(parts[0]), std::string(parts[1]), parts.size() == 3 ? std::string(parts[2]) : ""};
  return pl;
}

std::vector<Platform> parse_platforms(const std::vector<std::string>& values) {
  std::vector<Platform> out;
  for (const auto& v : values) {
    for (auto item : split(v, ',')) {
      std::string t = trim(item);
      if (t.empty()) continue;
      auto p = parse_platform(t);
      if (!p)
        throw input_error("--platform '" + t + "' is not os/arch[/variant]", {}, 0,
                          "for example linux/amd64,linux/arm64 or linux/arm/v7");
      if (std::find(out.begin(), out.end(), *p) != out.end())
        throw input_error("--platform lists " + t + " twice");
      out.push_back(*p);
    }
  }
  if (out.empty()) out = {Platform{"linux", "amd64", ""}, Platform{"linux", "arm64", ""}};
  return out;
}

std::optional<Platform> platform_for_machine(std::string_view m) {
  if (m == "x86_64" || m == "amd64") return Platform{"linux", "amd64", ""};
  if (m == "aarch64" || m == "arm64") return Platform{"linux", "arm64", ""};
  if (m == "armv7l" || m == "armv7") return Platform{"linux", "arm", "v7"};
  if (m == "armv6l") return Platform{"linux", "arm", "v6"};
  if (m == "i386" || m == "i686") return Platform{"linux", "386", ""};
  if (m == "ppc64le" || m == "s390x" || m == "riscv64") return Platform{"linux", std::string(m), ""};
  return std::nullopt;
}

std::optional<Increment> parse_increment(std::string_view text) {
  if (text.empty()) return Increment::none;
  if (text == "major") return Increment::major;
  if (text == "minor") return Increment::minor;
  if (text == "patch") return Increment::patch;
  return std::nullopt;
}

std::string bump_version(std::string_view current, Increment increment) {
  std::string v = trim(current);
  std::string prefix;
  if (!v.empty() && (v[0] == 'v' || v[0] == 'V')) {
    prefix = v.substr(0, 1);
    v.erase(0, 1);
  }
  if (auto cut = v.find_first_of("-+"); cut != std::string::npos) v.resize(cut);
  auto parts = split(v, '.');
  if (parts.size() > 3 || !std::all_of(parts.begin(), parts.end(), all_digits))
    throw input_error("cannot increment version '" + std::string(current) + "': not MAJOR.MINOR.PATCH", {}, 0,
                      "give the tag with --tag, or fix currentVersion in the state file");
  long n[3] = {0, 0, 0};
  for (std::size_t i = 0; i < parts.size(); ++i) n[i] = std::stol(std::string(parts[i]));
  switch (increment) {
    case Increment::major: n[0] += 1; n[1] = 0; n[2] = 0; break;
    case Increment::minor: n[1] += 1; n[2] = 0; break;
    case Increment::patch: n[2] += 1; break;
    case Increment::none: break;
  }
  return prefix + std::to_string(n[0]) + "." + std::to_string(n[1]) + "." + std::to_string(n[2]);
}

std::string version_suffix(std::string_view suffix) {
  std::string out = "-";
  for (char c : lower(suffix)) out += ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ? c : '-';
  return out;
}

std::string resolve_tag(const TagInputs& in) {
  if (!in.explicit_tag.empty() && in.increment != Increment::none)
    throw input_error("--tag and --increment exclude each other", {}, 0,
                      "--increment computes the tag from the state's currentVersion");
  std::string tag;
  if (!in.explicit_tag.empty()) {
    tag = in.explicit_tag;
  } else if (in.increment != Increment::none) {
    std::string base = !trim(in.current_version).empty() ? in.current_version
                       : !trim(in.version_file).empty() ? in.version_file
                                                         : "0.0.0";
    tag = bump_version(base, in.increment);
  } else if (!trim(in.version_file).empty()) {
    tag = trim(in.version_file);
  } else {
    tag = "latest";
  }
  if (!in.suffix.empty()) tag += version_suffix(in.suffix);
  if (!reference::is_valid_tag(tag))
    throw input_error("'" + tag + "' is not a valid image tag", {}, 0,
                      "a tag is 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'");
  return tag;
}

std::pair<std::string, std::string> parse_build_arg(std::string_view text) {
  auto eq = text.find('=');
  std::string key(text.substr(0, eq));
  bool ok = eq != std::string_view::npos && !key.empty() &&
            std::none_of(key.begin(), key.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
  if (!ok)
    throw input_error("--build-arg '" + std::string(text) + "' is not KEY=VALUE", {}, 0,
                      "for example --build-arg BASE=127.0.0.1:5000/team/base:1.0");
  return {key, std::string(text.substr(eq + 1))};
}

std::vector<std::pair<std::string, std::string>> oci_labels(const std::string& source_url,
                                                            const std::string& revision,
                                                            const std::string& created,
                                                            const std::string& version,
                                                            const std::string& title,
                                                            const std::string& description) {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const char* key, const std::string& v) {
    if (!v.empty()) out.emplace_back(std::string("org.opencontainers.image.") + key, v);
  };
  add("source", source_url);
  add("revision", revision);
  add("created", created);
  add("version", version);
  add("title", title);
  add("description", description);
  return out;
}

// --- plan -----------------------------------------------------------------------------------

std::string platform_image(const PlanInput& in, const Platform& p) {
  std::string suffix = "-" + p.slug();
  std::string tag = in.tag;
  if (tag.size() + suffix.size() > 128) tag = fsutil::sha256_hex(in.tag).substr(0, 16);
  return "localhost/imgfactory-build/" + reference::parse(in.reference).path + ":" + tag + suffix;
}

Plan make_plan(const PlanInput& in) {
  if (in.platforms.empty()) throw input_error("no platform to build");
  if (in.local && in.platforms.size() != 1) throw input_error("--local builds exactly one platform");
  Plan plan;
  plan.reference = in.reference;

  auto build_argv = [&](const Platform& p, const std::string& tag) {
    auto pinned = in.platform_dockerfiles.find(p.str());
    const std::filesystem::path& file = pinned != in.platform_dockerfiles.end() ? pinned->second : in.dockerfile;
    std::vector<std::string> a = {"buildah", "build", "--isolation", in.isolation, "--platform", p.str(), "--layers"};
    if (!in.timestamp.empty()) a.insert(a.end(), {"--timestamp", in.timestamp});
    if (!in.cache_from.empty()) a.insert(a.end(), {"--cache-from", in.cache_from});
    if (!in.cache_to.empty()) a.insert(a.end(), {"--cache-to", in.cache_to});
    if (!in.target.empty()) a.insert(a.end(), {"--target", in.target});
    a.insert(a.end(), {"--file", file.string(), "--tag", tag});
    for (const auto& [k, v] : in.build_args) {
      a.emplace_back("--build-arg");
      a.push_back(k + "=" + v);
    }
    for (const auto& [k, v] : in.labels) {
      a.emplace_back("--label");
      a.push_back(k + "=" + v);
    }
    a.push_back(in.context.string());
    return a;
  };

  if (in.local) {
    const Platform& p = in.platforms.front();
    plan.stages.push_back(Stage{"build", false, {Step{Step::Kind::build, p.str(), build_argv(p, in.reference)}}});
    Step inspect{Step::Kind::inspect, "inspect",
                 {"buildah", "inspect", "--type", "image", "--format", "{{.FromImageDigest}}", in.reference}};
    inspect.capture = true;
    plan.stages.push_back(Stage{"inspect", false, {inspect}});
    return plan;
  }

  plan.list = in.reference;
  Step stale{Step::Kind::prepare, "prepare", {"buildah", "manifest", "rm", plan.list}};
  stale.may_fail = true;  // a list left behind by an earlier run of the same tag
  plan.stages.push_back(
      Stage{"prepare", false, {stale, Step{Step::Kind::prepare, "prepare", {"buildah", "manifest", "create", plan.list}}}});

  // Each platform builds into its own local tag; the list is assembled afterwards, one add at a
  // time: concurrent `buildah build --manifest` into one list can lose an instance (each
  // process reads the list, adds its image and writes it back).
  Stage builds{"build", true, {}};
  Stage assemble{"assemble", false, {}};
  for (const auto& p : in.platforms) {
    std::string image = platform_image(in, p);
    builds.steps.push_back(Step{Step::Kind::build, p.str(), build_argv(p, image)});
    assemble.steps.push_back(Step{Step::Kind::assemble, p.str(),
                                  {"buildah", "manifest", "add", plan.list, "containers-storage:" + image}});
  }
  plan.stages.push_back(std::move(builds));
  plan.stages.push_back(std::move(assemble));

  if (in.push) {
    plan.digest_file = in.workspace / "manifest-list.digest";
    Step push{Step::Kind::push, "push",
              {"buildah", "manifest", "push", "--all", "--digestfile", plan.digest_file.string(), plan.list,
               "docker://" + in.reference}};
    push.retry = true;
    push.produces = plan.digest_file;
    plan.stages.push_back(Stage{"push", false, {push}});
    Step readback{Step::Kind::inspect, "inspect", {"skopeo", "inspect", "--raw", "docker://" + in.reference}};
    readback.retry = true;
    readback.capture = true;
    plan.stages.push_back(Stage{"inspect", false, {readback}});
    if (!in.also_tags.empty()) {
      const std::string repo = in.reference.substr(0, in.reference.rfind(':'));
      Stage tags{"tag", false, {}};
      for (const auto& t : in.also_tags) {
        Step copy{Step::Kind::push, "tag " + t,
                  {"skopeo", "copy", "--all", "--preserve-digests", "docker://" + in.reference,
                   "docker://" + repo + ":" + t}};
        copy.retry = true;
        tags.steps.push_back(std::move(copy));
      }
      plan.stages.push_back(std::move(tags));
    }
  } else {
    Step inspect{Step::Kind::inspect, "inspect", {"buildah", "manifest", "inspect", plan.list}};
    inspect.capture = true;
    plan.stages.push_back(Stage{"inspect", false, {inspect}});
  }
  Step remove{Step::Kind::cleanup, "cleanup", {"buildah", "manifest", "rm", plan.list}};
  remove.may_fail = true;
  plan.on_failure.push_back(remove);
  return plan;
}

std::string render_plan_json(const Plan& plan, std::size_t jobs) {
  auto step_json = [](const Step& s) {
    return nlohmann::ordered_json{{"kind", kind_name(s.kind)}, {"label", s.label}, {"argv", s.argv},
                                  {"mayFail", s.may_fail}, {"retry", s.retry}};
  };
  nlohmann::ordered_json j;
  j["reference"] = plan.reference;
  j["jobs"] = jobs;
  j["stages"] = nlohmann::ordered_json::array();
  for (const auto& stage : plan.stages) {
    nlohmann::ordered_json st{{"name", stage.name}, {"parallel", stage.parallel}, {"steps", nlohmann::ordered_json::array()}};
    for (const auto& s : stage.steps) st["steps"].push_back(step_json(s));
    j["stages"].push_back(st);
  }
  j["onFailure"] = nlohmann::ordered_json::array();
  for (const auto& s : plan.on_failure) j["onFailure"].push_back(step_json(s));
  return j.dump(2) + "\n";
}

// --- results --------------------------------------------------------------------------------

std::vector<PlatformDigest> parse_manifest_list(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("manifests") || !j["manifests"].is_array())
    throw failure("the registry did not return a manifest list or image index");
  std::vector<PlatformDigest> out;
  for (const auto& m : j["manifests"]) {
    if (!m.is_object() || !m.contains("digest") || !m["digest"].is_string()) continue;
    std::string platform;
    if (m.contains("platform") && m["platform"].is_object()) {
      const auto& p = m["platform"];
      platform = p.value("os", "") + "/" + p.value("architecture", "");
      if (std::string v = p.value("variant", ""); !v.empty()) platform += "/" + v;
    }
    out.push_back(PlatformDigest{platform, m["digest"].get<std::string>()});
  }
  return out;
}

bool is_transient_registry_error(std::string_view error_text) {
  std::string t = lower(error_text);
  static const char* permanent[] = {"unauthorized", "authentication required", "denied", "name unknown",
                                    "manifest invalid", "manifest unknown", "x509:", "certificate"};
  static const char* transient[] = {"connection refused", "connection reset", "broken pipe", "i/o timeout",
                                    "timeout", "tls handshake", "eof", "temporary failure",
                                    "server misbehaving", "use of closed network connection", "deadline exceeded",
                                    "too many requests", "internal server error", "bad gateway",
                                    "service unavailable", "gateway timeout", "no route to host",
                                    "network is unreachable"};
  for (const char* p : permanent)
    if (t.find(p) != std::string::npos) return false;
  for (const char* p : transient)
    if (t.find(p) != std::string::npos) return true;
  return false;
}

std::string render_result_json(const Result& r) {
  nlohmann::ordered_json j;
  j["image"] = r.image;
  j["reference"] = r.reference;
  j["tag"] = r.tag;
  j["digest"] = r.digest.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.digest);
  j["platforms"] = nlohmann::ordered_json::array();
  for (const auto& p : r.platforms) j["platforms"].push_back({{"platform", p.platform}, {"digest", p.digest}});
  j["pushed"] = r.pushed;
  j["skipped"] = r.skipped;
  j["tags"] = r.tags;
  return j.dump() + "\n";
}

std::string render_result_text(const Result& r) {
  std::string out = (r.skipped ? "unchanged, not built: " : r.pushed ? "pushed " : "built ") + r.reference;
  if (!r.digest.empty()) out += "@" + r.digest;
  out += "\n";
  for (const auto& p : r.platforms) out += "  " + p.platform + "  " + p.digest + "\n";
  for (const auto& t : r.tags)
    if (t != r.tag) out += "  also tagged " + t + "\n";
  return out;
}

}  // namespace imgf::builder
