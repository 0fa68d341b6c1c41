#include "commands.hpp"
#include "imgfactory/error.hpp"

namespace imgf::cli {

Command add_analyze(CLI::App& root) {
  Command cmd;
  cmd.app = root.add_subcommand("analyze", "analyze (not implemented yet)");
  cmd.app->allow_extras();
  cmd.run = [](const Globals&) -> int {
    throw input_error("'imgfactory analyze' is not implemented yet (issue #3)");
  };
  return cmd;
}

}  // namespace imgf::cli
