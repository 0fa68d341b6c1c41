#include "commands.hpp"
#include "imgfactory/error.hpp"

namespace imgf::cli {

Command add_healthcheck(CLI::App& root) {
  Command cmd;
  cmd.app = root.add_subcommand("healthcheck", "healthcheck (not implemented yet)");
  cmd.app->allow_extras();
  cmd.run = [](const Globals&) -> int {
    throw input_error("'imgfactory healthcheck' is not implemented yet (issue #7)");
  };
  return cmd;
}

}  // namespace imgf::cli
