#pragma once
// Image references by the OCI distribution reference grammar (the rules of the
// distribution/reference Go package, as BuildKit applies them to FROM lines):
//
//   reference := name [ ":" tag ] [ "@" digest ]
//   name      := [domain "/"] path           domain := host [":" port]
//   host      := domain-name | IPv4 | "[" IPv6 "]"
//   path      := component ("/" component)*  component := [a-z0-9]+ (sep [a-z0-9]+)*
//   sep       := "." | "_" | "__" | "-"+      tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//   digest    := algorithm ":" hex            (sha256: 64, sha384: 96, sha512: 128 lowercase hex)
//
// Familiar names are normalised the way `docker pull` does: "node" is
// docker.io/library/node, "user/app" is docker.io/user/app, a first component with a '.'
// or ':' (or "localhost", or upper case) is a registry host. The path is at most 255
// characters and must be lower case.
#include <optional>
#include <string>
#include <string_view>

namespace imgf::reference {

struct Reference {
  std::string domain;  // "docker.io", "127.0.0.1:5000", "[::1]:5000"
  std::string path;    // "library/node"
  std::string tag;     // "" when none
  std::string digest;  // "" when none ("sha256:...")

  // The reference as it is pulled (BuildKit, docker pull): docker.io/library/node:22,
  // docker.io/library/alpine:latest for "alpine" (the implicit tag), docker.io/library/x@sha256:...
  // for a digest alone, docker.io/library/x:1@sha256:... for both. Two spellings of one image
  // (alpine, docker.io/library/alpine:latest) have the same canonical form.
  std::string canonical() const;
  std::string familiar() const;        // node:22, alpine: as short as docker writes it, no implicit tag
  std::string repository_url() const;  // docker.io/library/node
  // The tag a pull would use: the tag, else "latest" when there is no digest either.
  std::string effective_tag() const;

  friend bool operator==(const Reference&, const Reference&) = default;
};

// Parses and normalises; throws imgf::Error (exit 2) whose message names the problem
// (empty name, upper case, bad host or port, bad path component, bad tag, bad digest,
// a 64-hex identifier, length limits).
Reference parse(std::string_view text);
// As parse, but returns nullopt (and the message in *error) instead of throwing.
std::optional<Reference> try_parse(std::string_view text, std::string* error = nullptr);

// The base-image state file name the original Image Factory derived: the reference text
// as written with every ':' and '/' replaced by '-' (node:22-bookworm-slim ->
// node-22-bookworm-slim).
std::string state_name(std::string_view original_reference);

// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
bool is_valid_tag(std::string_view tag);
// algorithm:hex with a known algorithm and the right length of lowercase hex.
bool is_valid_digest(std::string_view digest);

}  // namespace imgf::reference
