#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "imgfactory/error.hpp"
#include "imgfactory/reference.hpp"

namespace ref = imgf::reference;

namespace {

struct Valid {
  std::string input;
  std::string domain, path, tag, digest;
  std::string normalized, familiar;  // normalized: registry/repository[:tag][@digest] as written
};

// The reference a pull would use: the tag, else "latest" when there is no digest either.
ref::Reference as_pulled(ref::Reference r) {
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

const std::string kSha256 = "sha256:" + std::string(64, 'a');
const std::string kSha512 = "sha512:" + std::string(128, '0');

void PrintTo(const Valid& v, std::ostream* os) { *os << '"' << v.input << '"'; }

class ValidReference : public ::testing::TestWithParam<Valid> {};

TEST_P(ValidReference, ParsesAndNormalises) {
  const Valid& v = GetParam();
  ref::Reference r = ref::parse(v.input);
  EXPECT_EQ(r.domain, v.domain) << v.input;
  EXPECT_EQ(r.path, v.path) << v.input;
  EXPECT_EQ(r.tag, v.tag) << v.input;
  EXPECT_EQ(r.digest, v.digest) << v.input;
  // canonical: as pulled, the implicit :latest written out when neither tag nor digest is.
  const bool implicit = v.tag.empty() && v.digest.empty();
  EXPECT_EQ(r.canonical(), implicit ? v.normalized + ":latest" : v.normalized) << v.input;
  EXPECT_EQ(r.familiar(), v.familiar) << v.input;
  EXPECT_EQ(r.repository_url(), v.domain.empty() ? v.path : v.domain + "/" + v.path);
  // Round trips: the familiar form parses back to the same reference, the canonical form to
  // the reference as pulled (whose canonical form is the same).
  EXPECT_EQ(ref::parse(r.canonical()), as_pulled(r));
  EXPECT_EQ(ref::parse(r.canonical()).canonical(), r.canonical());
  EXPECT_EQ(ref::parse(r.familiar()), r);
  EXPECT_TRUE(ref::try_parse(v.input).has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, ValidReference,
    ::testing::Values(
        Valid{"alpine", "docker.io", "library/alpine", "", "", "docker.io/library/alpine", "alpine"},
        Valid{"node:22", "docker.io", "library/node", "22", "", "docker.io/library/node:22", "node:22"},
        Valid{"node:22-bookworm-slim", "docker.io", "library/node", "22-bookworm-slim", "",
              "docker.io/library/node:22-bookworm-slim", "node:22-bookworm-slim"},
        Valid{"user/app", "docker.io", "user/app", "", "", "docker.io/user/app", "user/app"},
        Valid{"docker.io/ubuntu", "docker.io", "library/ubuntu", "", "", "docker.io/library/ubuntu", "ubuntu"},
        Valid{"index.docker.io/library/ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "",
              "docker.io/library/ubuntu:22.04", "ubuntu:22.04"},
        Valid{"docker.io/library/a/b", "docker.io", "library/a/b", "", "", "docker.io/library/a/b",
              "library/a/b"},
        Valid{"127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000", "team/app", "1.0", "",
              "127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000/team/app:1.0"},
        Valid{"[::1]:5000/a/b:c", "[::1]:5000", "a/b", "c", "", "[::1]:5000/a/b:c", "[::1]:5000/a/b:c"},
        Valid{"[2001:db8::1]/img", "[2001:db8::1]", "img", "", "", "[2001:db8::1]/img", "[2001:db8::1]/img"},
        Valid{"localhost/x", "localhost", "x", "", "", "localhost/x", "localhost/x"},
        Valid{"localhost:5000/x:y", "localhost:5000", "x", "y", "", "localhost:5000/x:y", "localhost:5000/x:y"},
        Valid{"gcr.io/distroless/python3-debian12:latest", "gcr.io", "distroless/python3-debian12", "latest", "",
              "gcr.io/distroless/python3-debian12:latest", "gcr.io/distroless/python3-debian12:latest"},
        Valid{"mcr.microsoft.com/playwright:v1.40.0-focal", "mcr.microsoft.com", "playwright", "v1.40.0-focal", "",
              "mcr.microsoft.com/playwright:v1.40.0-focal", "mcr.microsoft.com/playwright:v1.40.0-focal"},
        Valid{"Foo/bar", "Foo", "bar", "", "", "Foo/bar", "Foo/bar"},  // an upper-case first part is a host
        Valid{"example:5000/x", "example:5000", "x", "", "", "example:5000/x", "example:5000/x"},
        Valid{"a-b.c_d__e---f", "docker.io", "library/a-b.c_d__e---f", "", "", "docker.io/library/a-b.c_d__e---f",
              "a-b.c_d__e---f"},
        Valid{"busybox@" + kSha256, "docker.io", "library/busybox", "", kSha256,
              "docker.io/library/busybox@" + kSha256, "busybox@" + kSha256},
        Valid{"busybox:1.36@" + kSha512, "docker.io", "library/busybox", "1.36", kSha512,
              "docker.io/library/busybox:1.36@" + kSha512, "busybox:1.36@" + kSha512},
        Valid{"x:_" + std::string(127, 'T'), "docker.io", "library/x", "_" + std::string(127, 'T'), "",
              "docker.io/library/x:_" + std::string(127, 'T'), "x:_" + std::string(127, 'T')},
        Valid{"a_b.c/foo", "", "a_b.c/foo", "", "", "a_b.c/foo", "a_b.c/foo"},  // not a host: a path
        // Found by reference_fuzz: the familiar form keeps docker.io where dropping it would
        // make the first component read as a registry host.
        Valid{"docker.io/example.com/x:1", "docker.io", "example.com/x", "1", "", "docker.io/example.com/x:1",
              "docker.io/example.com/x:1"},
        Valid{"docker.io/localhost/x", "docker.io", "localhost/x", "", "", "docker.io/localhost/x",
              "docker.io/localhost/x"}));

struct Invalid {
  std::string input;
  std::string message_part;
};

void PrintTo(const Invalid& v, std::ostream* os) { *os << '"' << v.input.substr(0, 80) << '"'; }

class InvalidReference : public ::testing::TestWithParam<Invalid> {};

TEST_P(InvalidReference, IsRefusedWithAClearMessage) {
  const Invalid& v = GetParam();
  std::string why;
  EXPECT_FALSE(ref::try_parse(v.input, &why).has_value()) << v.input;
  EXPECT_NE(why.find(v.message_part), std::string::npos) << v.input << " -> " << why;
  try {
    (void)ref::parse(v.input);
    ADD_FAILURE() << "accepted: " << v.input;
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(e.message(), why);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, InvalidReference,
    ::testing::Values(
        Invalid{"", "empty"}, Invalid{"Alpine", "must be lowercase"},
        Invalid{"docker.io/Library/x", "must be lowercase"}, Invalid{"alpine:", "empty tag"},
        Invalid{"alpine:.x", "invalid tag"}, Invalid{"alpine:-x", "invalid tag"},
        Invalid{"alpine:a" + std::string(128, 'b'), "at most 128"},
        Invalid{"x/" + std::string(256, 'a'), "at most 255"},
        Invalid{std::string(64, 'a'), "image ID"},
        Invalid{"a..b/c", "invalid registry host"},
        Invalid{"host:port/x", "invalid port"},
        Invalid{"[::1/x", "invalid registry host"},
        Invalid{"[]:5000/x", "invalid registry host"},
        Invalid{"-host.com/x", "invalid registry host"},
        Invalid{"example.com/a__-b", "invalid path component"},
        Invalid{"example.com/a//b", "empty path component"},
        Invalid{"example.com/a/", "empty path component"},
        Invalid{"a___b", "invalid path component"},
        Invalid{"_a", "invalid path component"},
        Invalid{"a b", "invalid path component"},
        Invalid{"alpine@sha256:abc", "invalid digest"},
        Invalid{"alpine@sha256:" + std::string(63, 'a') + "g", "invalid digest"},
        Invalid{"alpine@sha256:" + std::string(62, 'a'), "64 hex digits"},
        Invalid{"alpine@sha256:" + std::string(64, 'A'), "lowercase"},
        Invalid{"alpine@md5:" + std::string(32, 'a'), "unsupported digest algorithm"},
        Invalid{"alpine@a@" + kSha256, "more than one '@'"},
        Invalid{"a:b:c", "invalid"}));

TEST(Reference, StateNamesAsTheOriginalTool) {
  EXPECT_EQ(ref::state_name("node:22-bookworm-slim"), "node-22-bookworm-slim");
  EXPECT_EQ(ref::state_name("mcr.microsoft.com/playwright:v1.40.0-focal"), "mcr.microsoft.com-playwright-v1.40.0-focal");
  EXPECT_EQ(ref::state_name("gcr.io/distroless/python3-debian12:latest"), "gcr.io-distroless-python3-debian12-latest");
  EXPECT_EQ(ref::state_name("python:3.12-slim"), "python-3.12-slim");
  EXPECT_EQ(ref::state_name("alpine"), "alpine");
}

TEST(Reference, TagAndDigestValidators) {
  EXPECT_TRUE(ref::is_valid_tag("v1.40.0-focal"));
  EXPECT_TRUE(ref::is_valid_tag("_x"));
  EXPECT_TRUE(ref::is_valid_tag(std::string(128, 'a')));
  EXPECT_FALSE(ref::is_valid_tag(std::string(129, 'a')));
  EXPECT_FALSE(ref::is_valid_tag(""));
  EXPECT_FALSE(ref::is_valid_tag(".x"));
  EXPECT_FALSE(ref::is_valid_tag("a/b"));
  EXPECT_TRUE(ref::is_valid_digest(kSha256));
  EXPECT_FALSE(ref::is_valid_digest("sha256:abc"));
  EXPECT_FALSE(ref::is_valid_digest("sha1:" + std::string(40, 'a')));
}

TEST(Reference, EffectiveTag) {
  EXPECT_EQ(ref::parse("alpine").effective_tag(), "latest");
  EXPECT_EQ(ref::parse("alpine").canonical(), "docker.io/library/alpine:latest");
  EXPECT_EQ(ref::parse("alpine").canonical(), ref::parse("docker.io/library/alpine:latest").canonical());
  EXPECT_EQ(ref::parse("alpine@" + kSha256).canonical(), "docker.io/library/alpine@" + kSha256);
  EXPECT_EQ(ref::parse("alpine").tag, "");  // what the file says
  EXPECT_EQ(ref::parse("alpine:3").effective_tag(), "3");
  EXPECT_EQ(ref::parse("alpine@" + kSha256).effective_tag(), "");
}

}  // namespace
