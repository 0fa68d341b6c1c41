#include "git_support.hpp"

#include <fcntl.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "imgfactory/process.hpp"

namespace imgf::gitsupport {

namespace {

// --- a timed socket stream for libgit2 --------------------------------------------------------
//
// libgit2 1.5 connects with a blocking connect() and reads without a timeout, so an
// unreachable or silent host hangs a fetch for minutes. We register our own standard
// (non-TLS) stream: libgit2's TLS streams and its git:// and http:// transports all create
// their sockets through it. Its first members mirror libgit2's own git_socket_stream
// (parent, host, port, socket), which the ssh transport reads to hand the socket to libssh2;
// the socket stays in blocking mode for libssh2, we poll before each read and write.

std::atomic<long> g_connect_timeout_ms{15000};
std::atomic<long> g_io_timeout_ms{60000};

struct TimedStream {
  git_stream parent;
  char* host;
  char* port;
  int s;
};

void set_net_error(const std::string& msg) { git_error_set_str(GIT_ERROR_NET, msg.c_str()); }

std::string where(const TimedStream* ts) { return std::string(ts->host) + ":" + ts->port; }

std::string seconds_text(long ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// Waits until fd is ready for `events`; 1 ready, 0 timed out, -1 error or interrupted
// (git error set).
int wait_fd(TimedStream* ts, short events, long timeout_ms, const char* doing) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (proc::pending_signal() != 0) {
      set_net_error("interrupted while " + std::string(doing) + " " + where(ts));
      return -1;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return 0;
    pollfd p{ts->s, events, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 200)));
    if (rc < 0) {
      if (errno == EINTR) continue;
      set_net_error(std::string(doing) + " " + where(ts) + ": " + std::strerror(errno));
      return -1;
    }
    if (rc > 0) return 1;
  }
}

int ts_connect(git_stream* stream) {
  auto* ts = reinterpret_cast<TimedStream*>(stream);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(ts->host, ts->port, &hints, &res); rc != 0) {
    set_net_error("failed to resolve address for " + std::string(ts->host) + ": " + ::gai_strerror(rc));
    return -1;
  }
  const long timeout = g_connect_timeout_ms.load();
  std::string last_error = "no address";
  bool timed_out = false;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      ts->s = fd;
      int w = wait_fd(ts, POLLOUT, timeout, "connecting to");
      ts->s = -1;
      if (w < 0) {
        ::close(fd);
        ::freeaddrinfo(res);
        return -1;
      }
      if (w == 0) {
        timed_out = true;
        last_error = "timed out after " + seconds_text(timeout);
        ::close(fd);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      if (err != 0) errno = err;
    }
    if (rc != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    ts->s = fd;
    ::freeaddrinfo(res);
    return 0;
  }
  ::freeaddrinfo(res);
  set_net_error((timed_out ? "connection to " : "cannot connect to ") + where(ts) + ": " + last_error);
  return -1;
}

ssize_t ts_read(git_stream* stream, void* data, size_t len) {
  auto* ts = reinterpret_cast<TimedStream*>(stream);
  while (true) {
    int w = wait_fd(ts, POLLIN, g_io_timeout_ms.load(), "reading from");
    if (w < 0) return -1;
    if (w == 0) {
      set_net_error("no data from " + where(ts) + " for " + seconds_text(g_io_timeout_ms.load()));
      return -1;
    }
    ssize_t n = ::recv(ts->s, data, len, MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
    set_net_error("error reading from " + where(ts) + ": " + std::strerror(errno));
    return -1;
  }
}

ssize_t ts_write(git_stream* stream, const char* data, size_t len, int /*flags*/) {
  auto* ts = reinterpret_cast<TimedStream*>(stream);
  size_t done = 0;
  while (done < len) {
    int w = wait_fd(ts, POLLOUT, g_io_timeout_ms.load(), "writing to");
    if (w < 0) return -1;
    if (w == 0) {
      set_net_error("cannot send to " + where(ts) + " for " + seconds_text(g_io_timeout_ms.load()));
      return -1;
    }
    ssize_t n = ::send(ts->s, data + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      set_net_error("error writing to " + where(ts) + ": " + std::strerror(errno));
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(len);
}

int ts_close(git_stream* stream) {
  auto* ts = reinterpret_cast<TimedStream*>(stream);
  if (ts->s >= 0) ::close(ts->s);
  ts->s = -1;
  return 0;
}

void ts_free(git_stream* stream) {
  auto* ts = reinterpret_cast<TimedStream*>(stream);
  ts_close(stream);
  std::free(ts->host);
  std::free(ts->port);
  delete ts;
}

int ts_init(git_stream** out, const char* host, const char* port) {
  auto* ts = new TimedStream{};
  ts->parent.version = GIT_STREAM_VERSION;
  ts->parent.encrypted = 0;
  ts->parent.proxy_support = 0;
  ts->parent.connect = ts_connect;
  ts->parent.read = ts_read;
  ts->parent.write = ts_write;
  ts->parent.close = ts_close;
  ts->parent.free = ts_free;
  ts->host = ::strdup(host);
  ts->port = ::strdup(port);
  ts->s = -1;
  *out = &ts->parent;
  return 0;
}

// libgit2 initialised once for the process, with the timed stream registered.
struct Libgit2 {
  Libgit2() {
    git_libgit2_init();
    git_stream_registration reg{};
    reg.version = GIT_STREAM_VERSION;
    reg.init = ts_init;
    reg.wrap = nullptr;
    git_stream_register(GIT_STREAM_STANDARD, &reg);
  }
  ~Libgit2() { git_libgit2_shutdown(); }
  Libgit2(const Libgit2&) = delete;
  Libgit2& operator=(const Libgit2&) = delete;
};


}  // namespace

void ensure_libgit2() { static Libgit2 instance; }

void set_timeouts(std::chrono::milliseconds connect, std::chrono::milliseconds io) {
  g_connect_timeout_ms = static_cast<long>(connect.count());
  g_io_timeout_ms = static_cast<long>(io.count());
}

std::string git_error_text() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

std::string host_of(std::string_view url) {
  std::string s(url);
  auto p = s.find("://");
  if (p == std::string::npos) {
    // scp-like user@host:path
    auto at = s.find('@');
    auto colon = s.find(':');
    if (colon == std::string::npos) return {};
    return s.substr(at == std::string::npos ? 0 : at + 1, colon - (at == std::string::npos ? 0 : at + 1));
  }
  s = s.substr(p + 3);
  s = s.substr(0, s.find('/'));
  if (auto at = s.rfind('@'); at != std::string::npos) s = s.substr(at + 1);
  if (!s.empty() && s.front() == '[') return s.substr(0, s.find(']') + 1);
  return s.substr(0, s.find(':'));
}

int credentials_cb(git_credential** out, const char* /*url*/, const char* username_from_url,
                   unsigned int allowed, void* payload) {
  auto* p = static_cast<Credentials*>(payload);
  if (p->attempts++ > 0) {
    p->refused = true;
    git_error_set_str(GIT_ERROR_NET, "authentication failed");
    return -1;
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 && !p->token.empty())
    return git_credential_userpass_plaintext_new(out, p->token_user.c_str(), p->token.c_str());
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) != 0)
    return git_credential_ssh_key_from_agent(out, username_from_url ? username_from_url : "git");
  p->refused = true;
  std::string msg = "the server asks for credentials";
  if (!p->missing_hint.empty())
    msg += "; " + p->missing_hint;
  else if (p->withheld)
    msg += "; " + p->token_env + " is only sent to the enrolled host, not to a url.insteadOf rewrite";
  else if (!p->token_env.empty())
    msg += ": set " + p->token_env;
  git_error_set_str(GIT_ERROR_NET, msg.c_str());
  return -1;
}

int transfer_cb(const git_indexer_progress* /*stats*/, void* /*payload*/) {
  return proc::pending_signal() != 0 ? -1 : 0;
}

}  // namespace imgf::gitsupport
