#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/log.hpp"
#include "testutil.hpp"

namespace fs = std::filesystem;

TEST(Error, FormatsFileLineAndHint) {
  imgf::Error e = imgf::input_error("bad thing", "images.yaml", 12, "fix it");
  EXPECT_EQ(e.exit_code(), 2);
  EXPECT_STREQ(e.what(), "images.yaml:12: bad thing\n  hint: fix it");
  EXPECT_EQ(imgf::failure("x").exit_code(), 1);
  EXPECT_STREQ(imgf::failure("x", "f").what(), "f: x");
}

TEST(FsUtil, AtomicWriteAndWriteIfChanged) {
  imgf::test::TempDir dir;
  fs::path p = dir.path() / "sub" / "a.yaml";
  imgf::fsutil::atomic_write(p, "one\n");
  EXPECT_EQ(imgf::fsutil::read_file(p), "one\n");
  ::chmod(p.c_str(), 0600);
  auto before = fs::last_write_time(p);
  EXPECT_FALSE(imgf::fsutil::write_if_changed(p, "one\n"));
  EXPECT_EQ(fs::last_write_time(p), before);
  EXPECT_TRUE(imgf::fsutil::write_if_changed(p, "two\n"));
  EXPECT_EQ(imgf::fsutil::read_file(p), "two\n");
  EXPECT_EQ(fs::status(p).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  // no temporary files left behind
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(p.parent_path())) ++n;
  EXPECT_EQ(n, 1);
}

TEST(FsUtil, ReadMissingFileNamesIt) {
  try {
    imgf::fsutil::read_file("/nonexistent/imgf.yaml");
    FAIL();
  } catch (const imgf::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(e.file(), "/nonexistent/imgf.yaml");
  }
}

TEST(FsUtil, LockExcludesASecondHolder) {
  imgf::test::TempDir dir;
  auto lockfile = dir.path() / ".lock";
  {
    imgf::fsutil::FileLock a(lockfile);
    // flock locks are per open file description: a second open in this process conflicts.
    EXPECT_THROW(imgf::fsutil::FileLock b(lockfile, 100), imgf::Error);
  }
  imgf::fsutil::FileLock c(lockfile, 100);
}

TEST(FsUtil, Sha256) {
  EXPECT_EQ(imgf::fsutil::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Log, RedactsSecrets) {
  imgf::log::add_secret("ghp_supersecretvalue");
  EXPECT_EQ(imgf::log::redact("cloning with ghp_supersecretvalue now"), "cloning with *** now");
  EXPECT_EQ(imgf::log::redact("https://user:pw@github.com/a/b.git"), "https://***@github.com/a/b.git");
  EXPECT_EQ(imgf::log::redact("Authorization: Bearer abc.def"), "Authorization: Bearer ***");
  EXPECT_EQ(imgf::log::redact("GITHUB_TOKEN=xyz123 rest"), "GITHUB_TOKEN=*** rest");
  EXPECT_EQ(imgf::log::redact("plain text stays"), "plain text stays");
}
