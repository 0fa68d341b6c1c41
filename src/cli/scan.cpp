#include "commands.hpp"
#include "imgfactory/error.hpp"

namespace imgf::cli {

Command add_scan(CLI::App& root) {
  Command cmd;
  cmd.app = root.add_subcommand("scan", "scan (not implemented yet)");
  cmd.app->allow_extras();
  cmd.run = [](const Globals&) -> int {
    throw input_error("'imgfactory scan' is not implemented yet (issue #5)");
  };
  return cmd;
}

}  // namespace imgf::cli
