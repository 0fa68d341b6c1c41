#pragma once
// Internal to imgf_core: pieces shared by the Dockerfile parser files.
#include <string>
#include <string_view>
#include <vector>

namespace imgf::dockerfile::detail {

// The outcome of reading an instruction's arguments as a JSON array, the way BuildKit does
// (encoding/json.Unmarshal into []interface{}).
enum class JsonArray {
  ok,                // a valid array of strings: `out` holds them
  not_string_array,  // valid JSON array with a non-string element: a parse error in BuildKit
  invalid,           // not JSON (or not starting with '['): the shell form is used instead
};

JsonArray parse_json_array(std::string_view rest, std::vector<std::string>& out);

}  // namespace imgf::dockerfile::detail
