#pragma once
// Quoted YAML scalars, one writer for every YAML file imgfactory writes (the state files of
// src/core/state.cpp and the Kargo manifests of src/core/kargo_yaml.cpp). Pure.
//
// What a double-quoted scalar escapes, so that YAML 1.1 and 1.2 readers alike (yaml-cpp,
// PyYAML, Go's yaml.v3 as kubectl uses it) read back exactly `s`:
//   "  \  LF TAB CR          as \"  \\  \n  \t  \r
//   other C0 controls, DEL   as \u0001 ... \u007F
//   C1 controls and NEL      as \u0080 ... \u009F (not \N: yaml-cpp 0.7 decodes \N to a lone
//                            0x85 byte, which is not UTF-8)
//   LS, PS                   as \u2028, \u2029 (YAML 1.1 readers take them for line breaks)
//   BOM, U+FFFE, U+FFFF      as \uFEFF, \uFFFE, \uFFFF (not printable, or a stream marker)
// Every escape is also a JSON escape. Other UTF-8 is written as it is; bytes that are not
// UTF-8 are written unchanged (no YAML escape denotes a raw byte).
#include <string>
#include <string_view>

namespace imgf::yamlquote {

// `s` as a YAML double-quoted scalar ("..."), escaped as above.
std::string double_quoted(std::string_view s);
// `s` as a YAML single-quoted scalar ('...', a quote doubled). Only for text without
// characters that need an escape (needs_escapes(s) false): single quotes have no escapes.
std::string single_quoted(std::string_view s);
// True when `s` holds a character that only a double-quoted scalar can carry unchanged (any
// character double_quoted writes as \u....; also LF, TAB and CR).
bool needs_escapes(std::string_view s);

}  // namespace imgf::yamlquote
