#pragma once
#include <string>

namespace imgf {
// "imgfactory <version>" as printed by --version.
std::string version_string();
}  // namespace imgf
