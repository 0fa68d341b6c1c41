// The registry client: skopeo queries run through build's executor (one-step plans), so a
// query has exactly build's retries, backoff, transient-error rules, interruption handling
// and logging; answers are memoised; many queries run on a bounded set of threads.
#include "imgfactory/registry.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <set>
#include <thread>

#include "imgfactory/error.hpp"

namespace imgf::registry {
namespace {

std::string seconds_arg(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + "s";
  return std::to_string(ms.count()) + "ms";
}

bool is_signal(const Error& e) { return e.code() == Exit::sigint || e.code() == Exit::sigterm; }

}  // namespace

Client::Client(proc::Runner& runner, Options options) : runner_(runner), options_(std::move(options)) {
  if (options_.jobs == 0) options_.jobs = 1;
}

std::size_t Client::queries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queries_;
}

// One skopeo call as a one-step build plan: retried on transient registry errors with
// build's backoff. Returns its stdout; throws imgf::Error (exit 1) naming the cause.
std::string Client::skopeo_raw(const std::vector<std::string>& args, const std::string& label) {
  builder::Step step{builder::Step::Kind::inspect, label, {"skopeo"}};
  if (options_.attempt_timeout.count() > 0) {
    step.argv.emplace_back("--command-timeout");
    step.argv.push_back(seconds_arg(options_.attempt_timeout));
  }
  step.argv.insert(step.argv.end(), args.begin(), args.end());
  step.retry = true;
  step.capture = true;
  builder::Plan plan;
  plan.reference = label;
  plan.stages.push_back(builder::Stage{"query", false, {step}});
  builder::ExecOptions eo;
  eo.retries = options_.retries;
  eo.retry_delay = options_.retry_delay;
  eo.sleep = options_.sleep;
  // A safety net only: each attempt is bounded by skopeo's --command-timeout.
  if (options_.attempt_timeout.count() > 0)
    eo.timeout = (options_.attempt_timeout + std::chrono::seconds(35)) * (std::max(0, options_.retries) + 1);
  eo.on_line = [](const std::string& l, std::string_view line) { spdlog::debug("[{}] {}", l, line); };
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++queries_;
  }
  try {
    builder::ExecOutput out = builder::execute(plan, runner_, eo);
    return out.captured[label];
  } catch (const Error& e) {
    if (is_signal(e)) throw;
    // The executor's hint is "<label>: <skopeo's last error line>".
    std::string cause = e.hint();
    if (cause.rfind(label + ": ", 0) == 0) cause = cause.substr(label.size() + 2);
    if (auto at = cause.find("msg=\""); at != std::string::npos) {  // skopeo's logrus line
      cause = cause.substr(at + 5);
      if (!cause.empty() && cause.back() == '"') cause.pop_back();
    }
    throw failure("cannot ask the registry for " + label + ": " + (cause.empty() ? e.message() : cause), {}, 0,
                  "check that the registry is reachable and the image exists; credentials come from "
                  "REGISTRY_AUTH_FILE, plain-http registries need an insecure entry in registries.conf(.d)");
  }
}

Resolved Client::ask(const reference::Reference& ref) {
  Resolved r;
  r.reference = query_reference(ref);
  std::string raw = skopeo_raw({"inspect", "--raw", "docker://" + r.reference}, r.reference);
  Manifest m = describe_manifest(raw);
  r.digest = m.digest;
  r.index = m.index;
  if (m.index) {
    r.platforms = m.platforms;
    return r;
  }
  std::string platform = m.platform;
  if (platform.empty() && !m.config_digest.empty()) {
    std::string at = ref.repository_url() + "@" + m.digest;
    platform = platform_of_config(skopeo_raw({"inspect", "--config", "--raw", "docker://" + at}, at));
  }
  if (!platform.empty()) r.platforms.push_back(builder::PlatformDigest{platform, m.digest});
  return r;
}

Resolved Client::resolve(const std::string& reference) {
  reference::Reference ref = reference::parse(reference);
  const std::string key = query_reference(ref);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = memo_.find(key); it != memo_.end()) {
      if (it->second.resolved) return *it->second.resolved;
      throw failure(it->second.error);
    }
  }
  Outcome o;
  o.reference = reference;
  try {
    o.resolved = ask(ref);
  } catch (const Error& e) {
    if (is_signal(e)) throw;
    o.error = e.message();
    {
      std::lock_guard<std::mutex> lock(mu_);
      memo_.emplace(key, o);
    }
    throw;
  }
  std::lock_guard<std::mutex> lock(mu_);
  memo_.emplace(key, o);
  spdlog::debug("{} serves {}", key, o.resolved->digest);
  return *o.resolved;
}

std::vector<Outcome> Client::resolve_all(const std::vector<std::string>& references) {
  // Each distinct query once, then the answers handed to every reference that asked it.
  std::vector<std::string> unique;
  std::map<std::string, std::size_t> slot;
  for (const auto& r : references) {
    std::string key = r;
    if (auto ref = reference::try_parse(r)) key = query_reference(*ref);
    if (slot.emplace(key, unique.size()).second) unique.push_back(r);
  }
  std::vector<Outcome> answers(unique.size());
  std::atomic<std::size_t> next{0};
  std::atomic<bool> interrupted{false};
  std::mutex error_mu;
  std::optional<Error> signal_error;
  auto worker = [&] {
    while (!interrupted) {
      std::size_t i = next.fetch_add(1);
      if (i >= unique.size()) break;
      try {
        answers[i].resolved = resolve(unique[i]);
      } catch (const Error& e) {
        if (is_signal(e)) {
          interrupted = true;
          std::lock_guard<std::mutex> lock(error_mu);
          if (!signal_error) signal_error = e;
          break;
        }
        answers[i].error = e.message();
      }
    }
  };
  std::size_t n = std::min(options_.jobs, unique.size());
  if (n <= 1) {
    worker();
  } else {
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (std::size_t t = 0; t < n; ++t) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
  }
  if (signal_error) throw *signal_error;
  proc::throw_if_interrupted();
  std::vector<Outcome> out;
  out.reserve(references.size());
  for (const auto& r : references) {
    std::string key = r;
    if (auto ref = reference::try_parse(r)) key = query_reference(*ref);
    Outcome o = answers[slot.at(key)];
    o.reference = r;
    out.push_back(std::move(o));
  }
  return out;
}

void Client::forget(const std::string& repository_url) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = memo_.begin(); it != memo_.end();) {
    const std::string& k = it->first;
    bool same = k.size() > repository_url.size() && k.compare(0, repository_url.size(), repository_url) == 0 &&
                (k[repository_url.size()] == ':' || k[repository_url.size()] == '@');
    it = same ? memo_.erase(it) : std::next(it);
  }
}

}  // namespace imgf::registry
