#pragma once
// Helpers shared by the unit tests.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace imgf::test {

// A fresh temporary directory, removed when the test passed and kept (path printed) when it failed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& relative, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

// ../shared beside the checkout (or IMGF_SHARED_DIR); nullopt when absent.
std::optional<std::filesystem::path> shared_dir();
// Skips the current test with a reason when ../shared is not present.
#define IMGF_REQUIRE_SHARED(var)                                                        \
  auto var##_opt = ::imgf::test::shared_dir();                                          \
  if (!var##_opt) GTEST_SKIP() << "../shared is not present: reference data test skipped"; \
  const std::filesystem::path& var = *var##_opt

// Sets an environment variable (nullopt: unsets it) for the lifetime of the object, then
// restores what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string read_file(const std::filesystem::path& p);
// The exit code of the imgf::Error that `f` throws; 0 when it throws none.
int exit_code_of(const std::function<void()>& f);
std::filesystem::path source_dir();
std::filesystem::path imgfactory_binary();

}  // namespace imgf::test
