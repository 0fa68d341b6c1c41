#include "commands.hpp"
#include "imgfactory/error.hpp"

namespace imgf::cli {

Command add_build(CLI::App& root) {
  Command cmd;
  cmd.app = root.add_subcommand("build", "build (not implemented yet)");
  cmd.app->allow_extras();
  cmd.run = [](const Globals&) -> int {
    throw input_error("'imgfactory build' is not implemented yet (issue #6)");
  };
  return cmd;
}

}  // namespace imgf::cli
