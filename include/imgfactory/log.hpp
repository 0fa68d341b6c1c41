#pragma once
// Logging: spdlog to stderr, as text or as one JSON object per line; every message passes
// the redactor at the sink, so tokens in URLs, auth headers and registered secrets never
// reach a log.
#include <string>
#include <string_view>

namespace imgf::log {

enum class Format { text, json };

struct Options {
  std::string level = "info";  // trace, debug, info, warn, error
  Format format = Format::text;
  bool color = false;
};

// Reads KUBERNETES_SERVICE_HOST, NO_COLOR, CI and whether stderr is a TTY to fill defaults.
Options default_options();
// Throws imgf::Error (exit 2) on an unknown level.
void setup(const Options& options);
// The format set by setup() (text before it).
Format current_format();
// Reports a fatal error: a JSON log line in json mode, else "imgfactory: <text>" on stderr.
void report_error(const std::string& text);

// A secret value (token, password) to mask wherever it appears in a log line.
void add_secret(std::string secret);
// Masks registered secrets, userinfo in URLs (https://user:token@host) and
// Authorization / token headers and key=value pairs that look like credentials.
std::string redact(std::string_view text);

}  // namespace imgf::log
