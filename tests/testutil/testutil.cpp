#include "testutil.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "imgfactory/error.hpp"

namespace imgf::test {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device rd;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "imgf";
  for (auto& c : name)
    if (c == '/') c = '_';
  path_ = fs::temp_directory_path() / ("imgf-test-" + name + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info && info->result() && info->result()->Failed()) {
    std::fprintf(stderr, "kept temporary directory of failed test: %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

ScopedEnv::ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
  if (const char* old = std::getenv(name)) old_ = old;
  if (value) ::setenv(name, value->c_str(), 1);
  else ::unsetenv(name);
}

ScopedEnv::~ScopedEnv() {
  if (old_) ::setenv(name_, old_->c_str(), 1);
  else ::unsetenv(name_);
}

fs::path TempDir::write(const std::string& relative, const std::string& content) const {
  fs::path p = path_ / relative;
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << content;
  return p;
}

std::optional<fs::path> shared_dir() {
  if (const char* env = std::getenv("IMGF_SHARED_DIR"); env && *env) {
    if (fs::is_directory(env)) return fs::path(env);
    return std::nullopt;
  }
  fs::path candidate = fs::path(IMGF_SOURCE_DIR).parent_path() / "shared";
  if (fs::is_directory(candidate)) return candidate;
  return std::nullopt;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path source_dir() { return IMGF_SOURCE_DIR; }
fs::path imgfactory_binary() { return IMGF_BINARY; }

int exit_code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const imgf::Error& e) {
    return e.exit_code();
  }
  return 0;
}

}  // namespace imgf::test
