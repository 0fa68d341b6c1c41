#pragma once
// Durations, one grammar for every one imgfactory reads: images.yaml's rebuildDelay,
// analyze --git-timeout, build --timeout / --retry-delay, scan --timeout, healthcheck
// --timeout. Pure.
//
//   duration := number unit { number unit } | number     (a bare number is seconds)
//   number   := digits [ "." digits ] | "." digits         unit := ms | s | m | h | d | w
//
// "90s", "30m", "1h30m", "1.5h", "500ms", "7d", "2w", "45". Blanks around the text are
// ignored, none inside ("5 s" is refused); no sign. Each caller adds its own limits (positive,
// at most a day, ...) and its own message.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace imgf::duration {

enum class Bare { seconds, refused };

// The duration in milliseconds (rounded), or nullopt with the reason in *why: "empty",
// "expected a number", "malformed number", "missing unit" (also a bare number under
// Bare::refused), "unknown unit 'y'", "too long" (over 100 years).
std::optional<std::chrono::milliseconds> parse(std::string_view text, std::string* why = nullptr,
                                               Bare bare = Bare::seconds);

}  // namespace imgf::duration
