#pragma once
// File-system helpers shared by every module: whole-file reads with clear errors,
// atomic writes (temp file in the same directory, fsync, rename), write-if-changed,
// and an advisory lock for a state directory.
#include <filesystem>
#include <string>
#include <string_view>

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

// Lower-case hex sha256 of a byte string / of a file's content (streamed).
std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace imgf::fsutil
