// Stages and the Freight they pass to the Jobs. See kargo_internal.hpp.
//
//   Warehouse I-source --> analyze-dockerfile-I --> build-I           (built by the template)
//        (direct)          verify: analyze          verify: build
//                          image, revision          image, revision
//
//   Warehouse B ---------> base-B --(soak: rebuildDelay(I) + stagger(I))--> rebuild-trigger-I-from-B
//        (direct)          holds B's Freight                               verify: build (image, baseRef)
//                                                                          or dispatch I's workflow
//
// requiredSoakTime only counts time a Freight has spent in an upstream Stage, so every base
// Warehouse feeds a gate Stage (base-B) first; a build Stage soaks its stagger in the
// analysis Stage. Each image's stagger is a fixed offset in [0, --rebuild-spread) from the
// hash of its name, so Freight that reaches many Stages at once (the first apply, a popular
// base image) does not start every Job at the same moment. A build Stage's stagger is cut to
// the first 10 minutes: Kargo restarts a soak when newer Freight replaces the old one
// upstream, so a long wait would let a stream of commits starve the build.
#include <spdlog/spdlog.h>

#include <optional>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "kargo_internal.hpp"

namespace imgf::kargo::detail {

namespace {

// <repo>:${{ imageFrom("<repo>").Tag }}@${{ imageFrom("<repo>").Digest }}
std::string image_ref_expr(const std::string& repo) {
  return repo + ":${{ imageFrom(\"" + repo + "\").Tag }}@${{ imageFrom(\"" + repo + "\").Digest }}";
}

// ${{ quote(commitFrom("<url>").ID) }}: quote() keeps an all-digit commit ID a string (Kargo
// would otherwise read it as a number and refuse the argument).
std::string commit_id_expr(const std::string& url) { return "${{ quote(commitFrom(\"" + url + "\").ID) }}"; }

// The Stage's promotion: one compose-output step (no side effects, no credentials) under
// `alias`; returns its config for what it records.
Node& compose_output(Node& spec, const char* alias) {
  Node& step = spec.set("promotionTemplate", Node::map())
                   .set("spec", Node::map())
                   .set("steps", Node::seq())
                   .push(Node::map());
  step.set("uses", "compose-output");
  step.set("as", alias);
  return step.set("config", Node::map());
}

// The source Freight of an analysis or build Stage: the commits it records, and the args of
// its Job (`revision` only for a source repository: a local image's files are in the Job's
// own checkout of the state repository).
std::vector<std::pair<std::string, std::string>> source_freight(Node& cfg, const enrollment::Image& img,
                                                                const SourcePlan& src) {
  std::vector<std::pair<std::string, std::string>> args = {{"image", img.name}};
  if (!src.source_url.empty()) {
    cfg.set("commit", "${{ commitFrom(\"" + src.source_url + "\").ID }}");
    args.emplace_back("revision", commit_id_expr(src.source_url));
  }
  if (!src.state_url.empty()) cfg.set("stateCommit", "${{ commitFrom(\"" + src.state_url + "\").ID }}");
  return args;
}

}  // namespace

Labels Planner::image_stage_labels(const std::string& role, const enrollment::Image& img, bool auto_promote) {
  return {{kRoleKey, role}, {kImageKey, kube_name(img.name)}, {kAutoKey, auto_promote ? "true" : "false"}};
}

Node Planner::stage_doc(const std::string& name, Labels labels, const std::string& origin, const std::string& upstream,
                        long long soak_seconds) {
  Node doc = object(kKargoApi, "Stage", name, &o_.namespace_name, std::move(labels));
  Node& spec = doc.set("spec", Node::map());
  Node& req = spec.set("requestedFreight", Node::seq()).push(Node::map());
  Node& orig = req.set("origin", Node::map());
  orig.set("kind", "Warehouse");
  orig.set("name", origin);
  Node& sources = req.set("sources", Node::map());
  if (upstream.empty()) {
    sources.set("direct", Node::boolean(true));
  } else {
    // only through `upstream`, after soaking there (Kargo ignores the soak of direct Freight)
    sources.set("stages", string_seq({upstream}));
    if (soak_seconds > 0) sources.set("requiredSoakTime", kargo_duration(soak_seconds));
  }
  return doc;
}

void Planner::add_stage(const std::string& name, const std::string& owner, bool auto_promote, Node doc) {
  if (auto [it, fresh] = stage_owner_.emplace(name, owner); !fresh)
    throw input_error("Stage name '" + name + "' would be generated twice (" + it->second + " and " + owner + ")",
                      images_file_, 0, "rename one of the images");
  policies_.emplace_back(name, auto_promote);
  stages_.push_back({name, yaml::emit(doc)});
}

Node Planner::verification(const char* template_name, const std::vector<std::pair<std::string, std::string>>& args) {
  Node v = Node::map();
  v.set("analysisTemplates", Node::seq()).push(named(template_name));
  Node& list = v.set("args", Node::seq());
  for (const auto& [name, value] : args) list.push(named(name)).set("value", value);
  return v;
}



long long Planner::stagger_seconds(const std::string& image, long long cap) const {
  const long long spread = std::min(parse_kargo_duration(o_.rebuild_spread).value_or(0), cap);
  const long long minutes = spread / 60;
  if (minutes <= 0) return 0;
  const std::string h = fsutil::sha256_hex(image).substr(0, 12);
  return static_cast<long long>(std::stoull(h, nullptr, 16) % static_cast<unsigned long long>(minutes)) * 60;
}

bool Planner::built_by_template(const enrollment::Image& img) const {
  return !(img.source && !img.source->workflow.empty() && github_repo(*img.source));
}

const std::string& Planner::gate_stage(const std::string& warehouse) {
  if (auto it = gate_stage_.find(warehouse); it != gate_stage_.end()) return it->second;
  const std::string name = kube_name("base-" + warehouse);
  Node doc = stage_doc(name, {{kRoleKey, "gate"}, {kAutoKey, "true"}}, warehouse);
  compose_output(doc.at("spec"), "base").set("image", image_ref_expr(warehouse_repo_.at(warehouse)));
  add_stage(name, "the gate of Warehouse '" + warehouse + "'", true, std::move(doc));
  return gate_stage_.emplace(warehouse, name).first->second;
}


void Planner::plan_analysis_stage(const enrollment::Image& img, const SourcePlan& src) {
  const std::string name = kube_name("analyze-dockerfile-" + img.name);
  const bool from_source = !src.warehouse.empty();
  Node doc = stage_doc(name, image_stage_labels("analysis", img, true),
                       from_source ? src.warehouse : image_warehouse_.at(img.name));
  Node& spec = doc.at("spec");
  Node& cfg = compose_output(spec, "analyze");
  if (!from_source) cfg.set("image", image_ref_expr(img.repository_url()));
  spec.set("verification", verification(kAnalyzeTemplate, source_freight(cfg, img, src)));
  need_analyze_ = true;
  add_stage(name, "image '" + img.name + "'", true, std::move(doc));
}

void Planner::plan_build_stage(const enrollment::Image& img, const SourcePlan& src, const std::string& analysis_stage) {
  const std::string name = kube_name("build-" + img.name);
  Node doc = stage_doc(name, image_stage_labels("build", img, img.auto_rebuild), src.warehouse, analysis_stage,
                       stagger_seconds(img.name, kBuildStaggerCap));
  Node& spec = doc.at("spec");
  Node& cfg = compose_output(spec, "build");
  cfg.set("image", img.repository_url());
  spec.set("verification", verification(kBuildTemplate, source_freight(cfg, img, src)));
  need_build_ = true;
  add_stage(name, "image '" + img.name + "'", img.auto_rebuild, std::move(doc));
}

void Planner::plan_rebuild_stage(const enrollment::Image& img, const std::string& base, const std::string& bw) {
  const std::string name = kube_name("rebuild-trigger-" + img.name + "-from-" + base);
  const std::string& gate = gate_stage(bw);
  Node doc = stage_doc(name, image_stage_labels("rebuild", img, img.auto_rebuild), bw, gate,
                       img.rebuild_delay_seconds.count() + stagger_seconds(img.name));
  Node& spec = doc.at("spec");
  const std::string base_repo = warehouse_repo_.at(bw);
  if (!built_by_template(img)) {
    Node& steps = spec.set("promotionTemplate", Node::map()).set("spec", Node::map()).set("steps", Node::seq());
    const auto& s = *img.source;
    const GitHubRepo gh = *github_repo(s);
    Node& step = steps.push(Node::map());
    step.set("uses", "http");
    step.set("as", "dispatch-workflow");
    Node& cfg = step.set("config", Node::map());
    cfg.set("method", "POST");
    cfg.set("url", gh.api + "/repos/" + gh.path + "/actions/workflows/" + percent_encode(s.workflow) +
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
    workflow_dispatch_ = true;
  } else {
    Node& cfg = compose_output(spec, "rebuild");
    cfg.set("image", img.repository_url());
    cfg.set("baseImage", image_ref_expr(base_repo));
    spec.set("verification", verification(kBuildTemplate, {{"image", img.name}, {"baseRef", image_ref_expr(base_repo)}}));
    need_build_ = true;
  }
  add_stage(name, "image '" + img.name + "'", img.auto_rebuild, std::move(doc));
}

}  // namespace imgf::kargo::detail
