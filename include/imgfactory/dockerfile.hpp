#pragma once
// A Dockerfile parser that agrees with BuildKit's (moby/buildkit frontend/dockerfile/parser),
// its shell-word expansion (frontend/dockerfile/shell) and the part of its build semantics
// (frontend/dockerfile/instructions, dockerfile2llb) that decides which images a build uses:
// stages, stage names, meta ARGs, build args, platform ARGs, COPY --from and RUN --mount=from.
//
// Three layers, each usable on its own:
//   parse()    the AST, as BuildKit's parser builds it (dump_ast() prints BuildKit's dump);
//   shell::    word expansion ($VAR, ${VAR:-x}, quotes, escapes) as BuildKit's lexer does it;
//   analyze()  stages and base images for a set of build args and platforms.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "imgfactory/reference.hpp"

namespace imgf::dockerfile {

// ---- the AST ------------------------------------------------------------------------

struct Heredoc {
  std::string name;              // the terminator word, quotes removed
  unsigned file_descriptor = 0;  // RUN 3<<EOF
  bool expand = true;            // false when the word was quoted (<<'EOF')
  bool chomp = false;            // <<-EOF: leading tabs are stripped
  std::string content;           // the lines up to the terminator, newlines kept
};

// One instruction. The fields mirror BuildKit's parser.Node for a top-level child.
struct Node {
  std::string value;               // the instruction word as written ("FROM", "run")
  std::vector<std::string> flags;  // "--platform=$BUILDPLATFORM", as written after unquoting
  std::vector<std::string> args;   // the parsed arguments (the Next chain)
  std::shared_ptr<const Node> trigger;  // ONBUILD's instruction, else null
  bool json = false;               // JSON (exec) form
  std::string original;            // the logical line (continuations joined)
  int start_line = 0;              // 1-based
  int end_line = 0;
  std::vector<Heredoc> heredocs;

  std::string dump() const;  // "(from \"alpine\")" without the parentheses: "from \"alpine\""
};

struct Ast {
  std::vector<Node> children;
  char escape_token = '\\';
  std::vector<std::string> warnings;  // empty continuation lines
};

struct ParseOptions {
  // Refuse content that is not text: NUL bytes or invalid UTF-8 (BuildKit carries such
  // bytes through). On by default; the fuzzer turns it off to exercise the rest.
  bool require_text = true;
};

// Throws imgf::Error (exit 2) naming file_label and the line.
Ast parse(std::string_view content, const std::string& file_label, const ParseOptions& options = {});

// The AST dump of BuildKit's parser tests: one "(instruction ...)" line per instruction.
std::string dump_ast(std::string_view content, const std::string& file_label);
std::string dump_ast(const Ast& ast);

// ---- shell-word expansion ---------------------------------------------------------------

namespace shell {

struct Options {
  char32_t escape_token = '\\';
  bool raw_quotes = false;           // keep the quote characters in the result
  bool raw_escapes = false;          // keep the escape characters in the result
  bool skip_process_quotes = false;  // quotes are ordinary characters
  bool skip_unset_env = false;       // leave $UNSET as written
};

struct Result {
  std::string result;                   // the expanded word (ProcessWord)
  std::vector<std::string> words;       // split into words after expansion (ProcessWords)
  std::set<std::string> matched;        // variables that were set
  std::set<std::string> unmatched;      // variables that were not set
};

// Variables: name -> value; absence means unset (distinct from set-but-empty).
using Env = std::map<std::string, std::string>;

// Throws imgf::Error (exit 2, no file) with BuildKit's message on a syntax error
// (unterminated quote, missing '}', bad substitution, ${VAR?msg} of an unset VAR, ...).
Result process(std::string_view word, const Env& env, const Options& options = {});

}  // namespace shell

// ---- the build's meaning --------------------------------------------------------------------

struct Options {
  std::map<std::string, std::string> build_args;
  std::vector<std::string> platforms;  // "linux/arm64"; empty: host platform
  std::string target;                  // stop after this stage ("" = last)
};

enum class StageKind { image, stage, scratch };

struct Stage {
  int index;
  std::string name;      // lowercase, "" when unnamed
  std::string from;      // as written in the FROM line ("golang:${GO}")
  std::string resolved;  // after ARG expansion ("golang:1.22")
  std::string platform;  // the --platform flag as written, "" when none
  StageKind kind;
  int line;
  // Additions:
  std::string resolved_platform;  // the platform the stage is built for ("linux/amd64")
  int base_stage = -1;            // kind == stage: the index of the stage it builds on
  bool reachable = true;          // the target stage depends on it (BuildKit builds only these)
};

struct BaseImage {
  std::string ref;   // the reference as resolved ("golang:1.22")
  std::string name;  // its base-image state name ("golang-1.22")
  reference::Reference parsed;
  int line;
};

struct Analysis {
  std::vector<Stage> stages;
  std::vector<BaseImage> base_images;
  std::vector<BaseImage> copy_from_images;
  // Additions:
  std::vector<std::string> platforms;  // the target platforms analysed, normalised
  std::string target;                  // the name (or index) of the target stage
  std::vector<std::string> warnings;   // the parser's (empty continuation lines)
};

// Throws imgf::Error (exit 2) with file_label and line on any parse/semantic error.
Analysis analyze(std::string_view content, const std::string& file_label, const Options& options);

// The platform a build runs on by default: linux/<this machine's architecture>.
std::string host_platform();
// containerd's platform normalisation ("linux/aarch64" -> "linux/arm64", "amd64" ->
// "linux/amd64"); throws imgf::Error (exit 2) for an unknown or malformed platform.
std::string normalize_platform(std::string_view platform);

const char* kind_name(StageKind kind);

// `analyze --dockerfile` output: the JSON object of CLI.md (one line, newline-terminated)
// and a human-readable summary.
std::string render_json(const Analysis& analysis, const std::string& dockerfile);
std::string render_text(const Analysis& analysis, const std::string& dockerfile);

}  // namespace imgf::dockerfile
