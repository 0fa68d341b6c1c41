// Image references: a hand-written matcher for the distribution reference grammar, so that
// every rejection can say which part is wrong. The accept/reject decisions follow the
// grammar's regular expressions (see reference.hpp); where the grammar is ambiguous (a
// first component that is both a valid host and a valid path component) the host reading
// wins, as in the Go implementation.
#include "imgfactory/reference.hpp"

#include <algorithm>

#include "gotext.hpp"
#include "imgfactory/error.hpp"

namespace imgf::reference {

namespace {

constexpr std::size_t kMaxPath = 255;
constexpr std::size_t kMaxTag = 128;

bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_word(char c) { return is_alnum(c) || c == '_'; }
bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool valid_domain_component(std::string_view c) {
  if (c.empty() || !is_alnum(c.front()) || !is_alnum(c.back())) return false;
  return std::all_of(c.begin(), c.end(), [](char ch) { return is_alnum(ch) || ch == '-'; });
}

bool valid_domain_name(std::string_view d) {
  if (d.empty()) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = d.find('.', start);
    std::string_view comp = d.substr(start, dot == std::string_view::npos ? d.npos : dot - start);
    if (!valid_domain_component(comp)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool valid_port(std::string_view p) {
  return !p.empty() && std::all_of(p.begin(), p.end(), is_digit);
}

// host [":" port], host = domain-name | "[" [a-fA-F0-9:]+ "]"
bool valid_domain_and_port(std::string_view d) {
  if (!d.empty() && d.front() == '[') {
    std::size_t close = d.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    std::string_view inner = d.substr(1, close - 1);
    if (!std::all_of(inner.begin(), inner.end(), [](char c) { return is_hex(c) || c == ':'; }))
      return false;
    std::string_view rest = d.substr(close + 1);
    if (rest.empty()) return true;
    return rest.front() == ':' && valid_port(rest.substr(1));
  }
  std::size_t colon = d.find(':');
  if (colon == std::string_view::npos) return valid_domain_name(d);
  return valid_domain_name(d.substr(0, colon)) && valid_port(d.substr(colon + 1));
}

// [a-z0-9]+ ((?:[._]|__|[-]+)[a-z0-9]+)*
bool valid_path_component(std::string_view c) {
  std::size_t i = 0;
  auto alnum_run = [&] {
    std::size_t start = i;
    while (i < c.size() && is_alnum_lower(c[i])) ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < c.size()) {
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < c.size() && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnum_run()) return false;
  }
  return true;
}

// The first path component that breaks the grammar, or nullopt when all are fine.
std::optional<std::string> bad_path_component(std::string_view p) {
  std::size_t start = 0;
  while (true) {
    std::size_t slash = p.find('/', start);
    std::string_view comp = p.substr(start, slash == std::string_view::npos ? p.npos : slash - start);
    if (!valid_path_component(comp)) return std::string(comp);
    if (slash == std::string_view::npos) return std::nullopt;
    start = slash + 1;
  }
}

bool valid_remote_name(std::string_view p) { return !bad_path_component(p).has_value(); }

// [A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}
bool matches_digest_pattern(std::string_view d) {
  std::size_t colon = d.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view alg = d.substr(0, colon);
  std::string_view hex = d.substr(colon + 1);
  if (hex.size() < 32 || !std::all_of(hex.begin(), hex.end(), is_hex)) return false;
  std::size_t i = 0;
  auto component = [&] {
    if (i >= alg.size() || !((alg[i] >= 'a' && alg[i] <= 'z') || (alg[i] >= 'A' && alg[i] <= 'Z')))
      return false;
    ++i;
    while (i < alg.size() && is_alnum(alg[i])) ++i;
    return true;
  };
  if (!component()) return false;
  while (i < alg.size()) {
    char c = alg[i];
    if (c != '-' && c != '_' && c != '+' && c != '.') return false;
    ++i;
    if (!component()) return false;
  }
  return true;
}

// go-digest's validation of a digest that matched the pattern; "" when valid.
std::string digest_problem(std::string_view d) {
  std::size_t colon = d.find(':');
  std::string_view alg = d.substr(0, colon);
  std::string_view hex = d.substr(colon + 1);
  std::size_t want = 0;
  if (alg == "sha256") want = 64;
  else if (alg == "sha384") want = 96;
  else if (alg == "sha512") want = 128;
  else
    return "unsupported digest algorithm \"" + std::string(alg) + "\" (sha256, sha384 or sha512)";
  if (hex.size() != want)
    return "a " + std::string(alg) + " digest has " + std::to_string(want) + " hex digits, not " +
           std::to_string(hex.size());
  if (!std::all_of(hex.begin(), hex.end(), [](char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }))
    return "digest hex must be lowercase [0-9a-f]";
  return {};
}

struct Split {
  std::string domain;
  std::string remainder;
};

// splitDockerDomain: decides whether the first component is a registry host.
Split split_docker_domain(std::string_view name) {
  std::size_t slash = name.find('/');
  if (slash == std::string_view::npos) return {"docker.io", "library/" + std::string(name)};
  std::string_view maybe_domain = name.substr(0, slash);
  std::string_view maybe_remote = name.substr(slash + 1);
  Split s;
  if (maybe_domain == "localhost") {
    s = {std::string(maybe_domain), std::string(maybe_remote)};
  } else if (maybe_domain == "index.docker.io") {
    s = {"docker.io", std::string(maybe_remote)};
  } else if (maybe_domain.find_first_of(".:") != std::string_view::npos) {
    s = {std::string(maybe_domain), std::string(maybe_remote)};
  } else if (gotext::to_lower(maybe_domain) != maybe_domain) {
    s = {std::string(maybe_domain), std::string(maybe_remote)};
  } else {
    s = {"docker.io", std::string(name)};
  }
  if (s.domain == "docker.io" && s.remainder.find('/') == std::string::npos)
    s.remainder = "library/" + s.remainder;
  return s;
}

struct Pieces {
  std::string name;
  std::optional<std::string> tag;
  std::optional<std::string> digest;
};

Pieces cut_pieces(std::string_view full) {
  Pieces p;
  std::string_view name_tag = full;
  if (std::size_t at = full.find('@'); at != std::string_view::npos) {
    p.digest = std::string(full.substr(at + 1));
    name_tag = full.substr(0, at);
  }
  std::size_t colon = name_tag.rfind(':');
  std::size_t slash = name_tag.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    p.tag = std::string(name_tag.substr(colon + 1));
    name_tag = name_tag.substr(0, colon);
  }
  p.name = std::string(name_tag);
  return p;
}

// anchoredNameRegexp: (domain, path) or nullopt.
std::optional<std::pair<std::string, std::string>> match_name(std::string_view name) {
  if (std::size_t slash = name.find('/'); slash != std::string_view::npos) {
    std::string_view dom = name.substr(0, slash);
    std::string_view rest = name.substr(slash + 1);
    if (valid_domain_and_port(dom) && valid_remote_name(rest))
      return std::make_pair(std::string(dom), std::string(rest));
  }
  if (valid_remote_name(name)) return std::make_pair(std::string(), std::string(name));
  return std::nullopt;
}

// Explains why `full` (domain/remainder, tag and digest cut off) does not match.
std::string explain_name(const std::string& name) {
  std::size_t slash = name.find('/');
  std::string dom = slash == std::string::npos ? std::string() : name.substr(0, slash);
  std::string rest = slash == std::string::npos ? name : name.substr(slash + 1);
  if (!dom.empty() && !valid_domain_and_port(dom)) {
    std::size_t colon = dom.rfind(':');
    bool bracket = !dom.empty() && dom.front() == '[';
    if (colon != std::string::npos && (!bracket || colon > dom.find(']')) &&
        !valid_port(dom.substr(colon + 1)) && valid_domain_and_port(dom.substr(0, colon)))
      return "invalid port \"" + dom.substr(colon + 1) + "\" in registry host \"" + dom +
             "\" (a port is digits only)";
    return "invalid registry host \"" + dom +
           "\" (a host is DNS labels of letters, digits and '-' separated by '.', or an IPv6 "
           "address in brackets, optionally followed by :port)";
  }
  if (auto bad = bad_path_component(rest)) {
    if (bad->empty()) return "empty path component in \"" + rest + "\"";
    return "invalid path component \"" + *bad +
           "\" (components are lowercase letters and digits, separated by '.', '_', '__' or "
           "'-')";
  }
  return "invalid reference format";
}

std::optional<Reference> parse_impl(std::string_view text, std::string& error) {
  auto fail = [&](const std::string& why) -> std::optional<Reference> {
    error = "invalid image reference \"" + std::string(text) + "\": " + why;
    return std::nullopt;
  };
  if (text.empty()) return fail("the reference is empty");
  if (text.size() == 64 &&
      std::all_of(text.begin(), text.end(), [](char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }))
    return fail("a 64-character hexadecimal string is an image ID, not a repository name");

  Split split = split_docker_domain(text);
  std::string remote = split.remainder.substr(0, split.remainder.find(':'));
  if (gotext::to_lower(remote) != remote)
    return fail("repository name \"" + remote + "\" must be lowercase");

  std::string full = split.domain + "/" + split.remainder;
  Pieces p = cut_pieces(full);
  auto named = match_name(p.name);
  bool tag_ok = !p.tag || is_valid_tag(*p.tag);
  bool digest_ok = !p.digest || matches_digest_pattern(*p.digest);
  if (!named || !tag_ok || !digest_ok) {
    if (p.digest && p.digest->find('@') != std::string::npos) return fail("more than one '@'");
    if (!named) {
      std::string lowered = gotext::to_lower(p.name);
      if (lowered != p.name && match_name(lowered)) return fail("repository name must be lowercase");
      return fail(explain_name(p.name));
    }
    if (!tag_ok) {
      if (p.tag->empty()) return fail("empty tag after ':'");
      if (p.tag->size() > kMaxTag)
        return fail("tag is " + std::to_string(p.tag->size()) + " characters long, at most " +
                    std::to_string(kMaxTag) + " are allowed");
      return fail("invalid tag \"" + *p.tag +
                  "\" (a tag is letters, digits, '_', '.' and '-', and does not start with '.' or '-')");
    }
    return fail("invalid digest \"" + *p.digest + "\" (expected algorithm:hex, e.g. sha256: and 64 hex digits)");
  }
  if (named->second.size() > kMaxPath)
    return fail("repository name is " + std::to_string(named->second.size()) +
                " characters long, at most " + std::to_string(kMaxPath) + " are allowed");
  if (p.digest) {
    if (std::string why = digest_problem(*p.digest); !why.empty()) return fail(why);
  }
  Reference r;
  r.domain = named->first;
  r.path = named->second;
  r.tag = p.tag.value_or("");
  r.digest = p.digest.value_or("");
  return r;
}

}  // namespace

std::string Reference::repository_url() const { return domain.empty() ? path : domain + "/" + path; }

std::string Reference::canonical() const {
  std::string out = repository_url();
  if (const std::string t = effective_tag(); !t.empty()) out += ":" + t;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string Reference::familiar() const {
  std::string d = domain;
  std::string p = path;
  if (d == "docker.io") {
    // Drop docker.io unless the first path component would then read as a registry host
    // (docker.io/example.com/x): the Go library drops it anyway, which does not round-trip.
    std::string first = p.substr(0, p.find('/'));
    bool looks_like_host = p.find('/') != std::string::npos &&
                           (first.find_first_of(".:") != std::string::npos || first == "localhost");
    if (!looks_like_host) d.clear();
    if (p.rfind("library/", 0) == 0 && p.find('/', 8) == std::string::npos) p = p.substr(8);
  }
  std::string out = d.empty() ? p : d + "/" + p;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string Reference::effective_tag() const {
  if (!tag.empty()) return tag;
  return digest.empty() ? "latest" : "";
}

Reference parse(std::string_view text) {
  std::string error;
  auto r = parse_impl(text, error);
  if (!r) throw input_error(error);
  return *r;
}

std::optional<Reference> try_parse(std::string_view text, std::string* error) {
  std::string why;
  auto r = parse_impl(text, why);
  if (!r && error) *error = why;
  return r;
}

std::string state_name(std::string_view original_reference) {
  std::string out(original_reference);
  std::replace(out.begin(), out.end(), ':', '-');
  std::replace(out.begin(), out.end(), '/', '-');
  return out;
}

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTag || !is_word(tag.front())) return false;
  return std::all_of(tag.begin(), tag.end(), [](char c) { return is_word(c) || c == '.' || c == '-'; });
}

bool is_valid_digest(std::string_view digest) {
  return matches_digest_pattern(digest) && digest_problem(digest).empty();
}

}  // namespace imgf::reference
