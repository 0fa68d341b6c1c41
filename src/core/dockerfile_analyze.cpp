// The build's meaning, as BuildKit's instructions package and dockerfile2llb decide it:
// instruction validation, stages and their names, meta ARGs and build args, the automatic
// platform ARGs, and which FROM / COPY --from / RUN --mount=from values are earlier stages,
// external images or scratch.
#include <algorithm>
#include <functional>
#include <optional>

#include "gotext.hpp"
#include "imgfactory/dockerfile.hpp"
#include "imgfactory/error.hpp"

namespace imgf::dockerfile {

namespace {

// ---- platforms ------------------------------------------------------------------------

struct Platform {
  std::string os, arch, variant;
  std::string format() const { return os + "/" + arch + (variant.empty() ? "" : "/" + variant); }
};

const std::vector<std::string>& known_os() {
  static const std::vector<std::string> v = {"aix", "android", "darwin", "dragonfly", "freebsd", "hurd",
                                             "illumos", "ios", "js", "linux", "nacl", "netbsd", "openbsd",
                                             "plan9", "solaris", "wasip1", "windows", "zos"};
  return v;
}

bool is_known(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// containerd's normalizeArch.
std::optional<std::pair<std::string, std::string>> normalize_arch(std::string arch, std::string variant) {
  static const std::vector<std::string> plain = {"amd64p32", "armbe", "arm64be", "ppc64", "ppc64le", "loong64", "mips",
                                                 "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc",
                                                 "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm"};
  arch = gotext::to_lower(arch);
  variant = gotext::to_lower(variant);
  if (arch == "i386" || arch == "386") return std::make_pair(std::string("386"), std::string());
  if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
    if (variant == "v1") variant.clear();
    return std::make_pair(std::string("amd64"), variant);
  }
  if (arch == "aarch64" || arch == "arm64") {
    if (variant == "8" || variant == "v8" || variant == "v8.0") variant.clear();
    return std::make_pair(std::string("arm64"), variant);
  }
  if (arch == "armhf") return std::make_pair(std::string("arm"), std::string("v7"));
  if (arch == "armel") return std::make_pair(std::string("arm"), std::string("v6"));
  if (arch == "arm") {
    if (variant.empty() || variant == "7") variant = "v7";
    else if (variant == "5" || variant == "6" || variant == "8") variant = "v" + variant;
    return std::make_pair(arch, variant);
  }
  if (is_known(plain, arch)) return std::make_pair(arch, variant);
  return std::nullopt;
}

Platform host() {
#if defined(__x86_64__)
  return {"linux", "amd64", ""};
#elif defined(__aarch64__)
  return {"linux", "arm64", ""};
#elif defined(__arm__)
  return {"linux", "arm", "v7"};
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
  return {"linux", "ppc64le", ""};
#elif defined(__s390x__)
  return {"linux", "s390x", ""};
#elif defined(__riscv) && __riscv_xlen == 64
  return {"linux", "riscv64", ""};
#else
  return {"linux", "amd64", ""};
#endif
}

Platform parse_platform(std::string_view spec) {
  auto bad = [&](const std::string& why) -> Error {
    return input_error("invalid platform \"" + std::string(spec) + "\": " + why, {}, 0,
                       "use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64");
  };
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = spec.find('/', start);
    parts.emplace_back(spec.substr(start, slash == std::string_view::npos ? spec.npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (const std::string& p : parts) {
    if (p.empty() || !std::all_of(p.begin(), p.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        }))
      throw bad("\"" + p + "\" is not a valid platform component");
  }
  if (parts.size() > 3) throw bad("too many components");
  Platform out;
  if (parts.size() == 1) {
    std::string p = gotext::to_lower(parts[0]);
    if (p == "macos") p = "darwin";
    if (is_known(known_os(), p)) {
      Platform h = host();
      out = {p, h.arch, h.variant};
      return out;
    }
    auto a = normalize_arch(p, "");
    if (!a) throw bad("unknown operating system or architecture");
    return {"linux", a->first, a->second};
  }
  out.os = gotext::to_lower(parts[0]);
  if (out.os == "macos") out.os = "darwin";
  if (!is_known(known_os(), out.os)) throw bad("unknown operating system \"" + parts[0] + "\"");
  auto a = normalize_arch(parts[1], parts.size() == 3 ? parts[2] : "");
  if (!a) throw bad("unknown architecture \"" + parts[1] + "\"");
  out.arch = a->first;
  out.variant = a->second;
  return out;
}

// ---- instructions ---------------------------------------------------------------------

enum class FlagType { boolean, string, strings };

struct FlagSpec {
  const char* name;
  FlagType type;
};

struct Flags {
  std::map<std::string, std::vector<std::string>> values;  // name -> values (bools: "true"/"false")
  std::string get(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() || it->second.empty() ? std::string() : it->second.back();
  }
};

// BFlags.Parse
Flags parse_flags(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs) {
  Flags out;
  for (const std::string& raw : args) {
    if (raw.rfind("--", 0) != 0) throw input_error("Arg should start with -- : " + raw);
    if (raw == "--") break;
    std::string arg = raw.substr(2);
    std::string value;
    std::size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto spec = std::find_if(specs.begin(), specs.end(), [&](const FlagSpec& s) { return arg == s.name; });
    if (spec == specs.end()) throw input_error("Unknown flag: " + arg);
    if (out.values.count(arg) && spec->type != FlagType::strings)
      throw input_error("Duplicate flag specified: " + arg);
    auto& slot = out.values[arg];
    switch (spec->type) {
      case FlagType::boolean: {
        if (eq != std::string::npos && value.empty()) throw input_error("Missing a value on flag: " + arg);
        std::string lower = gotext::to_lower(value);
        if (lower.empty()) lower = "true";
        if (lower != "true" && lower != "false")
          throw input_error("Expecting boolean value for flag " + arg + ", not: " + value);
        slot.push_back(lower);
        break;
      }
      case FlagType::string:
      case FlagType::strings:
        if (eq == std::string::npos) throw input_error("Missing a value on flag: " + arg);
        slot.push_back(value);
        break;
    }
  }
  return out;
}

std::vector<std::string> node_args(const Node& n) {
  std::vector<std::string> out = n.args;
  if (n.trigger) {
    out.push_back(n.trigger->value);
    std::vector<std::string> rest = node_args(*n.trigger);
    out.insert(out.end(), rest.begin(), rest.end());
  }
  return out;
}

struct Mount {
  std::string type = "bind";
  std::string from;
};

// encoding/csv: one record of comma-separated fields with "..." quoting.
std::vector<std::string> csv_fields(const std::string& value) {
  if (value.empty()) throw input_error("failed to parse csv mounts: EOF");
  std::vector<std::string> fields;
  std::size_t i = 0;
  while (true) {
    std::string field;
    if (i < value.size() && value[i] == '"') {
      ++i;
      while (true) {
        if (i >= value.size()) throw input_error("failed to parse csv mounts: extraneous or missing \" in quoted-field");
        if (value[i] == '"') {
          if (i + 1 < value.size() && value[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field.push_back(value[i++]);
      }
      if (i < value.size() && value[i] != ',')
        throw input_error("failed to parse csv mounts: extraneous or missing \" in quoted-field");
    } else {
      while (i < value.size() && value[i] != ',') {
        if (value[i] == '"') throw input_error("failed to parse csv mounts: bare \" in non-quoted-field");
        field.push_back(value[i++]);
      }
    }
    fields.push_back(std::move(field));
    if (i >= value.size()) break;
    ++i;  // ','
    if (i >= value.size()) {
      fields.emplace_back();
      break;
    }
  }
  return fields;
}

Mount parse_mount(const std::string& value) {
  Mount m;
  for (const std::string& field : csv_fields(value)) {
    std::size_t eq = field.find('=');
    std::string key = gotext::to_lower(field.substr(0, eq));
    if (eq == std::string::npos) {
      if (key == "readonly" || key == "ro" || key == "readwrite" || key == "rw" || key == "required") continue;
      throw input_error("invalid field '" + field + "' must be a key=value pair");
    }
    std::string v = field.substr(eq + 1);
    if (key == "from") {
      if (v.size() >= 2 && v.find('$') != std::string::npos && v.find('$') + 1 < v.size())
        throw input_error("'from' doesn't support variable expansion, define alias stage instead");
      m.from = v;
    } else if (key == "type") {
      std::string t = gotext::to_lower(v);
      if (v.find('$') == std::string::npos) {
        if (t != "bind" && t != "cache" && t != "tmpfs" && t != "secret" && t != "ssh")
          throw input_error("unsupported mount type \"" + v + "\"");
        m.type = t;
      }
    }
  }
  if (m.type == "secret" && !m.from.empty()) throw input_error("secret mount should not have a from");
  return m;
}

struct Command {
  const Node* node;
  std::string cmd;  // lowercase
  Flags flags;
};

struct StageDef {
  std::string base_name;
  std::string name;
  std::string platform;
  int line = 0;
  std::vector<Command> commands;
};

struct ArgDef {
  std::string key;
  std::optional<std::string> value;
  int line = 0;
};

void require_count(const std::vector<std::string>& args, std::size_t n, const char* cmd, bool exact) {
  if (exact && args.size() != n) throw input_error(std::string(cmd) + " requires exactly one argument");
  if (!exact && args.size() < n) throw input_error(std::string(cmd) + " requires at least one argument");
}

// ParseInstruction: validates one instruction; returns its flags.
Flags validate(const Node& n, const std::string& cmd, int depth = 0) {
  std::vector<std::string> args = node_args(n);
  auto flags = [&](std::vector<FlagSpec> specs) { return parse_flags(n.flags, specs); };
  if (cmd == "from") {
    if (args.size() == 3 && gotext::to_lower(args[1]) == "as") {
      std::string name = gotext::to_lower(args[2]);
      bool ok = !name.empty() && name[0] >= 'a' && name[0] <= 'z' &&
                std::all_of(name.begin(), name.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                });
      if (!ok)
        throw input_error("invalid name for build stage: " + gotext::quote(args[2]) +
                          ", name can't start with a number or contain symbols");
    } else if (args.size() != 1) {
      throw input_error("FROM requires either one or three arguments");
    }
    return flags({{"platform", FlagType::string}});
  }
  if (cmd == "env" || cmd == "label") {
    std::string up = gotext::to_upper(cmd);
    Flags f = flags({});
    if (args.empty()) throw input_error(up + " requires at least one argument");
    if (args.size() % 3 != 0) throw input_error(up + " has too many arguments");
    for (std::size_t j = 0; j < args.size(); j += 3)
      if (args[j].empty()) throw input_error(up + " names can not be blank");
    return f;
  }
  if (cmd == "add" || cmd == "copy") {
    std::string up = gotext::to_upper(cmd);
    if (args.size() < 2)
      throw input_error(up + " requires at least two arguments, but only one was provided. Destination could not be determined.");
    if (cmd == "add")
      return flags({{"chown", FlagType::string}, {"chmod", FlagType::string}, {"link", FlagType::boolean},
                    {"keep-git-dir", FlagType::boolean}, {"checksum", FlagType::string},
                    {"exclude", FlagType::strings}, {"unpack", FlagType::boolean}});
    return flags({{"chown", FlagType::string}, {"from", FlagType::string}, {"chmod", FlagType::string},
                  {"link", FlagType::boolean}, {"parents", FlagType::boolean}, {"exclude", FlagType::strings}});
  }
  if (cmd == "run") {
    Flags f = flags({{"mount", FlagType::strings}, {"network", FlagType::string}, {"security", FlagType::string},
                     {"device", FlagType::strings}});
    for (const std::string& m : f.values["mount"]) parse_mount(m);
    return f;
  }
  if (cmd == "cmd" || cmd == "entrypoint") return flags({});
  if (cmd == "maintainer" || cmd == "workdir" || cmd == "user") {
    require_count(args, 1, gotext::to_upper(cmd).c_str(), true);
    return flags({});
  }
  if (cmd == "stopsignal") {
    require_count(args, 1, "STOPSIGNAL", true);
    return {};
  }
  if (cmd == "expose") {
    require_count(args, 1, "EXPOSE", false);
    return flags({});
  }
  if (cmd == "volume") {
    require_count(args, 1, "VOLUME", false);
    Flags f = flags({});
    for (const std::string& v : args)
      if (gotext::trim_space(v).empty()) throw input_error("VOLUME specified can not be an empty string");
    return f;
  }
  if (cmd == "arg") {
    require_count(args, 1, "ARG", false);
    for (const std::string& a : args)
      if (a.find('=') == 0) throw input_error("ARG names can not be blank");
    return {};
  }
  if (cmd == "shell") {
    Flags f = flags({});
    if (args.empty()) throw input_error("SHELL requires at least one argument");
    if (!n.json) throw input_error("SHELL requires the arguments to be in JSON form");
    return f;
  }
  if (cmd == "healthcheck") {
    if (args.empty()) throw input_error("HEALTHCHECK requires at least one argument");
    std::string typ = gotext::to_upper(args[0]);
    if (typ == "NONE") {
      if (args.size() != 1) throw input_error("HEALTHCHECK NONE takes no arguments");
      return {};
    }
    Flags f = flags({{"interval", FlagType::string}, {"timeout", FlagType::string},
                     {"start-period", FlagType::string}, {"start-interval", FlagType::string},
                     {"retries", FlagType::string}});
    if (typ != "CMD") throw input_error("Unknown type " + gotext::quote(typ) + " in HEALTHCHECK (try CMD)");
    if (args.size() < 2) throw input_error("Missing command after HEALTHCHECK CMD");
    return f;
  }
  if (cmd == "onbuild") {
    if (args.empty() || !n.trigger) throw input_error("ONBUILD requires at least one argument");
    Flags f = flags({});
    std::string trig = gotext::to_upper(gotext::trim_space(n.trigger->value));
    if (trig == "ONBUILD") throw input_error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (trig == "MAINTAINER" || trig == "FROM") throw input_error(trig + " isn't allowed as an ONBUILD trigger");
    if (depth < 1) validate(*n.trigger, gotext::to_lower(n.trigger->value), depth + 1);
    return f;
  }
  throw input_error("unknown instruction: " + gotext::to_upper(n.value), {}, 0,
                    "instructions are FROM, RUN, CMD, LABEL, EXPOSE, ENV, ADD, COPY, ENTRYPOINT, VOLUME, USER, "
                    "WORKDIR, ARG, ONBUILD, STOPSIGNAL, HEALTHCHECK, SHELL, MAINTAINER");
}

bool is_integer(const std::string& s, long long& v) {  // strconv.Atoi
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (i >= s.size() || s.size() - i > 18) return false;
  for (std::size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return false;
  v = std::stoll(s);
  return true;
}

// ---- resolution for one target platform ---------------------------------------------------

struct Resolved {
  std::vector<Stage> stages;
  std::vector<BaseImage> base_images;
  std::vector<BaseImage> copy_from;
  std::string target;
};

struct Used {
  int stage;
  BaseImage image;
};

class Resolver {
 public:
  Resolver(const std::string& label, const std::vector<ArgDef>& meta, const std::vector<StageDef>& defs, char escape,
           const Options& opt)
      : label_(label), meta_(meta), defs_(defs), escape_(escape), opt_(opt) {}

  Resolved run(const Platform& target_platform) {
    Resolved out;
    std::vector<Used> bases;
    std::vector<Used> copies;
    shell::Env env = default_args(target_platform);
    for (const ArgDef& a : meta_) {
      auto over = opt_.build_args.find(a.key);
      std::optional<std::string> value;
      if (over != opt_.build_args.end()) {
        value = over->second;
      } else if (a.value) {
        value = expand(*a.value, env, a.line).result;
      }
      if (value) env[a.key] = *value;
    }
    std::map<std::string, int> by_name;
    for (std::size_t i = 0; i < defs_.size(); ++i) {
      const StageDef& d = defs_[i];
      Stage s{};
      s.index = static_cast<int>(i);
      s.name = d.name;
      s.from = d.base_name;
      s.platform = d.platform;
      s.line = d.line;
      s.resolved = expand(d.base_name, env, d.line).result;
      if (s.resolved.empty())
        throw input_error("base name (" + d.base_name + ") should not be blank", label_, d.line,
                          "the FROM line expands to nothing: set the ARG it uses (--build-arg) or give it a default");
      std::optional<Platform> stage_platform;
      if (!d.platform.empty()) {
        std::string p = expand(d.platform, env, d.line).result;
        if (p.empty()) throw input_error("empty platform value from expression " + d.platform, label_, d.line);
        try {
          stage_platform = parse_platform(p);
        } catch (const Error& e) {
          throw input_error("failed to parse platform " + d.platform + ": " + e.message(), label_, d.line);
        }
      }
      if (auto it = by_name.find(s.resolved); it != by_name.end()) {
        s.kind = StageKind::stage;
        s.base_stage = it->second;
      } else if (s.resolved == "scratch") {
        s.kind = StageKind::scratch;
      } else {
        s.kind = StageKind::image;
        bases.push_back({s.index, image(s.resolved, d.line, "failed to parse stage name")});
      }
      if (stage_platform)
        s.resolved_platform = stage_platform->format();
      else if (s.kind == StageKind::stage)
        s.resolved_platform = out.stages[static_cast<std::size_t>(s.base_stage)].resolved_platform;
      else
        s.resolved_platform = target_platform.format();
      if (!s.name.empty()) by_name[s.name] = s.index;
      out.stages.push_back(std::move(s));
    }

    int target = static_cast<int>(defs_.size()) - 1;
    if (!opt_.target.empty()) {
      auto it = by_name.find(gotext::to_lower(opt_.target));
      if (it == by_name.end())
        throw input_error("target stage \"" + opt_.target + "\" could not be found", label_, 0,
                          "--target names a stage declared with FROM ... AS NAME");
      target = it->second;
    }
    out.target = defs_[static_cast<std::size_t>(target)].name.empty() ? std::to_string(target)
                                                                         : defs_[static_cast<std::size_t>(target)].name;

    // Dependencies through COPY --from and RUN --mount=from.
    std::vector<std::vector<int>> deps(defs_.size());
    for (std::size_t i = 0; i < defs_.size(); ++i) {
      if (out.stages[i].kind == StageKind::stage) deps[i].push_back(out.stages[i].base_stage);
      for (const Command& c : defs_[i].commands) {
        int line = c.node->start_line;
        auto source = [&](const std::string& from, bool allow_index) {
          long long idx = 0;
          int dep = -1;
          if (allow_index && is_integer(from, idx)) {
            if (idx < 0 || idx >= static_cast<long long>(defs_.size()))
              throw input_error("invalid stage index " + std::to_string(idx), label_, line);
            dep = static_cast<int>(idx);
          } else if (auto it = by_name.find(gotext::to_lower(from)); it != by_name.end()) {
            dep = it->second;
          }
          if (dep >= 0) {
            if (dep >= static_cast<int>(i))
              throw input_error("cannot copy from stage \"" + from + "\", it needs to be defined before current stage \"" +
                                    (defs_[i].name.empty() ? "stage-" + std::to_string(i) : defs_[i].name) + "\"",
                                label_, line);
            deps[i].push_back(dep);
            return;
          }
          if (from == "scratch") return;
          copies.push_back({static_cast<int>(i), image(from, line, "failed to parse stage name")});
        };
        if (c.cmd == "copy") {
          std::string from = c.flags.get("from");
          if (!from.empty()) source(from, true);
        } else if (c.cmd == "run") {
          auto it = c.flags.values.find("mount");
          if (it == c.flags.values.end()) continue;
          for (const std::string& mv : it->second) {
            Mount m;
            try {
              m = parse_mount(mv);
            } catch (const Error& e) {
              throw input_error(e.message(), label_, line);
            }
            std::string from = m.from;
            if (from.empty() && m.type == "cache") from = "scratch";
            if (from.empty() || m.type == "tmpfs") continue;
            source(from, false);
          }
        }
      }
    }
    // Reachability from the target.
    std::vector<bool> reach(defs_.size(), false);
    std::vector<int> todo{target};
    while (!todo.empty()) {
      int s = todo.back();
      todo.pop_back();
      if (reach[static_cast<std::size_t>(s)]) continue;
      reach[static_cast<std::size_t>(s)] = true;
      for (int d : deps[static_cast<std::size_t>(s)]) todo.push_back(d);
    }
    for (std::size_t i = 0; i < out.stages.size(); ++i) out.stages[i].reachable = reach[i];
    // Stop after the target: drop later stages and the images only they use.
    out.stages.resize(static_cast<std::size_t>(target) + 1);
    for (Used& u : bases)
      if (u.stage <= target) out.base_images.push_back(std::move(u.image));
    for (Used& u : copies)
      if (u.stage <= target) out.copy_from.push_back(std::move(u.image));
    return out;
  }

 private:
  shell::Env default_args(const Platform& target) const {
    Platform build = host();
    std::string target_name = opt_.target.empty() ? defs_.back().name : opt_.target;
    std::vector<std::pair<std::string, std::string>> defaults = {
        {"BUILDPLATFORM", build.format()}, {"BUILDOS", build.os},       {"BUILDOSVERSION", ""},
        {"BUILDARCH", build.arch},         {"BUILDVARIANT", build.variant}, {"TARGETPLATFORM", target.format()},
        {"TARGETOS", target.os},           {"TARGETOSVERSION", ""},     {"TARGETARCH", target.arch},
        {"TARGETVARIANT", target.variant}, {"TARGETSTAGE", target_name}};
    shell::Env env;
    for (auto& [k, v] : defaults) {
      auto over = opt_.build_args.find(k);
      env[k] = over != opt_.build_args.end() ? over->second : v;
    }
    return env;
  }

  shell::Result expand(const std::string& word, const shell::Env& env, int line) const {
    shell::Options o;
    o.escape_token = static_cast<unsigned char>(escape_);
    try {
      return shell::process(word, env, o);
    } catch (const Error& e) {
      throw input_error(e.message(), label_, line);
    }
  }

  BaseImage image(const std::string& ref, int line, const char* what) const {
    std::string why;
    auto parsed = reference::try_parse(ref, &why);
    if (!parsed) throw input_error(std::string(what) + " \"" + ref + "\": " + why, label_, line);
    return BaseImage{ref, reference::state_name(ref), *parsed, line};
  }

  const std::string& label_;
  const std::vector<ArgDef>& meta_;
  const std::vector<StageDef>& defs_;
  char escape_;
  const Options& opt_;
};

void add_unique(std::vector<BaseImage>& into, const std::vector<BaseImage>& from) {
  for (const BaseImage& b : from) {
    // One image however it is spelled (alpine, docker.io/library/alpine:latest): the canonical form.
    std::string key = b.parsed.canonical();
    if (std::none_of(into.begin(), into.end(), [&](const BaseImage& x) { return x.parsed.canonical() == key; }))
      into.push_back(b);
  }
}

}  // namespace

std::string host_platform() { return host().format(); }

std::string normalize_platform(std::string_view platform) { return parse_platform(platform).format(); }

const char* kind_name(StageKind kind) {
  switch (kind) {
    case StageKind::image: return "image";
    case StageKind::stage: return "stage";
    case StageKind::scratch: return "scratch";
  }
  return "image";
}

Analysis analyze(std::string_view content, const std::string& file_label, const Options& options) {
  Ast ast = parse(content, file_label);
  std::vector<ArgDef> meta;
  std::vector<StageDef> defs;
  for (const Node& n : ast.children) {
    std::string cmd = gotext::to_lower(n.value);
    Flags flags;
    try {
      flags = validate(n, cmd);
    } catch (const Error& e) {
      throw input_error(e.message(), file_label, n.start_line, e.hint());
    }
    if (defs.empty() && cmd == "arg") {
      for (const std::string& a : n.args) {
        ArgDef def;
        def.line = n.start_line;
        std::size_t eq = a.find('=');
        def.key = a.substr(0, eq);
        if (eq != std::string::npos) def.value = a.substr(eq + 1);
        meta.push_back(std::move(def));
      }
      continue;
    }
    if (cmd == "from") {
      StageDef d;
      d.base_name = n.args[0];
      if (n.args.size() == 3) d.name = gotext::to_lower(n.args[2]);
      d.platform = flags.get("platform");
      d.line = n.start_line;
      defs.push_back(std::move(d));
      continue;
    }
    if (defs.empty())
      throw input_error("no build stage in current context", file_label, n.start_line,
                        "only ARG may come before the first FROM");
    defs.back().commands.push_back(Command{&n, cmd, std::move(flags)});
  }
  if (defs.empty())
    throw input_error("dockerfile contains no stages to build", file_label, ast.children.back().start_line,
                      "add a FROM instruction");

  std::vector<Platform> platforms;
  if (options.platforms.empty()) {
    platforms.push_back(host());
  } else {
    for (const std::string& p : options.platforms) {
      Platform pl = parse_platform(p);
      if (std::none_of(platforms.begin(), platforms.end(), [&](const Platform& x) { return x.format() == pl.format(); }))
        platforms.push_back(pl);
    }
  }

  Analysis result;
  result.warnings = ast.warnings;
  Resolver resolver(file_label, meta, defs, ast.escape_token, options);
  for (std::size_t i = 0; i < platforms.size(); ++i) {
    Resolved r = resolver.run(platforms[i]);
    if (i == 0) {
      result.stages = std::move(r.stages);
      result.target = r.target;
    }
    add_unique(result.base_images, r.base_images);
    add_unique(result.copy_from_images, r.copy_from);
    result.platforms.push_back(platforms[i].format());
  }
  return result;
}

}  // namespace imgf::dockerfile
