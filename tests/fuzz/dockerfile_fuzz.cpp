// libFuzzer target: the Dockerfile parser, the shell-word expander and the stage/ARG
// analysis. Any input must either succeed or be refused with an imgf::Error; anything else
// (a crash, a sanitizer report, another exception type, a hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "imgfactory/dockerfile.hpp"
#include "imgfactory/error.hpp"

namespace df = imgf::dockerfile;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // The raw parser, as BuildKit (no text check), and its dump.
  try {
    df::ParseOptions po;
    po.require_text = false;
    df::Ast ast = df::parse(text, "fuzz", po);
    std::string dump = df::dump_ast(ast);
    if (dump.empty() || dump.back() != '\n') std::abort();
    if (ast.children.empty()) std::abort();
  } catch (const imgf::Error& e) {
    if (e.exit_code() != 2 || e.file() != "fuzz") std::abort();
  }
  // The analysis with build args and two platforms.
  try {
    df::Options o;
    o.build_args["BASE"] = "alpine:3.20";
    o.platforms = {"linux/amd64", "linux/arm64"};
    df::Analysis a = df::analyze(text, "fuzz", o);
    if (a.stages.empty()) std::abort();
    for (const auto& b : a.base_images)
      if (b.name.find_first_of(":/") != std::string::npos) std::abort();
  } catch (const imgf::Error& e) {
    if (e.exit_code() != 2) std::abort();
  }
  // The expander on the raw bytes, with each option.
  df::shell::Env env{{"A", "a b"}, {"EMPTY", ""}, {"BASE", "node:22"}};
  for (int mode = 0; mode < 4; ++mode) {
    df::shell::Options so;
    so.raw_quotes = mode & 1;
    so.raw_escapes = mode & 2;
    so.skip_unset_env = mode == 3;
    so.escape_token = mode == 2 ? '`' : '\\';
    try {
      (void)df::shell::process(text.substr(0, 4096), env, so);
    } catch (const imgf::Error& e) {
      if (e.exit_code() != 2) std::abort();
    }
  }
  return 0;
}
