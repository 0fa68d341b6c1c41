#pragma once
// Child processes from an argv vector (posix_spawn, never a shell), with captured or
// line-streamed output, a timeout, their own process group, and SIGINT/SIGTERM forwarded
// to every running child. Side effects sit behind `Runner` so commands can be handed a
// fake that records argv (tests) or prints it (--dry-run).
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imgf::proc {

struct Spec {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH when it has no '/'
  std::filesystem::path cwd;      // empty: inherit
  std::vector<std::pair<std::string, std::string>> env_set;  // added or overridden
  std::vector<std::string> env_unset;
  std::optional<std::string> stdin_data;  // nullopt: /dev/null
  std::chrono::milliseconds timeout{0};   // 0: none. On expiry SIGTERM, then SIGKILL after kill_grace
  std::chrono::milliseconds kill_grace{5000};
  // 0: none. A child that writes nothing (stdout or stderr) for this long is stopped like
  // one that ran out of `timeout` (timed_out and idle_timed_out set).
  std::chrono::milliseconds idle_timeout{0};
  // Called for every complete line (without the newline) as it arrives, and for a final
  // unterminated line at EOF.
  std::function<void(std::string_view)> on_stdout_line;
  std::function<void(std::string_view)> on_stderr_line;
  bool capture_stdout = true;
  bool capture_stderr = true;
  std::size_t capture_limit = std::size_t{256} << 20;  // bytes kept per stream
};

struct Result {
  int exit_code = -1;  // the status when the child exited; -1 otherwise
  int signal = 0;      // the signal that ended it, if any
  bool timed_out = false;
  bool idle_timed_out = false;  // timed out by Spec::idle_timeout
  bool interrupted = false;  // we received SIGINT/SIGTERM while it ran
  bool spawn_failed = false;
  std::string spawn_error;
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
  std::chrono::milliseconds idle_limit{0};  // the Spec's idle_timeout, for describe()

  [[nodiscard]] bool ok() const {
    return !spawn_failed && !timed_out && signal == 0 && exit_code == 0;
  }
  // "exited with status 2", "killed by signal 9 (Killed)", "timed out after 30s", ...
  [[nodiscard]] std::string describe() const;
};

class Runner {
 public:
  virtual ~Runner() = default;
  virtual Result run(const Spec& spec) = 0;
};

// Runs real children.
class SystemRunner final : public Runner {
 public:
  Result run(const Spec& spec) override;
};

// Records every Spec and answers with `responder` (default: exit 0, no output). Thread-safe.
class RecordingRunner final : public Runner {
 public:
  using Responder = std::function<Result(const Spec&)>;
  explicit RecordingRunner(Responder responder = {}) : responder_(std::move(responder)) {}
  Result run(const Spec& spec) override;
  [[nodiscard]] std::vector<std::vector<std::string>> argvs() const;
  [[nodiscard]] std::vector<Spec> calls() const;

 private:
  Responder responder_;
  mutable std::mutex mu_;
  std::vector<Spec> calls_;
};

// The executable `name` would run as: itself when it contains '/', else the first match on
// `path_env` (default: $PATH). nullopt when none is found.
std::optional<std::filesystem::path> find_executable(std::string_view name,
                                                     const char* path_env = nullptr);

// argv for display (dry-run output, logs): words quoted as a POSIX shell would need them.
// For reading only: nothing ever passes this string to a shell.
std::string format_argv(const std::vector<std::string>& argv);

// --- interruption -------------------------------------------------------------------------
// Installs SIGINT/SIGTERM handlers that remember the signal and forward it to the process
// group of every child started by SystemRunner. Idempotent.
void install_signal_handlers();
// The signal received (SIGINT/SIGTERM), or 0.
int pending_signal();
// 130 for SIGINT, 143 for SIGTERM, 128+sig otherwise.
int exit_code_for_signal(int sig);
// Throws imgf::Error with exit 130/143 when a signal has arrived.
void throw_if_interrupted();
// For tests: forget a received signal.
void reset_pending_signal();

}  // namespace imgf::proc
