#pragma once
// The dependency graph of an enrollment: base image -> the enrolled images built FROM it,
// enrolled image -> enrolled image (when one is built FROM another's repository), a build
// order that puts every image after the images it depends on, and renderings as JSON,
// Graphviz DOT and Mermaid. Pure.
#include <map>
#include <string>
#include <vector>

namespace imgf::graph {

struct BaseNode {
  std::string name;        // base-image state name, e.g. python-3.12-slim
  std::string ref;         // fullImage, e.g. python:3.12-slim
  std::string repository;  // <registry>/<repository>, e.g. docker.io/library/python
  std::string canonical;   // the reference as pulled, e.g. docker.io/library/python:3.12-slim
                           // (the implicit :latest written out: alpine -> docker.io/library/alpine:latest)
};

struct ImageNode {
  std::string name;                      // enrolled name
  std::string repository;                // <registry>/<repository> it is published to
  std::vector<std::string> base_images;  // base-image state names it is built FROM
};

struct Graph {
  std::vector<BaseNode> bases;    // sorted by name
  std::vector<ImageNode> images;  // sorted by name
  std::map<std::string, std::vector<std::string>> dependents;  // base name -> image names (sorted)
  std::map<std::string, std::string> produced_by;  // base name -> the enrolled image publishing it
  std::map<std::string, std::vector<std::string>> depends_on;  // image -> enrolled images (sorted)
  std::vector<std::string> order;  // every image after the images it depends on; ties by name
  std::vector<std::string> cyclic; // images on or behind a dependency cycle (not in `order`), sorted
};

// Builds the graph. Base names an image refers to that are not among `bases` are added with
// an empty ref.
Graph build(std::vector<BaseNode> bases, std::vector<ImageNode> images);

std::string to_json(const Graph& g);     // one object, indented, newline-terminated
std::string to_dot(const Graph& g);      // digraph for Graphviz
std::string to_mermaid(const Graph& g);  // "graph LR" flowchart

}  // namespace imgf::graph
