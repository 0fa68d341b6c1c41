// The one quoted-scalar writer of every YAML file imgfactory writes (state files, manifests).
#include "imgfactory/yamlquote.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace yq = imgf::yamlquote;

namespace {

std::string read_back(const std::string& scalar) { return YAML::Load("k: " + scalar)["k"].as<std::string>(); }

// Hostile values: every ASCII byte, the characters YAML treats specially, other UTF-8.
std::vector<std::string> hostile() {
  std::vector<std::string> out;
  for (int c = 1; c < 0x80; ++c) out.push_back("a" + std::string(1, static_cast<char>(c)) + "b");
  for (int c = 0x80; c < 0xa0; ++c)  // C1 controls, NEL among them
    out.push_back(std::string("x\xc2") + static_cast<char>(c) + "y");
  for (const char* s : {"x\xe2\x80\xa8y", "x\xe2\x80\xa9y", "\xef\xbb\xbfx", "x\xef\xbf\xbe", "x\xef\xbf\xbf",
                        "caf\xc3\xa9", "\xf0\x9f\x90\xb3 whale", "\xc2\xa0nbsp", "'single'", "\"double\"",
                        "back\\slash", "line\nbreak\r\n", "tab\tend", " lead and trail ", "", "#", ": ", "- x",
                        "true", "~", "{{a}}", "\\u0041 is not an escape here"})
    out.emplace_back(s);
  return out;
}

}  // namespace

TEST(YamlQuote, DoubleQuotedEscapes) {
  EXPECT_EQ(yq::double_quoted(""), "\"\"");
  EXPECT_EQ(yq::double_quoted("a\"b\\c\nd\te\rf"), "\"a\\\"b\\\\c\\nd\\te\\rf\"");
  EXPECT_EQ(yq::double_quoted(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001F\\u007F\"");
  EXPECT_EQ(yq::double_quoted(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  // NEL as \u0085, not \N: yaml-cpp decodes \N to a lone 0x85 byte.
  EXPECT_EQ(yq::double_quoted("x\xc2\x85y\xc2\x80z\xc2\x9f"), "\"x\\u0085y\\u0080z\\u009F\"");
  EXPECT_EQ(yq::double_quoted("x\xe2\x80\xa8y\xe2\x80\xa9z"), "\"x\\u2028y\\u2029z\"");
  EXPECT_EQ(yq::double_quoted("\xef\xbb\xbfx\xef\xbf\xbe\xef\xbf\xbf"), "\"\\uFEFFx\\uFFFE\\uFFFF\"");
  // Printable UTF-8 as it is (é, NBSP U+00A0, a 4-byte character); a truncated sequence too.
  EXPECT_EQ(yq::double_quoted("caf\xc3\xa9 \xc2\xa0 \xf0\x9f\x90\xb3"), "\"caf\xc3\xa9 \xc2\xa0 \xf0\x9f\x90\xb3\"");
  EXPECT_EQ(yq::double_quoted("x\xc2"), "\"x\xc2\"");
  EXPECT_EQ(yq::double_quoted("x\xe2\x80"), "\"x\xe2\x80\"");
}

TEST(YamlQuote, SingleQuotedDoublesTheQuote) {
  EXPECT_EQ(yq::single_quoted(""), "''");
  EXPECT_EQ(yq::single_quoted("it's"), "'it''s'");
  EXPECT_EQ(yq::single_quoted("'x'"), "'''x'''");
  EXPECT_EQ(yq::single_quoted("a\\b \"c\""), "'a\\b \"c\"'");
}

TEST(YamlQuote, NeedsEscapes) {
  for (const char* s : {"", "plain", "caf\xc3\xa9", "\xc2\xa0", "it's", "a\\b", "\"q\"", "\xe2\x80\xa7", "\xef\xbf\xbd"})
    EXPECT_FALSE(yq::needs_escapes(s)) << s;
  for (const char* s : {"a\nb", "a\tb", "\r", "\x01", "\x7f", "\xc2\x85", "\xc2\x80", "\xc2\x9f", "\xe2\x80\xa8",
                        "\xe2\x80\xa9", "\xef\xbb\xbf", "\xef\xbf\xbe", "\xef\xbf\xbf"})
    EXPECT_TRUE(yq::needs_escapes(s)) << s;
}

TEST(YamlQuote, EveryHostileValueReadsBackTheSame) {
  for (const std::string& s : hostile()) {
    EXPECT_EQ(read_back(yq::double_quoted(s)), s) << yq::double_quoted(s);
    if (!yq::needs_escapes(s)) {
      EXPECT_EQ(read_back(yq::single_quoted(s)), s) << yq::single_quoted(s);
    }
  }
}
