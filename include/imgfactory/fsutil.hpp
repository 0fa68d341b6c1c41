#pragma once
// File-system helpers shared by every module: whole-file reads with clear errors,
// atomic writes (temp file in the same directory, fsync, rename), write-if-changed,
// and an advisory lock for a state directory.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace imgf::fsutil {

// Reads the whole file; throws imgf::Error (exit 2, naming the file) when it cannot.
std::string read_file(const std::filesystem::path& path);

// Writes content to a temporary file beside `path`, flushes and fsyncs it, keeps the mode of
// an existing file, then renames it over `path`. Creates missing parent directories.
// Throws imgf::Error (exit 1) on failure; the target is never left half-written.
void atomic_write(const std::filesystem::path& path, std::string_view content);

// atomic_write only when the file does not exist or its content differs; returns whether
// it wrote. An unchanged file keeps its mtime.
bool write_if_changed(const std::filesystem::path& path, std::string_view content);

// Removes a file (not a directory); returns whether it existed. The removal is recorded in the
// change journal. Throws imgf::Error (exit 1) when the file exists and cannot be removed.
bool remove_file(const std::filesystem::path& path);

// The change journal: every file this process writes through atomic_write (write_if_changed
// when it writes) or removes through remove_file is recorded here, as an absolute, lexically
// normal path, in one process-wide, thread-safe list. `--git-commit` (imgf::gitstate) commits
// exactly the journaled files. A writer that replaces files by other means (a batch of
// renames) records each replaced path itself with journal::record.
namespace journal {
void record(const std::filesystem::path& path);
// The recorded paths, sorted, each once.
std::vector<std::filesystem::path> paths();
void clear();
}  // namespace journal

// Exclusive advisory lock (flock) on `path` (created if missing), held for the lifetime of
// the object. Waits up to `timeout_ms` for another holder, then throws imgf::Error (exit 1).
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path, int timeout_ms = 60000);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// A private directory made with mkdtemp in `parent` (default: $TMPDIR, else /tmp), named
// `<prefix>XXXXXX`, removed with everything in it when this goes out of scope. Not journaled
// (scratch space, never state). Throws imgf::Error (exit 1, naming the parent) when it cannot.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix, const std::filesystem::path& parent = {});
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Lower-case hex sha256 of a byte string / of a file's content (streamed).
std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace imgf::fsutil
