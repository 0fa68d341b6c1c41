// binfmt_misc probes (src/edge/binfmt.cpp): the listing of a fake binfmt_misc directory, the
// ELF magic matching qemu's registrations use, the exec probe with a real child (the host's
// own architecture) and the error that names the platform and the fix.
#include "imgfactory/binfmt.hpp"

#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <fstream>

#include "imgfactory/builder.hpp"
#include "imgfactory/error.hpp"
#include "imgfactory/process.hpp"
#include "testutil.hpp"

namespace {
using namespace imgf::binfmt;

// Debian's qemu-user-static registrations (update-binfmts / binfmt.d), as the kernel lists them.
const char* kAarch64 =
    "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n"
    "magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
const char* kArm =
    "enabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: POCF\noffset 0\n"
    "magic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
const char* kS390x =
    "disabled\ninterpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P\nflags: POCF\noffset 0\n"
    "magic 7f454c4602020100000000000000000000020016\nmask ffffffffffffff00fffffffffffffffffffeffff\n";

std::string host_platform() {
  utsname u{};
  uname(&u);
  auto p = imgf::builder::platform_for_machine(u.machine);
  return p ? p->str() : "linux/unknown";
}

struct FakeBinfmt {
  imgf::test::TempDir dir;
  FakeBinfmt() {
    dir.write("register", "");
    dir.write("status", "enabled\n");
    dir.write("qemu-aarch64", kAarch64);
    dir.write("qemu-arm", kArm);
    dir.write("qemu-s390x", kS390x);
    dir.write("CLR", "enabled\ninterpreter /usr/bin/mono\nflags: \nextension .exe\n");
  }
  ProbeOptions options() const {
    ProbeOptions o;
    o.binfmt_dir = dir.path();
    o.exec_probe = false;
    return o;
  }
};

TEST(Binfmt, ReadsTheEntriesOfAMountedDirectory) {
  FakeBinfmt f;
  const Listing l = read_listing(f.dir.path());
  ASSERT_TRUE(l.mounted);
  EXPECT_TRUE(l.globally_enabled);
  ASSERT_EQ(l.entries.size(), 4u);
  const Entry& a = l.entries[1];  // sorted: CLR, qemu-aarch64, qemu-arm, qemu-s390x
  EXPECT_EQ(a.name, "qemu-aarch64");
  EXPECT_TRUE(a.enabled);
  EXPECT_EQ(a.interpreter, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P");
  EXPECT_EQ(a.flags, "POCF");
  EXPECT_EQ(a.magic.size(), 20u);
  EXPECT_EQ(a.mask.size(), 20u);
  EXPECT_FALSE(l.entries[3].enabled);
}

TEST(Binfmt, AnEmptyDirectoryIsNotMounted) {
  imgf::test::TempDir d;
  EXPECT_FALSE(read_listing(d.path()).mounted);
  EXPECT_FALSE(read_listing(d.path() / "absent").mounted);
}

TEST(Binfmt, MatchesPlatformsByTheirElfHeader) {
  FakeBinfmt f;
  const Listing l = read_listing(f.dir.path());
  const Entry* e = handler_for(l, "linux/arm64");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "qemu-aarch64");
  ASSERT_NE(handler_for(l, "linux/arm/v7"), nullptr);
  EXPECT_EQ(handler_for(l, "linux/arm/v7")->name, "qemu-arm");
  EXPECT_EQ(handler_for(l, "linux/s390x"), nullptr) << "disabled entries do not count";
  EXPECT_EQ(handler_for(l, "linux/ppc64le"), nullptr);
  EXPECT_EQ(handler_for(l, "linux/riscv64"), nullptr);
}

TEST(Binfmt, ElfHeadersOfBothByteOrders) {
  const auto le = elf_header(*elf_id("linux/arm64"));
  ASSERT_EQ(le.size(), 20u);
  EXPECT_EQ(le[4], 2);
  EXPECT_EQ(le[5], 1);
  EXPECT_EQ(le[18], 0xb7);
  EXPECT_EQ(le[19], 0x00);
  const auto be = elf_header(*elf_id("linux/s390x"));
  EXPECT_EQ(be[5], 2);
  EXPECT_EQ(be[16], 0x00);
  EXPECT_EQ(be[17], 0x02);
  EXPECT_EQ(be[19], 0x16);
  EXPECT_FALSE(elf_id("linux/sparc64"));
}

TEST(Binfmt, NativePlatforms) {
  EXPECT_TRUE(native("linux/amd64", "linux/amd64"));
  EXPECT_TRUE(native("linux/386", "linux/amd64"));
  EXPECT_TRUE(native("linux/arm64", "linux/arm64"));
  EXPECT_FALSE(native("linux/arm64", "linux/amd64"));
  EXPECT_FALSE(native("linux/amd64", "linux/arm64"));
}

TEST(Binfmt, TheListingDecidesWithoutTheExecProbe) {
  FakeBinfmt f;
  const auto found = probe({"linux/amd64", "linux/arm64", "linux/s390x"}, "linux/amd64", f.options());
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].support, Support::native);
  EXPECT_EQ(found[1].support, Support::emulated);
  EXPECT_NE(found[1].detail.find("qemu-aarch64"), std::string::npos);
  EXPECT_EQ(found[2].support, Support::missing);
}

TEST(Binfmt, DisabledBinfmtMiscMeansMissing) {
  FakeBinfmt f;
  f.dir.write("status", "disabled\n");
  const auto found = probe({"linux/arm64"}, "linux/amd64", f.options());
  EXPECT_EQ(found[0].support, Support::missing);
  EXPECT_NE(found[0].detail.find("disabled"), std::string::npos);
}

TEST(Binfmt, NotMountedAndNoExecProbeIsUnknownAndOnlyWarns) {
  imgf::test::TempDir empty;
  ProbeOptions o;
  o.binfmt_dir = empty.path();
  o.exec_probe = false;
  const auto found = probe({"linux/arm64"}, "linux/amd64", o);
  EXPECT_EQ(found[0].support, Support::unknown);
  EXPECT_NO_THROW(require(found, "app", "linux/amd64"));
}

TEST(Binfmt, TheErrorNamesThePlatformAndTheFix) {
  FakeBinfmt f;
  const auto found = probe({"linux/amd64", "linux/s390x"}, "linux/amd64", f.options());
  try {
    require(found, "app", "linux/amd64");
    FAIL() << "no error";
  } catch (const imgf::Error& e) {
    const std::string m = e.formatted();
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_NE(m.find("cannot build app for linux/s390x on this linux/amd64 machine"), std::string::npos) << m;
    EXPECT_NE(m.find("qemu-user-static"), std::string::npos) << m;
    EXPECT_NE(m.find("platforms:"), std::string::npos) << m;
    EXPECT_EQ(m.find("linux/amd64,"), std::string::npos) << m;
  }
}

// The exec probe's program is a real executable: the host's own architecture runs it and
// exits 0 (proves the ELF layout; the other architectures share it).
TEST(Binfmt, TheExitProgramOfTheHostArchitectureRuns) {
  const std::string host = host_platform();
  const auto program = exit0_program(host);
  if (!program) GTEST_SKIP() << "no probe program for " << host;
  imgf::test::TempDir d;
  const auto file = d.path() / "probe";
  {
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(program->data()), static_cast<std::streamsize>(program->size()));
  }
  std::filesystem::permissions(file, std::filesystem::perms::owner_all);
  imgf::proc::SystemRunner runner;
  imgf::proc::Spec spec;
  spec.argv = {file.string()};
  const auto r = runner.run(spec);
  EXPECT_FALSE(r.spawn_failed) << r.spawn_error;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
}

// A foreign platform on this machine: the exec probe agrees with what the kernel does with
// the same file (checked independently by exec'ing it here).
TEST(Binfmt, TheExecProbeAgreesWithTheKernel) {
  const std::string host = host_platform();
  const std::string foreign = host == "linux/arm64" ? "linux/amd64" : "linux/arm64";
  imgf::test::TempDir d, empty;
  ProbeOptions o;
  o.binfmt_dir = empty.path();
  o.temp_dir = d.path();
  const auto found = probe({foreign}, host, o);
  ASSERT_EQ(found.size(), 1u);
  const auto file = d.path() / "again";
  {
    const auto program = *exit0_program(foreign);
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(program.data()), static_cast<std::streamsize>(program.size()));
  }
  std::filesystem::permissions(file, std::filesystem::perms::owner_all);
  imgf::proc::SystemRunner runner;
  imgf::proc::Spec spec;
  spec.argv = {file.string()};
  const auto r = runner.run(spec);
  if (r.spawn_failed) {
    EXPECT_EQ(found[0].support, Support::missing) << found[0].detail << " / " << r.spawn_error;
  } else {
    EXPECT_EQ(found[0].support, Support::emulated) << found[0].detail;
    EXPECT_EQ(r.exit_code, 0) << "qemu ran the probe program";
  }
  // the probe leaves nothing behind
  std::size_t left = 0;
  for (const auto& e : std::filesystem::directory_iterator(d.path())) left += e.path().filename() != "again";
  EXPECT_EQ(left, 0u);
}

}  // namespace
