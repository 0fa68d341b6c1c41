// The deterministic YAML emitter of the Kargo manifests: quoting and layout.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "imgfactory/kargo.hpp"

using imgf::kargo::yaml::Node;
namespace y = imgf::kargo::yaml;

TEST(KargoYaml, PlainWhenItReadsBackAsTheSameString) {
  for (const char* s : {"image-factory-kargo", "ghcr.io/acme/web", "3.12-slim", "22-bookworm-slim", "v1.40.0-focal",
                        "^3\\.12-slim$", "^latest$", "Bearer ${{ secret('github-workflow-token').token }}",
                        "${{ commitFrom(\"https://github.com/a/b.git\").ID }}", "--depth", "$(STATE_BRANCH)",
                        "https://api.github.com/repos/a/b/actions/workflows/x.yml/dispatches", "deadbeef",
                        "application/vnd.github+json", "/workspace/state", "a:b", "x#y"})
    EXPECT_FALSE(y::needs_quotes(s)) << s;
}

TEST(KargoYaml, QuotesWhatAYamlReaderWouldTurnIntoSomethingElse) {
  for (const char* s : {"", "true", "False", "yes", "NO", "on", "off", "y", "n", "null", "Null", "~", "None", "1",
                        "1000", "0.6.5", "1.0", "-1", "+1", ".5", "0x1F", "0o17", "1e3", "1_000", "12:30:00",
                        "2024-01-01", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", ".inf", "-.inf",
                        ".NaN", "=", "<<", "{{args.image}}", "[a]", "*alias", "&anchor", "!tag", "|", ">=0.1.0",
                        "'q'", "\"q\"", "%x", "@x", "`x", "?x", ":x", "#x", "-", "- x", "---", "...", "a: b",
                        "a #b", "key:", " lead", "trail ", "line\nbreak", "tab\there", "caf\xc3\xa9", "--"})
    EXPECT_TRUE(y::needs_quotes(s)) << s;
}

TEST(KargoYaml, EmitsKubectlStyleBlocks) {
  Node doc = Node::map();
  doc.set("apiVersion", "v1");
  Node& meta = doc.set("metadata", Node::map());
  meta.set("name", "x");
  meta.set("labels", Node::map()).set("a/b", "true");
  Node& spec = doc.set("spec", Node::map());
  Node& list = spec.set("items", Node::seq());
  Node& first = list.push(Node::map());
  first.set("name", "one");
  first.set("n", Node::integer(3));
  first.set("args", Node::seq()).push("1");
  list.push("plain");
  list.push(Node::map());
  spec.set("empty", Node::seq());
  spec.set("on", Node::boolean(false));
  spec.set("body", "{\"ref\":\"main\"}");
  EXPECT_EQ(y::emit(doc),
            "apiVersion: v1\n"
            "metadata:\n"
            "  name: x\n"
            "  labels:\n"
            "    a/b: \"true\"\n"
            "spec:\n"
            "  items:\n"
            "    - name: one\n"
            "      \"n\": 3\n"
            "      args:\n"
            "        - \"1\"\n"
            "    - plain\n"
            "    - {}\n"
            "  empty: []\n"
            "  \"on\": false\n"
            "  body: '{\"ref\":\"main\"}'\n");
}

TEST(KargoYaml, EveryScalarReadsBack) {
  // Round trip through yaml-cpp: each string comes back unchanged, whatever the quoting chose.
  const std::vector<std::string> values = {"", "true", "0.6.5", "2024-01-01", "{{args.image}}", "a: b", "it's",
                                           "say \"hi\"", "back\\slash", "line\nbreak", "^v1\\.40\\.0-focal$",
                                           "Bearer ${{ secret('t').token }}", "--", "-x", "caf\xc3\xa9", "x #y"};
  Node doc = Node::map();
  Node& list = doc.set("values", Node::seq());
  for (const auto& v : values) list.push(v);
  const YAML::Node back = YAML::Load(y::emit(doc));
  ASSERT_EQ(back["values"].size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(back["values"][i].as<std::string>(), values[i]) << i;
}

TEST(KargoYaml, RefusesDuplicateKeysAndWrongKinds) {
  Node m = Node::map();
  m.set("a", "1");
  EXPECT_THROW(m.set("a", "2"), std::logic_error);
  EXPECT_THROW(m.push("x"), std::logic_error);
  EXPECT_THROW(m.at("missing"), std::out_of_range);
  Node s = Node::seq();
  EXPECT_THROW(s.set("a", "1"), std::logic_error);
}
