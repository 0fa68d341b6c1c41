// Stages: the analysis Stage of each image we build and a rebuild Stage per (base,
// dependent) pair, with the verification that runs the Jobs. See kargo_internal.hpp.
#include <spdlog/spdlog.h>

#include <optional>

#include "imgfactory/error.hpp"
#include "kargo_internal.hpp"

namespace imgf::kargo::detail {

Node Planner::stage_doc(const std::string& name, const std::string& role, const enrollment::Image& img,
                        bool auto_promote,
                        const std::string& origin) {
  Node doc = object(kKargoApi, "Stage", name, &o_.namespace_name,
                    {{kRoleKey, role}, {kImageKey, kube_name(img.name)}, {kAutoKey, auto_promote ? "true" : "false"}});
  Node& spec = doc.set("spec", Node::map());
  Node& req = spec.set("requestedFreight", Node::seq()).push(Node::map());
  Node& orig = req.set("origin", Node::map());
  orig.set("kind", "Warehouse");
  orig.set("name", origin);
  req.set("sources", Node::map()).set("direct", Node::boolean(true));
  return doc;
}

void Planner::add_stage(const std::string& name, const enrollment::Image& img, bool auto_promote, Node doc) {
  if (auto [it, fresh] = stage_owner_.emplace(name, img.name); !fresh)
    throw input_error("Stage name '" + name + "' would be generated twice (images '" + it->second + "' and '" +
                          img.name + "')",
                      images_file_, img.line, "rename one of the images");
  policies_.emplace_back(name, auto_promote);
  stages_.push_back({name, yaml::emit(doc)});
}

Node Planner::verification(const char* template_name, const std::string& image) {
  Node v = Node::map();
  v.set("analysisTemplates", Node::seq()).push(named(template_name));
  Node& arg = v.set("args", Node::seq()).push(named("image"));
  arg.set("value", image);
  return v;
}

std::string Planner::image_expr(const std::string& repo) {
  return repo + ":${{ imageFrom(\"" + repo + "\").Tag }}";
}

// Promotion records what was promoted (compose-output: no side effects, no credentials)
// so the Stage is a regular one, not a control-flow Stage, and its verification runs.
void Planner::plan_analysis_stage(const enrollment::Image& img, const std::string& w, const std::string& repo,
                                  const std::string& git_url) {
  const std::string name = kube_name("analyze-dockerfile-" + img.name);
  Node doc = stage_doc(name, "analysis", img, true, w);
  Node& spec = doc.at("spec");
  Node& step = spec.set("promotionTemplate", Node::map())
                   .set("spec", Node::map())
                   .set("steps", Node::seq())
                   .push(Node::map());
  step.set("uses", "compose-output");
  step.set("as", "analyze");
  Node& cfg = step.set("config", Node::map());
  cfg.set("image", image_expr(repo));
  if (!git_url.empty()) cfg.set("commit", "${{ commitFrom(\"" + git_url + "\").ID }}");
  spec.set("verification", verification(kAnalyzeTemplate, img.name));
  need_analyze_ = true;
  add_stage(name, img, true, std::move(doc));
}

// A base image changed: dispatch the image's GitHub workflow when it names one (token
// from a Kargo secret, as the original), else build it with the build AnalysisTemplate.
void Planner::plan_rebuild_stage(const enrollment::Image& img, const std::string& base, const std::string& bw) {
  const std::string name = kube_name("rebuild-trigger-" + img.name + "-from-" + base);
  Node doc = stage_doc(name, "rebuild", img, img.auto_rebuild, bw);
  Node& spec = doc.at("spec");
  Node& steps = spec.set("promotionTemplate", Node::map()).set("spec", Node::map()).set("steps", Node::seq());
  std::optional<GitHubRepo> gh;
  if (img.source && !img.source->workflow.empty()) {
    gh = github_repo(*img.source);
    if (!gh)
      spdlog::warn("{}:{}: source.workflow '{}' is set but '{}' is not a GitHub repository; '{}' is rebuilt by the "
                   "build AnalysisTemplate instead",
                   images_file_, img.source->line, img.source->workflow, img.source->repo, img.name);
  }
  if (gh) {
    const auto& s = *img.source;
    Node& step = steps.push(Node::map());
    step.set("uses", "http");
    step.set("as", "dispatch-workflow");
    Node& cfg = step.set("config", Node::map());
    cfg.set("method", "POST");
    cfg.set("url", gh->api + "/repos/" + gh->path + "/actions/workflows/" + percent_encode(s.workflow) +
                       "/dispatches");
    Node& headers = cfg.set("headers", Node::seq());
    auto header = [&](const std::string& k, const std::string& v) {
      Node& h = headers.push(named(k));
      h.set("value", v);
    };
    header("Accept", "application/vnd.github+json");
    header("Authorization", "Bearer ${{ secret('" + o_.github_token_secret + "').token }}");
    header("Content-Type", "application/json");
    header("X-GitHub-Api-Version", "2022-11-28");
    cfg.set("body", "{\"ref\":" + json_string(s.branch) + ",\"inputs\":{\"version_bump\":\"patch\"}}");
  } else {
    Node& step = steps.push(Node::map());
    step.set("uses", "compose-output");
    step.set("as", "rebuild");
    Node& cfg = step.set("config", Node::map());
    cfg.set("image", img.repository_url());
    cfg.set("baseImage", image_expr(warehouse_repo_.at(bw)));
    spec.set("verification", verification(kBuildTemplate, img.name));
    need_build_ = true;
  }
  add_stage(name, img, img.auto_rebuild, std::move(doc));
}

}  // namespace imgf::kargo::detail
