#include "imgfactory/graph.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace imgf::graph {

Graph build(std::vector<BaseNode> bases, std::vector<ImageNode> images) {
  Graph g;
  std::sort(images.begin(), images.end(), [](const ImageNode& a, const ImageNode& b) { return a.name < b.name; });
  std::map<std::string, BaseNode> by_name;
  for (auto& b : bases) by_name.emplace(b.name, std::move(b));
  for (auto& img : images) {
    std::sort(img.base_images.begin(), img.base_images.end());
    img.base_images.erase(std::unique(img.base_images.begin(), img.base_images.end()), img.base_images.end());
    for (const auto& b : img.base_images) {
      if (!by_name.contains(b)) by_name.emplace(b, BaseNode{b, {}, {}, {}});
      g.dependents[b].push_back(img.name);
    }
  }
  for (auto& [name, node] : by_name) g.bases.push_back(std::move(node));

  std::map<std::string, std::string> image_by_repo;
  for (const auto& img : images)
    if (!img.repository.empty()) image_by_repo.emplace(img.repository, img.name);
  for (const auto& b : g.bases)
    if (auto it = image_by_repo.find(b.repository); !b.repository.empty() && it != image_by_repo.end())
      g.produced_by[b.name] = it->second;

  // Edges producer -> dependent; an image built FROM its own repository is no dependency.
  std::map<std::string, std::set<std::string>> deps;   // image -> producers
  std::map<std::string, std::set<std::string>> users;  // producer -> dependents
  for (const auto& img : images) {
    deps[img.name];
    for (const auto& b : img.base_images) {
      auto it = g.produced_by.find(b);
      if (it == g.produced_by.end() || it->second == img.name) continue;
      deps[img.name].insert(it->second);
      users[it->second].insert(img.name);
    }
  }
  for (const auto& [name, ds] : deps) g.depends_on[name] = std::vector<std::string>(ds.begin(), ds.end());

  // Kahn's algorithm with the ready set ordered by name: a deterministic order.
  std::map<std::string, std::size_t> waiting;
  std::set<std::string> ready;
  for (const auto& [name, ds] : deps) {
    waiting[name] = ds.size();
    if (ds.empty()) ready.insert(name);
  }
  while (!ready.empty()) {
    std::string next = *ready.begin();
    ready.erase(ready.begin());
    g.order.push_back(next);
    for (const auto& u : users[next])
      if (--waiting[u] == 0) ready.insert(u);
  }
  for (const auto& [name, n] : waiting)
    if (n > 0) g.cyclic.push_back(name);
  g.images = std::move(images);
  return g;
}

std::string to_json(const Graph& g) {
  using J = nlohmann::ordered_json;
  J out = J::object();
  J bases = J::array();
  for (const auto& b : g.bases) {
    J o = J::object();
    o["name"] = b.name;
    o["ref"] = b.ref.empty() ? J(nullptr) : J(b.ref);
    o["canonical"] = b.canonical.empty() ? J(nullptr) : J(b.canonical);
    o["repository"] = b.repository.empty() ? J(nullptr) : J(b.repository);
    auto p = g.produced_by.find(b.name);
    o["producedBy"] = p == g.produced_by.end() ? J(nullptr) : J(p->second);
    auto d = g.dependents.find(b.name);
    o["dependents"] = d == g.dependents.end() ? J::array() : J(d->second);
    bases.push_back(std::move(o));
  }
  J images = J::array();
  for (const auto& i : g.images) {
    J o = J::object();
    o["name"] = i.name;
    o["repository"] = i.repository;
    o["baseImages"] = i.base_images;
    auto d = g.depends_on.find(i.name);
    o["dependsOn"] = d == g.depends_on.end() ? J::array() : J(d->second);
    images.push_back(std::move(o));
  }
  out["baseImages"] = std::move(bases);
  out["images"] = std::move(images);
  out["order"] = g.order;
  out["cyclic"] = g.cyclic;
  return out.dump(2) + "\n";
}

namespace {

std::string dot_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// Mermaid labels are quoted; a double quote inside one is written as an entity.
std::string mermaid_label(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += "#quot;";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out + "\"";
}

}  // namespace

std::string to_dot(const Graph& g) {
  std::string out = "digraph imgfactory {\n  rankdir=LR;\n";
  for (const auto& b : g.bases)
    out += "  " + dot_quote("base:" + b.name) + " [label=" + dot_quote(b.ref.empty() ? b.name : b.ref) +
           ", shape=box];\n";
  for (const auto& i : g.images)
    out += "  " + dot_quote("image:" + i.name) + " [label=" + dot_quote(i.name) + ", shape=ellipse, style=bold];\n";
  for (const auto& [base, producer] : g.produced_by)
    out += "  " + dot_quote("image:" + producer) + " -> " + dot_quote("base:" + base) + " [style=dashed];\n";
  for (const auto& [base, deps] : g.dependents)
    for (const auto& d : deps) out += "  " + dot_quote("base:" + base) + " -> " + dot_quote("image:" + d) + ";\n";
  out += "}\n";
  return out;
}

std::string to_mermaid(const Graph& g) {
  std::map<std::string, std::string> base_id, image_id;
  for (std::size_t k = 0; k < g.bases.size(); ++k) base_id[g.bases[k].name] = "b" + std::to_string(k);
  for (std::size_t k = 0; k < g.images.size(); ++k) image_id[g.images[k].name] = "i" + std::to_string(k);
  std::string out = "graph LR\n";
  for (const auto& b : g.bases)
    out += "  " + base_id[b.name] + "[" + mermaid_label(b.ref.empty() ? b.name : b.ref) + "]\n";
  for (const auto& i : g.images) out += "  " + image_id[i.name] + "([" + mermaid_label(i.name) + "])\n";
  for (const auto& [base, producer] : g.produced_by)
    out += "  " + image_id[producer] + " -.-> " + base_id[base] + "\n";
  for (const auto& [base, deps] : g.dependents)
    for (const auto& d : deps) out += "  " + base_id[base] + " --> " + image_id[d] + "\n";
  return out;
}

}  // namespace imgf::graph
