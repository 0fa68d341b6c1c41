#include "imgfactory/fsutil.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "imgfactory/error.hpp"

namespace imgf::fsutil {
namespace fs = std::filesystem;

namespace {
std::string errno_text() { return std::strerror(errno); }

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

std::string to_hex(const unsigned char* data, unsigned int len) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0xf];
  }
  return out;
}
}  // namespace

namespace journal {
namespace {
std::mutex& journal_mutex() {
  static std::mutex m;
  return m;
}
std::set<fs::path>& journal_set() {
  static std::set<fs::path> s;
  return s;
}
}  // namespace

void record(const fs::path& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (ec) p = path;
  p = p.lexically_normal();
  std::lock_guard<std::mutex> lock(journal_mutex());
  journal_set().insert(std::move(p));
}

std::vector<fs::path> paths() {
  std::lock_guard<std::mutex> lock(journal_mutex());
  return {journal_set().begin(), journal_set().end()};
}

void clear() {
  std::lock_guard<std::mutex> lock(journal_mutex());
  journal_set().clear();
}
}  // namespace journal

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(path, ec))
      throw input_error("no such file", path.string(), 0, "check the path");
    throw input_error("cannot read file: " + errno_text(), path.string());
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw input_error("error while reading file", path.string());
  return ss.str();
}

void atomic_write(const fs::path& path, std::string_view content) {
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw failure("cannot create directory: " + ec.message(), dir.string());

  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  std::unique_ptr<char[]> buf(new char[tmpl.size() + 1]);
  std::memcpy(buf.get(), tmpl.c_str(), tmpl.size() + 1);
  int raw = ::mkstemp(buf.get());
  if (raw < 0) throw failure("cannot create temporary file: " + errno_text(), path.string());
  Fd fd(raw);
  std::string tmp_path(buf.get());
  auto cleanup = [&] { ::unlink(tmp_path.c_str()); };

  struct stat st{};
  mode_t mode = 0644;
  if (::stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;
  ::fchmod(fd.fd, mode);

  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd.fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string why = errno_text();
      cleanup();
      throw failure("cannot write: " + why, path.string());
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd.fd) != 0) {
    std::string why = errno_text();
    cleanup();
    throw failure("cannot flush: " + why, path.string());
  }
  ::close(fd.release());
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
    std::string why = errno_text();
    cleanup();
    throw failure("cannot replace file: " + why, path.string());
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  journal::record(path);
}

bool remove_file(const fs::path& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return false;
    throw failure("cannot remove file: " + errno_text(), path.string());
  }
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  journal::record(path);
  return true;
}

bool write_if_changed(const fs::path& path, std::string_view content) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      if (ss.str() == content) return false;
    }
  }
  atomic_write(path, content);
  return true;
}

FileLock::FileLock(const fs::path& path, int timeout_ms) {
  std::error_code ec;
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path(), ec);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw failure("cannot open lock file: " + errno_text(), path.string());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      std::string why = errno_text();
      ::close(fd_);
      throw failure("cannot lock: " + why, path.string());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(fd_);
      throw failure("another imgfactory run holds the lock", path.string(), 0,
                    "wait for it to finish, or remove a stale lock holder");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(md, len);
}

std::string sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error("cannot read file", path.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto n = in.gcount();
    if (n > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return to_hex(md, len);
}

TempDir::TempDir(std::string_view prefix, const fs::path& parent) {
  fs::path where = parent;
  if (where.empty()) {
    const char* t = std::getenv("TMPDIR");
    where = (t && *t) ? fs::path(t) : fs::path("/tmp");
  }
  std::string tmpl = (where / (std::string(prefix) + "XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    throw failure(std::string("cannot create a temporary directory: ") + std::strerror(errno), where.string());
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace imgf::fsutil
