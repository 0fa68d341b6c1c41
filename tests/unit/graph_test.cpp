#include "imgfactory/graph.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace imgf::graph;

namespace {

// base: python, node; images: api FROM python, web FROM node, worker FROM ghcr.io/team/api
// (an enrolled image), job FROM worker's repository and python.
Graph sample() {
  return build({{"python-3.12-slim", "python:3.12-slim", "docker.io/library/python",
                 "docker.io/library/python:3.12-slim"},
                {"node-22", "node:22", "docker.io/library/node", "docker.io/library/node:22"},
                {"ghcr.io-team-api-1", "ghcr.io/team/api:1", "ghcr.io/team/api", "ghcr.io/team/api:1"},
                {"ghcr.io-team-worker-2", "ghcr.io/team/worker:2", "ghcr.io/team/worker", "ghcr.io/team/worker:2"}},
               {{"web", "ghcr.io/team/web", {"node-22"}},
                {"job", "ghcr.io/team/job", {"ghcr.io-team-worker-2", "python-3.12-slim"}},
                {"worker", "ghcr.io/team/worker", {"ghcr.io-team-api-1"}},
                {"api", "ghcr.io/team/api", {"python-3.12-slim", "python-3.12-slim"}}});
}

}  // namespace

TEST(Graph, DependentsAndProducers) {
  Graph g = sample();
  EXPECT_EQ(g.dependents.at("python-3.12-slim"), (std::vector<std::string>{"api", "job"}));
  EXPECT_EQ(g.produced_by.at("ghcr.io-team-api-1"), "api");
  EXPECT_EQ(g.produced_by.at("ghcr.io-team-worker-2"), "worker");
  EXPECT_FALSE(g.produced_by.contains("node-22"));
  EXPECT_EQ(g.depends_on.at("job"), (std::vector<std::string>{"worker"}));
  EXPECT_EQ(g.depends_on.at("worker"), (std::vector<std::string>{"api"}));
  EXPECT_TRUE(g.depends_on.at("web").empty());
  EXPECT_EQ(g.images[0].base_images, (std::vector<std::string>{"python-3.12-slim"}));  // api, deduplicated
}

TEST(Graph, TopologicalOrderIsDeterministic) {
  Graph g = sample();
  EXPECT_EQ(g.order, (std::vector<std::string>{"api", "web", "worker", "job"}));
  EXPECT_TRUE(g.cyclic.empty());
}

TEST(Graph, CyclesAreReportedNotLooped) {
  Graph g = build({{"a-1", "r/a:1", "docker.io/r/a"}, {"b-1", "r/b:1", "docker.io/r/b"}},
                  {{"a", "docker.io/r/a", {"b-1"}}, {"b", "docker.io/r/b", {"a-1"}}, {"c", "docker.io/r/c", {}},
                   {"d", "docker.io/r/d", {"a-1"}}});
  EXPECT_EQ(g.order, (std::vector<std::string>{"c"}));
  EXPECT_EQ(g.cyclic, (std::vector<std::string>{"a", "b", "d"}));
}

TEST(Graph, AnImageBuiltFromItsOwnRepositoryIsNoCycle) {
  Graph g = build({{"self", "r/a:prev", "docker.io/r/a"}}, {{"a", "docker.io/r/a", {"self"}}});
  EXPECT_EQ(g.order, (std::vector<std::string>{"a"}));
  EXPECT_TRUE(g.cyclic.empty());
}

TEST(Graph, UnknownBaseNamesBecomeNodes) {
  Graph g = build({}, {{"a", "docker.io/r/a", {"mystery"}}});
  ASSERT_EQ(g.bases.size(), 1u);
  EXPECT_EQ(g.bases[0].name, "mystery");
  EXPECT_TRUE(g.bases[0].ref.empty());
}

TEST(Graph, Json) {
  auto j = nlohmann::json::parse(to_json(sample()));
  EXPECT_EQ(j["order"], nlohmann::json({"api", "web", "worker", "job"}));
  ASSERT_EQ(j["baseImages"].size(), 4u);
  EXPECT_EQ(j["baseImages"][0]["name"], "ghcr.io-team-api-1");
  EXPECT_EQ(j["baseImages"][0]["canonical"], "ghcr.io/team/api:1");
  EXPECT_EQ(j["baseImages"][0]["producedBy"], "api");
  EXPECT_EQ(j["baseImages"][0]["dependents"], nlohmann::json({"worker"}));
  EXPECT_EQ(j["baseImages"][2]["ref"], "node:22");
  EXPECT_TRUE(j["baseImages"][2]["producedBy"].is_null());
  EXPECT_EQ(j["images"][1]["name"], "job");
  EXPECT_EQ(j["images"][1]["dependsOn"], nlohmann::json({"worker"}));
  EXPECT_EQ(j["cyclic"], nlohmann::json::array());
}

TEST(Graph, JsonHasEachBaseImageAsWrittenAndAsPulled) {
  Graph g = build({{"alpine", "alpine", "docker.io/library/alpine", "docker.io/library/alpine:latest"}},
                  {{"a", "docker.io/r/a", {"alpine", "mystery"}}});
  auto j = nlohmann::json::parse(to_json(g));
  ASSERT_EQ(j["baseImages"].size(), 2u);
  EXPECT_EQ(j["baseImages"][0]["ref"], "alpine");  // the state file's fullImage
  EXPECT_EQ(j["baseImages"][0]["canonical"], "docker.io/library/alpine:latest");  // the implicit tag written out
  EXPECT_EQ(j["baseImages"][0]["dependents"], nlohmann::json({"a"}));
  EXPECT_TRUE(j["baseImages"][1]["canonical"].is_null());  // a name no state file describes
}

TEST(Graph, Dot) {
  Graph g = build({{"python-3.12-slim", "python:3.12-slim", "docker.io/library/python"}},
                  {{"uv", "ghcr.io/o/uv", {"python-3.12-slim"}}, {"x\"y", "ghcr.io/o/x", {}}});
  EXPECT_EQ(to_dot(g), R"(digraph imgfactory {
  rankdir=LR;
  "base:python-3.12-slim" [label="python:3.12-slim", shape=box];
  "image:uv" [label="uv", shape=ellipse, style=bold];
  "image:x\"y" [label="x\"y", shape=ellipse, style=bold];
  "base:python-3.12-slim" -> "image:uv";
}
)");
}

TEST(Graph, Mermaid) {
  EXPECT_EQ(to_mermaid(sample()), R"(graph LR
  b0["ghcr.io/team/api:1"]
  b1["ghcr.io/team/worker:2"]
  b2["node:22"]
  b3["python:3.12-slim"]
  i0(["api"])
  i1(["job"])
  i2(["web"])
  i3(["worker"])
  i0 -.-> b0
  i3 -.-> b1
  b0 --> i3
  b1 --> i1
  b2 --> i2
  b3 --> i0
  b3 --> i1
)");
}
