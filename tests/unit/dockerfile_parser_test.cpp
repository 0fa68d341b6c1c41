#include <gtest/gtest.h>

#include <filesystem>
#include <ostream>
#include <string>

#include "imgfactory/dockerfile.hpp"
#include "imgfactory/error.hpp"
#include "testutil.hpp"

namespace df = imgf::dockerfile;
namespace fs = std::filesystem;

namespace {

std::string dump(const std::string& content) { return df::dump_ast(content, "Dockerfile"); }

// The error a content raises: "line: message".
std::string error_of(const std::string& content) {
  try {
    (void)df::parse(content, "Dockerfile");
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(e.file(), "Dockerfile");
    return std::to_string(e.line()) + ": " + e.message();
  }
  return "no error";
}

// ---- BuildKit's own parser tests ------------------------------------------------------------

TEST(DockerfileConformance, EveryBuildKitTestfileDumpsByteForByte) {
  IMGF_REQUIRE_SHARED(shared);
  fs::path dir = shared / "fixtures" / "dockerfile-parser" / "testfiles";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent";
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    fs::path dockerfile = entry.path() / "Dockerfile";
    fs::path result = entry.path() / "result";
    if (!fs::exists(dockerfile) || !fs::exists(result)) continue;
    ++n;
    std::string got = df::dump_ast(imgf::test::read_file(dockerfile), dockerfile.string());
    EXPECT_EQ(got, imgf::test::read_file(result)) << "in " << entry.path().filename();
  }
  EXPECT_GE(n, 30);
}

TEST(DockerfileConformance, EveryBuildKitNegativeTestfileIsRefusedWithFileAndLine) {
  IMGF_REQUIRE_SHARED(shared);
  fs::path dir = shared / "fixtures" / "dockerfile-parser" / "testfiles-negative";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent";
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    fs::path dockerfile = entry.path() / "Dockerfile";
    ++n;
    try {
      (void)df::dump_ast(imgf::test::read_file(dockerfile), dockerfile.string());
      ADD_FAILURE() << "accepted " << dockerfile;
    } catch (const imgf::Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_EQ(e.file(), dockerfile.string());
      EXPECT_GT(e.line(), 0) << dockerfile;
    }
  }
  EXPECT_GE(n, 4);
}

// ---- lines, comments, continuations -------------------------------------------------------------

TEST(DockerfileParser, ContinuationsAcrossCommentsEmptyLinesAndEndOfFile) {
  EXPECT_EQ(dump("FROM a\nRUN one \\\n# comment\n\n  two \\\n"), "(from \"a\")\n(run \"one   two\")\n");
  EXPECT_EQ(dump("FROM a\nRUN x \\"), "(from \"a\")\n(run \"x\")\n");
  // An escaped escape does not continue the line.
  EXPECT_EQ(dump("FROM a\nENV A b\\\\\nENV B c\n"), "(from \"a\")\n(env \"A\" \"b\\\\\\\\\" \"\")\n(env \"B\" \"c\" \"\")\n");
  df::Ast ast = df::parse("FROM a\nRUN x \\\n\n  y\n", "Dockerfile");
  EXPECT_EQ(ast.children[1].start_line, 2);
  EXPECT_EQ(ast.children[1].end_line, 4);
  ASSERT_EQ(ast.warnings.size(), 1u);
}

TEST(DockerfileParser, CrLfAndByteOrderMark) {
  EXPECT_EQ(dump("\xEF\xBB\xBF" "FROM a\r\nRUN b \\\r\n c\r\n"), "(from \"a\")\n(run \"b  c\")\n");
}

TEST(DockerfileParser, Directives) {
  EXPECT_EQ(dump("# escape=`\nFROM a\nRUN b `\n c\n"), "(from \"a\")\n(run \"b  c\")\n");
  EXPECT_EQ(dump("#syntax=docker/dockerfile:1\n# check=skip=all\n# escape = `\nFROM a `\n b\n"), "(from \"a\" \"b\")\n");
  // After the first non-directive line, "# escape=`" is a comment.
  EXPECT_EQ(dump("# hello\n# escape=`\nFROM a\nRUN b \\\n c\n"), "(from \"a\")\n(run \"b  c\")\n");
  EXPECT_EQ(error_of("# escape=`\n# escape=\\\nFROM a\n"), "2: only one escape parser directive can be used");
  EXPECT_EQ(error_of("# escape=x\nFROM a\n"), "1: invalid escape token 'x' does not match ` or \\");
}

TEST(DockerfileParser, JsonAndShellForms) {
  EXPECT_EQ(dump("CMD [\"a\", \"b c\"]"), "(cmd \"a\" \"b c\")\n");
  EXPECT_EQ(dump("CMD [\"a\"] tail"), "(cmd \"[\\\"a\\\"] tail\")\n");  // not one JSON value: shell form
  EXPECT_EQ(dump("CMD [\"a\",]"), "(cmd \"[\\\"a\\\",]\")\n");
  EXPECT_EQ(dump("COPY [\"a b\", \"/c\"]"), "(copy \"a b\" \"/c\")\n");
  EXPECT_EQ(dump("COPY a  b\t/c"), "(copy \"a\" \"b\" \"/c\")\n");
  EXPECT_EQ(dump("CMD [\"\\u00e9\\ud83d\\ude00\\ud800\"]"), "(cmd \"é😀\xEF\xBF\xBD\")\n");
  EXPECT_EQ(error_of("FROM a\nCMD [1]\n"), "2: when using JSON array syntax, arrays must be comprised of strings only");
  EXPECT_EQ(error_of("CMD [\"a\", {\"b\": 1}]"), "1: when using JSON array syntax, arrays must be comprised of strings only");
  // Nesting deeper than Go's limit is not JSON at all, so it is the shell form.
  std::string deep = "CMD " + std::string(10001, '[') + std::string(10001, ']');
  EXPECT_EQ(df::parse(deep, "Dockerfile").children[0].args.size(), 1u);
  EXPECT_FALSE(df::parse(deep, "Dockerfile").children[0].json);
}

TEST(DockerfileParser, FlagsAndInstructionCase) {
  EXPECT_EQ(dump("from --platform=$BUILDPLATFORM golang AS build"),
            "(from [\"--platform=$BUILDPLATFORM\"] \"golang\" \"AS\" \"build\")\n");
  EXPECT_EQ(dump("COPY --from=\"a b\" --link x y"), "(copy [\"--from=a b\" \"--link\"] \"x\" \"y\")\n");
  EXPECT_EQ(dump("RUN --mount=type=cache,target=/root -- echo"), "(run [\"--mount=type=cache,target=/root\"] \"echo\")\n");
  EXPECT_EQ(dump("NOPE a b"), "(nope \"\")\n");  // BuildKit's parser keeps unknown instructions
}

TEST(DockerfileParser, EnvLabelArgAndOnbuild) {
  EXPECT_EQ(dump("ENV A=1 B=\"two words\""), "(env \"A\" \"1\" \"=\" \"B\" \"\\\"two words\\\"\" \"=\")\n");
  EXPECT_EQ(dump("LABEL a b c"), "(label \"a\" \"b c\" \"\")\n");
  EXPECT_EQ(dump("ARG A B=2"), "(arg \"A\" \"B=2\")\n");
  EXPECT_EQ(dump("ONBUILD RUN echo hi"), "(onbuild (run \"echo hi\"))\n");
  EXPECT_EQ(dump("HEALTHCHECK --interval=5s CMD [\"true\"]"), "(healthcheck [\"--interval=5s\"] \"CMD\" \"true\")\n");
  EXPECT_EQ(error_of("FROM a\nENV A=1 B\n"), "2: Syntax error - can't find = in \"B\". Must be of the form: name=value");
}

TEST(DockerfileParser, Heredocs) {
  df::Ast ast = df::parse("FROM a\nRUN <<EOF\necho $HOME\nEOF\nRUN x\n", "Dockerfile");
  ASSERT_EQ(ast.children.size(), 3u);
  ASSERT_EQ(ast.children[1].heredocs.size(), 1u);
  EXPECT_EQ(ast.children[1].heredocs[0].name, "EOF");
  EXPECT_EQ(ast.children[1].heredocs[0].content, "echo $HOME\n");
  EXPECT_TRUE(ast.children[1].heredocs[0].expand);
  EXPECT_EQ(ast.children[1].end_line, 4);
  EXPECT_EQ(ast.children[2].start_line, 5);

  ast = df::parse("FROM a\nCOPY <<'one' 3<<-\"two\" /dst/\nfirst\none\n\t\tsecond\n\ttwo\n", "Dockerfile");
  const auto& docs = ast.children[1].heredocs;
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].name, "one");
  EXPECT_FALSE(docs[0].expand);
  EXPECT_EQ(docs[0].content, "first\n");
  EXPECT_EQ(docs[1].name, "two");
  EXPECT_TRUE(docs[1].chomp);
  EXPECT_EQ(docs[1].file_descriptor, 3u);
  EXPECT_EQ(docs[1].content, "\t\tsecond\n");
  EXPECT_EQ(df::dump_ast(ast), "(from \"a\")\n(copy \"<<'one'\" \"3<<-\\\"two\\\"\" \"/dst/\")\n");

  // JSON form and other instructions have no heredocs.
  EXPECT_TRUE(df::parse("CMD <<EOF\n", "Dockerfile").children[0].heredocs.empty());
  EXPECT_TRUE(df::parse("RUN [\"<<EOF\"]\n", "Dockerfile").children[0].heredocs.empty());
  EXPECT_EQ(error_of("FROM a\nRUN <<EOF\nno end\n"), "2: unterminated heredoc: no line \"EOF\" ends the heredoc started here");
}

// ---- hostile input ----------------------------------------------------------------------------

TEST(DockerfileParser, EmptyAndCommentOnlyFiles) {
  EXPECT_EQ(error_of(""), "1: file with no instructions");
  EXPECT_EQ(error_of("# a\n\n   \n# b\n"), "4: file with no instructions");
}

TEST(DockerfileParser, LineLimitOfBuildKit) {
  std::string ok = "FROM a\nRUN " + std::string(65535 - 4, 'x') + "\n";
  EXPECT_EQ(df::parse(ok, "Dockerfile").children.size(), 2u);
  std::string big = "FROM a\nRUN " + std::string(10 * 1024 * 1024, 'x') + "\n";
  EXPECT_EQ(error_of(big), "2: dockerfile line greater than max allowed size of 65535");
}

TEST(DockerfileParser, BinaryContentIsRefused) {
  EXPECT_EQ(error_of(std::string("FROM a\nRUN b\0c\n", 14)), "2: NUL byte in the Dockerfile: this is not a text file");
  EXPECT_EQ(error_of("FROM a\n\nRUN caf\xE9\n"), "3: invalid UTF-8 (byte 8 of the line)");
  // Without the text check the bytes go through as in BuildKit, quoted like Go does.
  df::ParseOptions raw;
  raw.require_text = false;
  EXPECT_EQ(df::dump_ast(df::parse("RUN caf\xE9\n", "Dockerfile", raw)), "(run \"caf\\xe9\")\n");
  EXPECT_EQ(df::dump_ast(df::parse(std::string("RUN a\0\x7f\n", 8), "Dockerfile", raw)), "(run \"a\\x00\\x7f\")\n");
}

TEST(DockerfileParser, GoQuotingOfNonPrintableRunes) {
  EXPECT_EQ(dump("RUN a\u00a0b \u200b \U0001F600\n"), "(run \"a\\u00a0b \\u200b \U0001F600\")\n");
  EXPECT_EQ(dump("RUN \t\x01\n"), "(run \"\\x01\")\n");
}

TEST(DockerfileParser, ManyContinuationLinesParseCorrectly) {
  std::string content = "FROM a\nRUN true";
  for (int i = 0; i < 200000; ++i) content += " \\\n && x";
  content += "\n";
  df::Ast ast = df::parse(content, "Dockerfile");
  ASSERT_EQ(ast.children.size(), 2u);
  EXPECT_EQ(ast.children[1].end_line, 200002);
  EXPECT_EQ(ast.children[1].args[0].size(), std::string("true").size() + 200000 * std::string("  && x").size());
}

// ---- shell-word expansion ----------------------------------------------------------------------

struct Expansion {
  std::string word;
  std::string result;
};

void PrintTo(const Expansion& e, std::ostream* os) { *os << '"' << e.word << '"'; }

class ShellExpansion : public ::testing::TestWithParam<Expansion> {};

TEST_P(ShellExpansion, AsBuildKit) {
  df::shell::Env env{{"SET", "value"}, {"EMPTY", ""}, {"PATH_", "/usr/local/bin"}, {"SP", "a b"}};
  EXPECT_EQ(df::shell::process(GetParam().word, env).result, GetParam().result) << GetParam().word;
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ShellExpansion,
    ::testing::Values(Expansion{"$SET", "value"}, Expansion{"${SET}x", "valuex"}, Expansion{"$UNSET", ""},
                      Expansion{"${SET:-d}", "value"}, Expansion{"${EMPTY:-d}", "d"}, Expansion{"${UNSET:-d}", "d"},
                      Expansion{"${SET-d}", "value"}, Expansion{"${EMPTY-d}", ""}, Expansion{"${UNSET-d}", "d"},
                      Expansion{"${SET:+a}", "a"}, Expansion{"${EMPTY:+a}", ""}, Expansion{"${UNSET:+a}", ""},
                      Expansion{"${SET+a}", "a"}, Expansion{"${EMPTY+a}", "a"}, Expansion{"${UNSET+a}", ""},
                      Expansion{"${UNSET:-${SET}}", "value"}, Expansion{"${PATH_#*/}", "usr/local/bin"},
                      Expansion{"${PATH_##*/}", "bin"}, Expansion{"${PATH_%/*}", "/usr/local"},
                      Expansion{"${PATH_%%/*}", ""}, Expansion{"${PATH_/local/opt}", "/usr/opt/bin"},
                      Expansion{"${SET//a/A}", "vAlue"}, Expansion{"'$SET'", "$SET"}, Expansion{"\"$SET\"", "value"},
                      Expansion{"\\$SET", "$SET"}, Expansion{"a\\ b", "a b"}, Expansion{"$", "$"},
                      Expansion{"$1x", "x"}, Expansion{"${SET?oops}", "value"}));

TEST(ShellExpansionWords, SplitsAfterExpansion) {
  df::shell::Env env{{"SP", "a b"}};
  EXPECT_EQ(df::shell::process("x $SP \"c d\"", env).words, (std::vector<std::string>{"x", "a", "b", "c d"}));
  auto r = df::shell::process("$SP $NOPE", env);
  EXPECT_EQ(r.matched, (std::set<std::string>{"SP"}));
  EXPECT_EQ(r.unmatched, (std::set<std::string>{"NOPE"}));
}

TEST(ShellExpansionWords, RawAndSkipUnsetModes) {
  df::shell::Options o;
  o.raw_quotes = true;
  o.raw_escapes = true;
  o.skip_unset_env = true;
  EXPECT_EQ(df::shell::process("'a' \"$X\" ${Y:-z} \\n", {}, o).result, "'a' \"$X\" ${Y:-z} \\n");
}

TEST(ShellExpansionWords, SyntaxErrors) {
  for (const char* bad : {"${", "${X", "${X:-y", "'open", "\"open", "${}", "${:x}", "${X:x}", "${UNSET?is required}",
                          "${EMPTY:?}"}) {
    df::shell::Env env{{"EMPTY", ""}};
    EXPECT_THROW((void)df::shell::process(bad, env), imgf::Error) << bad;
  }
  try {
    (void)df::shell::process("${UNSET?is required}", {});
  } catch (const imgf::Error& e) {
    EXPECT_NE(e.message().find("UNSET: is required"), std::string::npos) << e.message();
  }
  // Hostile nesting is refused, not a stack overflow.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "${A:-";
  EXPECT_THROW((void)df::shell::process(deep, {}), imgf::Error);
}

}  // namespace
