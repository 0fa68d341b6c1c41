// The executor of a build plan: stages in order, the steps of a parallel stage on worker
// threads (up to --jobs), each child's output line-streamed with its label, transient
// registry errors retried with backoff, one deadline for the whole plan, and the failure
// steps (removing the local manifest list) on any failure, timeout or SIGINT/SIGTERM.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "imgfactory/builder.hpp"
#include "imgfactory/error.hpp"

namespace imgf::builder {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

std::string seconds_text(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + "s";
  return std::to_string(ms.count()) + "ms";
}

// The last lines a child wrote to stderr, to name the cause of a failure and classify it.
class Tail {
 public:
  void push(std::string_view line) {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.emplace_back(line);
    if (lines_.size() > 40) lines_.pop_front();
  }
  std::string text() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    return out;
  }
  // The cause for the error message: the last line that reports an error (logrus's
  // `time=".." level=error msg=".."` reduced to its msg) and, when that line says nothing
  // specific (buildah's "(Unable to determine exit status)", a bare "exit status 1", or its
  // step wrapper `Error: building at STEP "RUN ...": exit status 1`, which names the step but
  // not why it failed), the
  // error lines before it up to the first specific one: at most 3 lines, oldest first,
  // joined by "; ". Else the last non-empty line.
  std::string cause() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> picked;
    for (auto it = lines_.rbegin(); it != lines_.rend() && picked.size() < 3; ++it) {
      if (!reports_error(*it)) continue;
      std::string text = plain(*it);
      if (std::find(picked.begin(), picked.end(), text) != picked.end()) continue;
      const bool generic = is_generic(text);
      picked.push_back(std::move(text));
      if (!generic) break;
    }
    if (picked.empty()) {
      for (auto it = lines_.rbegin(); it != lines_.rend(); ++it)
        if (!it->empty()) return plain(*it);
      return {};
    }
    std::string out;
    for (auto it = picked.rbegin(); it != picked.rend(); ++it) out += (out.empty() ? "" : "; ") + *it;
    return out;
  }

  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static bool reports_error(const std::string& line) {
    const std::string low = lower(line);
    for (const char* k : {"error", "erro[", "fatal", "fata[", "operation not permitted", "permission denied"})
      if (low.find(k) != std::string::npos) return true;
    return false;
  }
  // `time="2024-.." level=error msg="x \"y\""` -> `x "y"`; `ERRO[0000] x` -> `x`; else as is.
  static std::string plain(const std::string& line) {
    if (const auto m = line.find(" msg=\""); m != std::string::npos && line.find("level=") != std::string::npos) {
      std::string out;
      for (std::size_t i = m + 6; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) ++i;
        out += line[i];
      }
      return out;
    }
    if (line.size() > 11 && (line.starts_with("ERRO[") || line.starts_with("FATA[") || line.starts_with("WARN["))) {
      const auto close = line.find("] ");
      if (close != std::string::npos && close < 16) return line.substr(close + 2);
    }
    return line;
  }
  static bool is_generic(const std::string& text) {
    const std::string low = lower(text);
    if (low.find("unable to determine exit status") != std::string::npos) return true;
    std::string t = low;
    for (const char* p : {"error: ", "error "}) if (t.starts_with(p)) t = t.substr(std::string_view(p).size());
    // "exit status N" alone, or "...: exit status N" (a wrapper naming what exited)
    const auto at = t.rfind("exit status ");
    if (at == std::string::npos || at + 12 == t.size() || t.find_first_not_of("0123456789", at + 12) != std::string::npos)
      return false;
    return at == 0 || (at >= 2 && t.compare(at - 2, 2, ": ") == 0);
  }

 private:
  mutable std::mutex mu_;
  std::deque<std::string> lines_;
};

struct Failure {
  const Step* step = nullptr;
  std::string what;   // Result::describe()
  std::string cause;  // last error line
  int attempts = 1;
};

class Run {
 public:
  Run(const Plan& plan, proc::Runner& runner, const ExecOptions& o) : plan_(plan), runner_(runner), o_(o) {
    started_ = Clock::now();
    if (o.timeout.count() > 0) deadline_ = started_ + o.timeout;
    if (!o_.on_line)
      o_.on_line = [](const std::string& label, std::string_view line) { spdlog::info("[{}] {}", label, line); };
    if (!o_.sleep)
      o_.sleep = [this](std::chrono::milliseconds d) {
        auto until = std::min(Clock::now() + d, deadline_);
        while (Clock::now() < until && proc::pending_signal() == 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
      };
  }

  ExecOutput go() {
    for (const auto& stage : plan_.stages) {
      spdlog::debug("stage {}", stage.name);
      run_stage(stage);
      if (stopped()) break;
    }
    if (!stopped()) return std::move(out_);
    fail();
  }

 private:
  bool stopped() const { return failed_ || interrupted_ || timed_out_ || proc::pending_signal() != 0; }

  void run_stage(const Stage& stage) {
    std::size_t n = stage.steps.size();
    std::size_t workers = stage.parallel ? (o_.jobs == 0 ? n : std::min(o_.jobs, n)) : 1;
    if (workers <= 1) {
      for (const auto& s : stage.steps) {
        if (stopped() || !run_step(s)) break;
      }
      return;
    }
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (std::size_t w = 0; w < workers; ++w) {
      threads.emplace_back([&] {
        while (true) {
          std::size_t i = next.fetch_add(1);
          if (i >= n || stopped()) break;
          run_step(stage.steps[i]);
        }
      });
    }
    for (auto& t : threads) t.join();
  }

  // Runs one step (with retries); false when the plan must stop.
  bool run_step(const Step& s) {
    int attempts = s.retry ? 1 + std::max(0, o_.retries) : 1;
    auto delay = o_.retry_delay;
    for (int attempt = 1;; ++attempt) {
      if (proc::pending_signal() != 0) {
        interrupted_ = true;
        return false;
      }
      auto now = Clock::now();
      if (now >= deadline_) {
        timed_out_ = true;
        return false;
      }
      proc::Spec spec;
      spec.argv = s.argv;
      spec.cwd = o_.cwd;
      spec.kill_grace = o_.kill_grace;
      if (deadline_ != Clock::time_point::max())
        spec.timeout = std::max(std::chrono::milliseconds(1),
                                std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now));
      Tail tail;
      const std::string& label = s.label;
      auto sink = o_.on_line;
      if (s.may_fail)  // its failure is expected and ignored: keep its output out of the way
        sink = [](const std::string& l, std::string_view line) { spdlog::debug("[{}] {}", l, line); };
      spec.capture_stdout = s.capture;
      spec.capture_stderr = false;
      if (!s.capture) spec.on_stdout_line = [&](std::string_view l) { sink(label, l); };
      spec.on_stderr_line = [&](std::string_view l) {
        tail.push(l);
        sink(label, l);
      };
      if (attempt == 1)
        spdlog::info("[{}] $ {}", label, proc::format_argv(s.argv));
      else
        spdlog::info("[{}] attempt {}/{}: $ {}", label, attempt, attempts, proc::format_argv(s.argv));
      std::error_code ec;
      if (!s.produces.empty()) fs::remove(s.produces, ec);  // a stale file must not pass for this attempt's
      proc::Result r = runner_.run(spec);
      bool missing_output = false;
      if (r.ok() && !s.produces.empty() && (!fs::exists(s.produces, ec) || fs::file_size(s.produces, ec) == 0)) {
        missing_output = true;
      }
      if (r.ok() && !missing_output) {
        if (s.capture) {
          std::lock_guard<std::mutex> lock(mu_);
          out_.captured[s.label] = r.out;
        }
        return true;
      }
      if (r.interrupted || proc::pending_signal() != 0) {
        interrupted_ = true;
        return false;
      }
      if (r.timed_out) {
        timed_out_ = true;
        return false;
      }
      if (s.may_fail) {
        spdlog::debug("[{}] {} (ignored)", label, r.describe());
        return true;
      }
      std::string errors = tail.text() + r.spawn_error;
      std::string what = r.describe();
      std::string cause = r.spawn_failed ? r.spawn_error : tail.cause();
      if (missing_output) {
        what = "exited 0 without writing " + s.produces.filename().string();
        cause = "the registry connection was lost before the push completed";
      }
      if (s.retry && attempt < attempts && (missing_output || is_transient_registry_error(errors))) {
        auto wait = delay;
        spdlog::warn("[{}] {}: {}; transient, retrying in {} (retry {} of {})", label, what, cause,
                     seconds_text(wait), attempt, attempts - 1);
        o_.sleep(wait);
        delay = std::min(delay * 2, std::chrono::milliseconds(30000));
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      failures_.push_back(Failure{&s, what, cause, attempt});
      failed_ = true;
      return false;
    }
  }

  [[noreturn]] void fail() {
    int sig = proc::pending_signal();
    // Cleanup children must not inherit the interruption (the runner signals children
    // started after a signal arrived); the exit code still reports it.
    if (sig != 0) proc::reset_pending_signal();
    for (const auto& s : plan_.on_failure) {
      proc::Spec spec;
      spec.argv = s.argv;
      spec.cwd = o_.cwd;
      spec.timeout = std::chrono::milliseconds(60000);
      spec.kill_grace = std::chrono::milliseconds(2000);
      spdlog::info("[{}] $ {}", s.label, proc::format_argv(s.argv));
      proc::Result r = runner_.run(spec);
      if (!r.ok()) spdlog::debug("[{}] {}", s.label, r.describe());
    }
    if (sig != 0 || interrupted_) {
      if (sig == 0) sig = SIGTERM;
      throw Error(sig == SIGINT ? Exit::sigint : Exit::sigterm,
                  std::string("build of ") + plan_.reference + " interrupted by " +
                      (sig == SIGINT ? "SIGINT" : "SIGTERM") + "; children stopped" +
                      (plan_.list.empty() ? "" : ", local manifest list removed") + ", state unchanged");
    }
    if (timed_out_)
      throw failure("build of " + plan_.reference + " did not finish within --timeout " + seconds_text(o_.timeout),
                    {}, 0, "children were stopped; raise --timeout or check the build log above");
    std::string msg;
    std::string hint;
    for (const auto& f : failures_) {
      if (!msg.empty()) msg += "; ";
      const Step& s = *f.step;
      switch (s.kind) {
        case Step::Kind::build: msg += "build for " + s.label + " failed (buildah " + f.what + ")"; break;
        case Step::Kind::push:
          msg += "push of " + plan_.reference + " failed (" + f.what +
                 (f.attempts > 1 ? ", after " + std::to_string(f.attempts) + " attempts" : "") + ")";
          break;
        default: msg += s.label + ": " + proc::format_argv(s.argv) + " " + f.what; break;
      }
      if (!f.cause.empty()) hint += (hint.empty() ? "" : "\n  ") + s.label + ": " + f.cause;
    }
    throw failure(msg, {}, 0, hint);
  }

  const Plan& plan_;
  proc::Runner& runner_;
  ExecOptions o_;
  Clock::time_point started_;
  Clock::time_point deadline_ = Clock::time_point::max();
  std::mutex mu_;
  ExecOutput out_;
  std::vector<Failure> failures_;
  std::atomic<bool> failed_{false};
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> timed_out_{false};
};

}  // namespace

// Here rather than in the pure core because it renders argv with proc::format_argv.
std::string render_plan_text(const Plan& plan, std::size_t jobs) {
  std::string out = "# imgfactory build plan for " + plan.reference + "\n";
  auto line = [](const Step& s) {
    std::string l = proc::format_argv(s.argv);
    if (s.may_fail) l += "  # may fail";
    if (s.retry) l += "  # retried on transient registry errors";
    return l + "\n";
  };
  for (const auto& stage : plan.stages) {
    out += "# " + stage.name;
    if (stage.parallel && stage.steps.size() > 1) {
      std::size_t n = jobs == 0 ? stage.steps.size() : std::min(jobs, stage.steps.size());
      out += " (in parallel, " + std::to_string(n) + " at a time)";
    }
    out += "\n";
    for (const auto& s : stage.steps) out += line(s);
  }
  if (!plan.on_failure.empty()) {
    out += "# on failure or interruption\n";
    for (const auto& s : plan.on_failure) out += line(s);
  }
  return out;
}

ExecOutput execute(const Plan& plan, proc::Runner& runner, const ExecOptions& options) {
  Run run(plan, runner, options);
  return run.go();
}

}  // namespace imgf::builder
