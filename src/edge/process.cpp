#include "imgfactory/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>

#include "imgfactory/error.hpp"

extern char** environ;

namespace imgf::proc {
namespace {

constexpr std::size_t kMaxChildren = 256;
std::array<std::atomic<pid_t>, kMaxChildren> g_children{};
std::atomic<int> g_signal{0};

void on_signal(int sig) {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, sig);
  for (auto& slot : g_children) {
    pid_t pg = slot.load();
    if (pg > 0) ::kill(-pg, sig);
  }
}

struct ChildSlot {
  std::size_t index = kMaxChildren;
  explicit ChildSlot(pid_t pgid) {
    for (std::size_t i = 0; i < kMaxChildren; ++i) {
      pid_t zero = 0;
      if (g_children[i].compare_exchange_strong(zero, pgid)) {
        index = i;
        break;
      }
    }
    // A signal that arrived between spawn and registration is forwarded now.
    if (int s = g_signal.load(); s != 0) ::kill(-pgid, s);
  }
  ~ChildSlot() {
    if (index < kMaxChildren) g_children[index].store(0);
  }
  ChildSlot(const ChildSlot&) = delete;
  ChildSlot& operator=(const ChildSlot&) = delete;
};

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw failure(std::string("pipe: ") + std::strerror(errno));
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    close_r();
    close_w();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_r() {
    if (r >= 0) ::close(r);
    r = -1;
  }
  void close_w() {
    if (w >= 0) ::close(w);
    w = -1;
  }
};

struct Stream {
  int fd = -1;
  std::string* capture = nullptr;
  std::size_t limit = 0;
  const std::function<void(std::string_view)>* on_line = nullptr;
  std::string partial;
  bool open = true;

  void feed(const char* data, std::size_t n) {
    if (capture && capture->size() < limit)
      capture->append(data, std::min(n, limit - capture->size()));
    if (on_line && *on_line) {
      partial.append(data, n);
      std::size_t start = 0;
      for (std::size_t nl = partial.find('\n'); nl != std::string::npos;
           nl = partial.find('\n', start)) {
        std::string_view line(partial.data() + start, nl - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        (*on_line)(line);
        start = nl + 1;
      }
      partial.erase(0, start);
      if (partial.size() > (std::size_t{1} << 20)) {  // a huge unterminated line: flush it
        (*on_line)(partial);
        partial.clear();
      }
    }
  }
  void finish() {
    if (on_line && *on_line && !partial.empty()) (*on_line)(partial);
    partial.clear();
  }
};

std::vector<std::string> build_env(const Spec& spec) {
  std::map<std::string, std::string> env;
  std::vector<std::string> order;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& k : spec.env_unset) env.erase(k);
  for (const auto& [k, v] : spec.env_set) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::string signal_name(int sig) {
  const char* d = ::strsignal(sig);
  return d ? d : ("signal " + std::to_string(sig));
}

std::string format_duration(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + "s";
  return std::to_string(ms.count()) + "ms";
}

}  // namespace

std::string Result::describe() const {
  if (spawn_failed) return "could not be started: " + spawn_error;
  if (idle_timed_out) return "stopped after " + format_duration(idle_limit) + " without output";
  if (timed_out) return "timed out after " + format_duration(elapsed);
  if (interrupted && signal != 0) return "interrupted (" + signal_name(signal) + ")";
  if (signal != 0) return "killed by signal " + std::to_string(signal) + " (" + signal_name(signal) + ")";
  return "exited with status " + std::to_string(exit_code);
}

Result SystemRunner::run(const Spec& spec) {
  Result result;
  auto started = std::chrono::steady_clock::now();
  auto last_output = started;
  result.idle_limit = spec.idle_timeout;
  if (spec.argv.empty()) {
    result.spawn_failed = true;
    result.spawn_error = "empty argv";
    return result;
  }
  std::string exe = spec.argv[0];
  if (exe.find('/') == std::string::npos) {
    std::optional<std::filesystem::path> found;
    for (const auto& [k, v] : spec.env_set)
      if (k == "PATH") found = find_executable(exe, v.c_str());
    if (!found) found = find_executable(exe);
    if (!found) {
      result.spawn_failed = true;
      result.spawn_error = "'" + exe + "' not found on PATH";
      return result;
    }
    exe = found->string();
  }

  Pipe out_pipe, err_pipe;
  std::optional<Pipe> in_pipe;
  if (spec.stdin_data) in_pipe.emplace();

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in_pipe)
    posix_spawn_file_actions_adddup2(&fa, in_pipe->r, STDIN_FILENO);
  else
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe.w, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, err_pipe.w, STDERR_FILENO);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGQUIT);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> env_strings = build_env(spec);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argvp;
  argvp.reserve(args.size() + 1);
  for (auto& a : args) argvp.push_back(a.data());
  argvp.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, &attr, argvp.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    result.spawn_failed = true;
    result.spawn_error = exe + ": " + std::strerror(rc);
    return result;
  }
  ChildSlot slot(pid);
  out_pipe.close_w();
  err_pipe.close_w();
  if (in_pipe) in_pipe->close_r();

  Stream out{out_pipe.r, spec.capture_stdout ? &result.out : nullptr, spec.capture_limit,
             &spec.on_stdout_line, {}, true};
  Stream err{err_pipe.r, spec.capture_stderr ? &result.err : nullptr, spec.capture_limit,
             &spec.on_stderr_line, {}, true};
  for (int fd : {out_pipe.r, err_pipe.r}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::size_t in_off = 0;
  if (in_pipe) {
    ::fcntl(in_pipe->w, F_SETFL, ::fcntl(in_pipe->w, F_GETFL) | O_NONBLOCK);
    if (spec.stdin_data->empty()) in_pipe->close_w();
  }

  bool exited = false;
  int status = 0;
  bool term_sent = false;
  std::chrono::steady_clock::time_point term_at{};
  std::chrono::steady_clock::time_point exited_at{};
  int forwarded = 0;
  char buf[65536];

  auto send = [&](int sig) { ::kill(-pid, sig); };

  while (true) {
    auto now = std::chrono::steady_clock::now();
    if (!exited) {
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        exited = true;
        exited_at = now;
      }
    }
    if (exited && !out.open && !err.open) break;
    // A grandchild that keeps our pipes open must not hang us after the child exited.
    if (exited && now - exited_at > std::chrono::milliseconds(2000)) break;

    if (!exited) {
      if (int s = g_signal.load(); s != 0 && forwarded == 0) {
        forwarded = s;
        result.interrupted = true;
        term_sent = true;
        term_at = now;
      }
      if (spec.timeout.count() > 0 && !term_sent && now - started >= spec.timeout) {
        result.timed_out = true;
        send(SIGTERM);
        term_sent = true;
        term_at = now;
      }
      if (spec.idle_timeout.count() > 0 && !term_sent && now - last_output >= spec.idle_timeout) {
        result.timed_out = true;
        result.idle_timed_out = true;
        send(SIGTERM);
        term_sent = true;
        term_at = now;
      }
      if (term_sent && now - term_at >= spec.kill_grace) send(SIGKILL);
    }

    std::vector<pollfd> fds;
    if (out.open) fds.push_back({out.fd, POLLIN, 0});
    if (err.open) fds.push_back({err.fd, POLLIN, 0});
    bool want_write = in_pipe && in_pipe->w >= 0;
    if (want_write) fds.push_back({in_pipe->w, POLLOUT, 0});
    if (fds.empty()) {
      ::usleep(20000);
      continue;
    }
    int pr = ::poll(fds.data(), fds.size(), 50);
    if (pr < 0 && errno != EINTR) break;
    for (const auto& p : fds) {
      if (p.revents == 0) continue;
      if (want_write && p.fd == in_pipe->w) {
        if (p.revents & (POLLERR | POLLHUP)) {
          in_pipe->close_w();
          continue;
        }
        const std::string& data = *spec.stdin_data;
        ssize_t n = ::write(p.fd, data.data() + in_off, data.size() - in_off);
        if (n > 0) in_off += static_cast<std::size_t>(n);
        if (in_off >= data.size() || (n < 0 && errno != EAGAIN && errno != EINTR))
          in_pipe->close_w();
        continue;
      }
      Stream& s = p.fd == out.fd ? out : err;
      while (true) {
        ssize_t n = ::read(s.fd, buf, sizeof buf);
        if (n > 0) {
          last_output = std::chrono::steady_clock::now();
          s.feed(buf, static_cast<std::size_t>(n));
          continue;
        }
        if (n == 0) s.open = false;
        else if (errno != EAGAIN && errno != EINTR) s.open = false;
        break;
      }
    }
  }
  out.finish();
  err.finish();
  if (!exited) {
    ::waitpid(pid, &status, 0);
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return result;
}

Result RecordingRunner::run(const Spec& spec) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(spec);
  }
  if (responder_) return responder_(spec);
  Result r;
  r.exit_code = 0;
  return r;
}

std::vector<std::vector<std::string>> RecordingRunner::argvs() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::vector<std::string>> out;
  for (const auto& c : calls_) out.push_back(c.argv);
  return out;
}

std::vector<Spec> RecordingRunner::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

std::optional<std::filesystem::path> find_executable(std::string_view name, const char* path_env) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string_view::npos) {
    std::filesystem::path p(name);
    if (::access(p.c_str(), X_OK) == 0 && !std::filesystem::is_directory(p)) return p;
    return std::nullopt;
  }
  const char* path = path_env ? path_env : std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";
    std::filesystem::path candidate = std::filesystem::path(dir) / std::string(name);
    std::error_code ec;
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate, ec))
      return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return std::nullopt;
}

std::string format_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty();
    for (char c : a) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("@%+=:,./_-", c))) {
        plain = false;
        break;
      }
    }
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) {
        if (c == '\'') out += "'\\''";
        else out += c;
      }
      out += '\'';
    }
  }
  return out;
}

void install_signal_handlers() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

int pending_signal() { return g_signal.load(); }

int exit_code_for_signal(int sig) {
  if (sig == SIGINT) return 130;
  if (sig == SIGTERM) return 143;
  return 128 + sig;
}

void throw_if_interrupted() {
  int s = g_signal.load();
  if (s == 0) return;
  throw Error(s == SIGINT ? Exit::sigint : Exit::sigterm,
              std::string("interrupted by ") + (s == SIGINT ? "SIGINT" : "SIGTERM"));
}

void reset_pending_signal() { g_signal.store(0); }

}  // namespace imgf::proc
