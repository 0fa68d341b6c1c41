#include "imgfactory/process.hpp"

#include <gtest/gtest.h>

#include <csignal>

#include "testutil.hpp"

using imgf::proc::Spec;
using imgf::proc::SystemRunner;

TEST(Process, CapturesStdoutAndExitCode) {
  SystemRunner r;
  auto res = r.run(Spec{.argv = {"sh", "-c", "echo hello; echo err >&2; exit 3"}});
  EXPECT_EQ(res.exit_code, 3);
  EXPECT_EQ(res.out, "hello\n");
  EXPECT_EQ(res.err, "err\n");
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.describe(), "exited with status 3");
}

TEST(Process, ArgvIsNotInterpretedByAShell) {
  SystemRunner r;
  auto res = r.run(Spec{.argv = {"printf", "%s|", "$(id)", "a b", ";rm -rf /"}});
  EXPECT_TRUE(res.ok());
  EXPECT_EQ(res.out, "$(id)|a b|;rm -rf /|");
}

TEST(Process, StreamsLinesAndFeedsStdin) {
  SystemRunner r;
  std::vector<std::string> lines;
  Spec s{.argv = {"cat"}};
  s.stdin_data = "one\ntwo\nthree";
  s.on_stdout_line = [&](std::string_view l) { lines.emplace_back(l); };
  auto res = r.run(s);
  EXPECT_TRUE(res.ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "three"}));
}

TEST(Process, TimeoutKillsTheProcessGroup) {
  SystemRunner r;
  Spec s{.argv = {"sh", "-c", "sleep 30 & sleep 30"}};
  s.timeout = std::chrono::milliseconds(300);
  s.kill_grace = std::chrono::milliseconds(300);
  auto res = r.run(s);
  EXPECT_TRUE(res.timed_out);
  EXPECT_FALSE(res.ok());
  EXPECT_LT(res.elapsed.count(), 10000);
}

TEST(Process, IdleTimeoutStopsASilentChildButNotATalkativeOne) {
  SystemRunner r;
  // Silent after its first line: stopped.
  Spec silent{.argv = {"sh", "-c", "echo started; sleep 30"}};
  silent.idle_timeout = std::chrono::milliseconds(400);
  silent.kill_grace = std::chrono::milliseconds(300);
  auto res = r.run(silent);
  EXPECT_TRUE(res.timed_out);
  EXPECT_TRUE(res.idle_timed_out);
  EXPECT_EQ(res.out, "started\n");
  EXPECT_EQ(res.describe(), "stopped after 400ms without output");
  EXPECT_LT(res.elapsed.count(), 10000);
  // Writing (to stderr, as git's progress does) more often than the limit keeps it alive for
  // longer than the limit.
  Spec talkative{.argv = {"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do echo $i >&2; sleep 0.3; done"}};
  talkative.idle_timeout = std::chrono::milliseconds(2000);
  res = r.run(talkative);
  EXPECT_TRUE(res.ok()) << res.describe();
  EXPECT_FALSE(res.idle_timed_out);
}

TEST(Process, MissingExecutableIsASpawnFailure) {
  SystemRunner r;
  auto res = r.run(Spec{.argv = {"imgf-no-such-tool-xyz"}});
  EXPECT_TRUE(res.spawn_failed);
  EXPECT_NE(res.describe().find("not found"), std::string::npos);
}

TEST(Process, EnvironmentAndCwd) {
  imgf::test::TempDir dir;
  SystemRunner r;
  Spec s{.argv = {"sh", "-c", "echo $IMGF_X; pwd"}};
  s.env_set = {{"IMGF_X", "42"}};
  s.cwd = dir.path();
  auto res = r.run(s);
  EXPECT_TRUE(res.ok());
  EXPECT_EQ(res.out, "42\n" + std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(Process, RecordingRunnerRecordsArgv) {
  imgf::proc::RecordingRunner r;
  r.run(Spec{.argv = {"buildah", "build", "--platform", "linux/arm64"}});
  ASSERT_EQ(r.argvs().size(), 1u);
  EXPECT_EQ(r.argvs()[0][3], "linux/arm64");
}

TEST(Process, FormatArgvQuotes) {
  EXPECT_EQ(imgf::proc::format_argv({"buildah", "build", "a b", "it's", "--x=1"}),
            "buildah build 'a b' 'it'\\''s' --x=1");
}

TEST(Process, FindExecutable) {
  EXPECT_TRUE(imgf::proc::find_executable("sh").has_value());
  EXPECT_FALSE(imgf::proc::find_executable("imgf-no-such-tool-xyz").has_value());
  EXPECT_EQ(imgf::proc::exit_code_for_signal(SIGINT), 130);
  EXPECT_EQ(imgf::proc::exit_code_for_signal(SIGTERM), 143);
}
