#pragma once
// Small text helpers shared by several modules.
#include <string>
#include <string_view>

namespace imgf::text {

// %XX sequences (two hex digits) decoded to bytes; anything else, including a malformed '%',
// kept as it is.
std::string percent_decode(std::string_view s);

}  // namespace imgf::text
