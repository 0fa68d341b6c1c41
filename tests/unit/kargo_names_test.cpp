// Kubernetes names and regex checks of the Kargo manifests.
#include <gtest/gtest.h>

#include <set>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/kargo.hpp"

using namespace imgf::kargo;

TEST(KargoNames, Dns1123) {
  EXPECT_TRUE(is_dns1123_subdomain("python-3.12-slim"));
  EXPECT_TRUE(is_dns1123_subdomain("a"));
  EXPECT_FALSE(is_dns1123_subdomain("A"));
  EXPECT_FALSE(is_dns1123_subdomain("a_b"));
  EXPECT_FALSE(is_dns1123_subdomain("a..b"));
  EXPECT_FALSE(is_dns1123_subdomain("a.-b"));
  EXPECT_FALSE(is_dns1123_subdomain("-a"));
  EXPECT_FALSE(is_dns1123_subdomain(""));
  EXPECT_FALSE(is_dns1123_subdomain(std::string(254, 'a')));
  EXPECT_TRUE(is_dns1123_label("image-factory-kargo"));
  EXPECT_FALSE(is_dns1123_label("a.b"));
  EXPECT_FALSE(is_dns1123_label(std::string(64, 'a')));
}

TEST(KargoNames, ValidShortNamesAreKept) {
  EXPECT_EQ(kube_name("backstage"), "backstage");
  EXPECT_EQ(kube_name("mcr.microsoft.com-playwright-v1.40.0-focal"), "mcr.microsoft.com-playwright-v1.40.0-focal");
  EXPECT_EQ(kube_name(std::string(63, 'a')), std::string(63, 'a'));
}

TEST(KargoNames, LongNamesAreCutWithAHashSuffix) {
  const std::string wanted = "rebuild-trigger-e2e-test-runner-from-mcr.microsoft.com-playwright-v1.40.0-focal";
  const std::string name = kube_name(wanted);
  EXPECT_EQ(name.size(), 63u);
  EXPECT_TRUE(is_dns1123_subdomain(name)) << name;
  EXPECT_EQ(name.substr(name.size() - 10), imgf::fsutil::sha256_hex(wanted).substr(0, 10));
  EXPECT_EQ(name.substr(0, 52), wanted.substr(0, 52));
  EXPECT_EQ(kube_name(wanted), name) << "deterministic";
  // the cut never leaves '-' or '.' before the suffix
  const std::string dotted = std::string(51, 'a') + ".bbbbbbbbbbbbbbbbbbb";
  const std::string n2 = kube_name(dotted);
  EXPECT_TRUE(is_dns1123_subdomain(n2)) << n2;
  EXPECT_LE(n2.size(), 63u);
}

TEST(KargoNames, InvalidCharactersAreReplacedAndHashed) {
  const std::string a = kube_name("tool_box");
  const std::string b = kube_name("tool-box");
  EXPECT_EQ(b, "tool-box");
  EXPECT_NE(a, b) << "distinct inputs stay distinct";
  EXPECT_EQ(a.rfind("tool-box-", 0), 0u) << a;
  EXPECT_TRUE(is_dns1123_subdomain(a));
  for (const char* s : {"UPPER", "a..b", "-x-", "x.", "_", "", "...", "a/b:c@d"}) {
    const std::string n = kube_name(s);
    EXPECT_TRUE(is_dns1123_subdomain(n)) << s << " -> " << n;
    EXPECT_LE(n.size(), 63u);
  }
}

TEST(KargoNames, ManyLongNamesStayDistinct) {
  std::set<std::string> names;
  const std::string prefix(80, 'x');
  for (int i = 0; i < 2000; ++i) names.insert(kube_name(prefix + std::to_string(i)));
  EXPECT_EQ(names.size(), 2000u);
}

TEST(KargoRegex, AnchoredLiteral) {
  EXPECT_EQ(anchored_literal("3.12-slim"), "^3\\.12-slim$");
  EXPECT_EQ(anchored_literal("a+b(c)[d]{e}|f*g?h^i$j\\k"), "^a\\+b\\(c\\)\\[d\\]\\{e\\}\\|f\\*g\\?h\\^i\\$j\\\\k$");
  EXPECT_NO_THROW(check_regex(anchored_literal("v1.40.0-focal"), "t", "f", 1));
}

TEST(KargoRegex, RefusesWhatGoWouldRefuse) {
  EXPECT_NO_THROW(check_regex("^nightly-[0-9]{8}$", "allowTags", "f.yaml", 3));
  EXPECT_NO_THROW(check_regex("^a\\\\C$", "allowTags", "f.yaml", 3)) << "an escaped backslash before C is fine";
  for (const char* bad : {"^(v1", "[a-", "a**", "(?<=x)y", "\\C", "x{2,1}"}) {
    try {
      check_regex(bad, "allowTags", "state/base-images/x.yaml", 14);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const imgf::Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_EQ(e.file(), "state/base-images/x.yaml");
      EXPECT_EQ(e.line(), 14);
      EXPECT_NE(e.formatted().find("state/base-images/x.yaml:14: allowTags"), std::string::npos) << e.formatted();
    }
  }
}
