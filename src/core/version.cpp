#include "imgfactory/version.hpp"

namespace imgf {
std::string version_string() { return std::string("imgfactory ") + IMGF_VERSION; }
}  // namespace imgf
