#include "commands.hpp"
#include "imgfactory/error.hpp"

namespace imgf::cli {

Command add_synth(CLI::App& root) {
  Command cmd;
  cmd.app = root.add_subcommand("synth", "synth (not implemented yet)");
  cmd.app->allow_extras();
  cmd.run = [](const Globals&) -> int {
    throw input_error("'imgfactory synth' is not implemented yet (issue #4)");
  };
  return cmd;
}

}  // namespace imgf::cli
