#include "analyze_dockerfile.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "imgfactory/dockerfile.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"

namespace imgf::cli {

int run_analyze_dockerfile(const AnalyzeDockerfileOptions& o) {
  if (o.format != "text" && o.format != "json" && o.format != "ast")
    throw input_error("--format " + o.format + " is not one of text, json, ast");
  std::string content = fsutil::read_file(o.dockerfile);
  // BuildKit's parser warnings (empty continuation lines), as it prints them.
  auto warn = [&](const std::vector<std::string>& warnings) {
    for (const std::string& w : warnings)
      spdlog::warn("{}: {} (empty continuation lines will become errors in a future release)", o.dockerfile, w);
  };
  std::string out;
  if (o.format == "ast") {
    dockerfile::Ast ast = dockerfile::parse(content, o.dockerfile);
    warn(ast.warnings);
    out = dockerfile::dump_ast(ast);
  } else {
    dockerfile::Options opt;
    for (const std::string& kv : o.build_args) {
      std::size_t eq = kv.find('=');
      if (eq == 0) throw input_error("--build-arg " + kv + ": the name is empty", {}, 0, "use --build-arg NAME=VALUE");
      if (eq == std::string::npos) {
        // As docker build: a bare name takes its value from the environment, if set.
        if (const char* v = std::getenv(kv.c_str())) opt.build_args[kv] = v;
        continue;
      }
      opt.build_args[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const std::string& list : o.platforms) {
      std::size_t start = 0;
      while (start <= list.size()) {
        std::size_t comma = list.find(',', start);
        std::string p = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!p.empty()) opt.platforms.push_back(dockerfile::normalize_platform(p));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    opt.target = o.target;
    dockerfile::Analysis a = dockerfile::analyze(content, o.dockerfile, opt);
    warn(a.warnings);
    out = o.format == "json" ? dockerfile::render_json(a, o.dockerfile) : dockerfile::render_text(a, o.dockerfile);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace imgf::cli
