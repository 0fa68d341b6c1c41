#include "imgfactory/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <vector>

#include "imgfactory/error.hpp"

namespace imgf::log {
namespace {

std::mutex& secrets_mutex() {
  static std::mutex m;
  return m;
}
std::vector<std::string>& secrets() {
  static std::vector<std::string> s;
  return s;
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

std::string level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

class Sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  Sink(Format format, bool color) : format_(format), color_(color) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string text = redact(std::string_view(msg.payload.data(), msg.payload.size()));
    std::string line;
    if (format_ == Format::json) {
      auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch());
      std::time_t t = static_cast<std::time_t>(secs.count() / 1000);
      std::tm tm{};
      gmtime_r(&t, &tm);
      char buf[40];
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
      nlohmann::json j;
      j["time"] = fmt::format("{}.{:03d}Z", buf, static_cast<int>(secs.count() % 1000));
      j["level"] = level_name(msg.level);
      j["msg"] = text;
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      line += '\n';
    } else {
      std::string lvl = level_name(msg.level);
      if (color_) {
        const char* c = "";
        switch (msg.level) {
          case spdlog::level::warn: c = "\033[33m"; break;
          case spdlog::level::err:
          case spdlog::level::critical: c = "\033[31m"; break;
          case spdlog::level::debug:
          case spdlog::level::trace: c = "\033[2m"; break;
          default: c = "\033[36m"; break;
        }
        line = fmt::format("{}{}\033[0m: {}\n", c, lvl, text);
      } else {
        line = fmt::format("{}: {}\n", lvl, text);
      }
    }
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  Format format_;
  bool color_;
};

std::atomic<Format> g_format{Format::text};

}  // namespace

Options default_options() {
  Options o;
  if (const char* l = std::getenv("IMGFACTORY_LOG_LEVEL"); l && *l) o.level = l;
  o.format = env_set("KUBERNETES_SERVICE_HOST") ? Format::json : Format::text;
  o.color = !env_set("NO_COLOR") && !env_set("CI") && isatty(STDERR_FILENO) != 0;
  return o;
}

void setup(const Options& options) {
  static const std::vector<std::string> names = {"trace", "debug", "info", "warn", "error"};
  spdlog::level::level_enum level = spdlog::level::info;
  bool found = false;
  for (const auto& n : names) {
    if (options.level == n) {
      level = n == "trace"   ? spdlog::level::trace
              : n == "debug" ? spdlog::level::debug
              : n == "info"  ? spdlog::level::info
              : n == "warn"  ? spdlog::level::warn
                             : spdlog::level::err;
      found = true;
    }
  }
  if (!found)
    throw input_error("unknown log level '" + options.level + "'", {}, 0,
                      "use one of trace, debug, info, warn, error");
  auto sink = std::make_shared<Sink>(options.format, options.color);
  auto logger = std::make_shared<spdlog::logger>("imgfactory", sink);
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  g_format = options.format;
}

Format current_format() { return g_format.load(); }

void report_error(const std::string& text) {
  if (g_format.load() == Format::json) {
    spdlog::error("{}", text);
    return;
  }
  std::string line = "imgfactory: " + redact(text) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void add_secret(std::string secret) {
  if (secret.size() < 4) return;  // too short to mask without destroying ordinary text
  std::lock_guard<std::mutex> lock(secrets_mutex());
  for (const auto& s : secrets())
    if (s == secret) return;
  secrets().push_back(std::move(secret));
}

std::string redact(std::string_view text) {
  std::string out(text);
  {
    std::lock_guard<std::mutex> lock(secrets_mutex());
    for (const auto& s : secrets()) {
      for (std::size_t pos = out.find(s); pos != std::string::npos; pos = out.find(s, pos + 3))
        out.replace(pos, s.size(), "***");
    }
  }
  // userinfo in URLs: scheme://user:password@host or scheme://token@host
  static const std::regex url_userinfo(R"(([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@)");
  out = std::regex_replace(out, url_userinfo, "$1***@");
  // Authorization headers and credential-looking key=value / key: value pairs
  static const std::regex header(
      R"((authorization|proxy-authorization)(\s*[:=]\s*)(bearer\s+|basic\s+|token\s+)?[^\s,;"']+)",
      std::regex::icase);
  out = std::regex_replace(out, header, "$1$2$3***");
  static const std::regex kv(
      R"(\b([A-Za-z_]*(token|password|passwd|secret|apikey|api_key)[A-Za-z_]*)(=|: ?)([^\s,;"']+))",
      std::regex::icase);
  out = std::regex_replace(out, kv, "$1$3***");
  return out;
}

}  // namespace imgf::log
