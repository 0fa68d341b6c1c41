// The plan executor against a recording runner: stage order, parallelism bounded by jobs,
// retries with backoff on transient errors only, the failure cleanup, timeout and signals.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <thread>

#include "imgfactory/builder.hpp"
#include "imgfactory/error.hpp"
#include "testutil.hpp"

using namespace imgf::builder;
using imgf::proc::RecordingRunner;
using PResult = imgf::proc::Result;
using imgf::proc::Spec;
using Argv = std::vector<std::string>;

namespace {

Step step(Step::Kind kind, std::string label, Argv argv) {
  Step s;
  s.kind = kind;
  s.label = std::move(label);
  s.argv = std::move(argv);
  return s;
}

PResult ok(std::string out = {}) {
  PResult r;
  r.exit_code = 0;
  r.out = std::move(out);
  return r;
}

PResult failed(const Spec& spec, int code, const std::string& stderr_line) {
  if (spec.on_stderr_line) spec.on_stderr_line(stderr_line);
  PResult r;
  r.exit_code = code;
  return r;
}

// prepare -> build (parallel, 3 platforms) -> push -> inspect, with a cleanup step.
Plan sample_plan() {
  Plan p;
  p.reference = "reg/app:1";
  p.list = "reg/app:1";
  p.stages.push_back(Stage{"prepare", false, {step(Step::Kind::prepare, "prepare", {"prep"})}});
  p.stages.push_back(Stage{"build",
                           true,
                           {step(Step::Kind::build, "linux/amd64", {"build", "amd64"}),
                            step(Step::Kind::build, "linux/arm64", {"build", "arm64"}),
                            step(Step::Kind::build, "linux/s390x", {"build", "s390x"})}});
  Step push = step(Step::Kind::push, "push", {"push"});
  push.retry = true;
  p.stages.push_back(Stage{"push", false, {push}});
  Step inspect = step(Step::Kind::inspect, "inspect", {"inspect"});
  inspect.capture = true;
  p.stages.push_back(Stage{"inspect", false, {inspect}});
  p.on_failure.push_back(step(Step::Kind::cleanup, "cleanup", {"cleanup"}));
  return p;
}

struct Quiet {
  std::vector<std::chrono::milliseconds> sleeps;
  ExecOptions options(std::size_t jobs = 0) {
    ExecOptions o;
    o.jobs = jobs;
    o.on_line = [](const std::string&, std::string_view) {};
    o.sleep = [this](std::chrono::milliseconds d) { sleeps.push_back(d); };
    return o;
  }
};

int exit_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const imgf::Error& e) {
    if (message) *message = e.formatted();
    return e.exit_code();
  }
  return 0;
}

// The sample plan's error message when the step whose argv is `step` writes `lines` to stderr
// and exits 1 (the plan must then exit 1).
std::string error_when_step_fails(const Argv& step, const std::vector<std::string>& lines) {
  RecordingRunner runner([&](const Spec& s) {
    if (s.argv != step) return ok();
    if (s.on_stderr_line)
      for (const auto& l : lines) s.on_stderr_line(l);
    PResult r;
    r.exit_code = 1;
    return r;
  });
  Quiet q;
  std::string msg;
  EXPECT_EQ(exit_of([&] { execute(sample_plan(), runner, q.options()); }, &msg), 1);
  return msg;
}

}  // namespace

TEST(BuildExec, RunsStagesInOrderAndCapturesData) {
  RecordingRunner runner([](const Spec& s) { return s.argv[0] == "inspect" ? ok("{\"data\":1}") : ok(); });
  Quiet q;
  ExecOutput out = execute(sample_plan(), runner, q.options());
  auto argvs = runner.argvs();
  ASSERT_EQ(argvs.size(), 6u);
  EXPECT_EQ(argvs.front(), Argv{"prep"});
  EXPECT_EQ(argvs[4], Argv{"push"});
  EXPECT_EQ(argvs[5], Argv{"inspect"});
  EXPECT_EQ(out.captured["inspect"], "{\"data\":1}");
  for (const auto& c : runner.calls()) {
    if (c.argv[0] == "inspect") {
      EXPECT_TRUE(c.capture_stdout);
      EXPECT_FALSE(c.on_stdout_line);
    }
    if (c.argv[0] == "build") {
      EXPECT_TRUE(c.on_stdout_line);
    }
  }
}

TEST(BuildExec, ParallelStepsAreBoundedByJobs) {
  for (std::size_t jobs : {std::size_t{0}, std::size_t{1}, std::size_t{2}}) {
    std::atomic<int> running{0}, peak{0};
    RecordingRunner runner([&](const Spec& s) {
      if (s.argv[0] == "build") {
        int now = ++running;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        --running;
      }
      return ok();
    });
    Quiet q;
    execute(sample_plan(), runner, q.options(jobs));
    int expected = jobs == 0 ? 3 : static_cast<int>(jobs);
    EXPECT_EQ(peak.load(), expected) << "jobs=" << jobs;
  }
}

TEST(BuildExec, StreamsLinesWithTheStepLabel) {
  RecordingRunner runner([](const Spec& s) {
    if (s.on_stdout_line && s.argv[0] == "build") s.on_stdout_line("STEP 1/2: FROM x");
    return ok();
  });
  std::mutex mu;
  std::vector<std::string> lines;
  Quiet q;
  ExecOptions o = q.options();
  o.on_line = [&](const std::string& label, std::string_view line) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back("[" + label + "] " + std::string(line));
  };
  execute(sample_plan(), runner, o);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"[linux/amd64] STEP 1/2: FROM x", "[linux/arm64] STEP 1/2: FROM x",
                                             "[linux/s390x] STEP 1/2: FROM x"}));
}

TEST(BuildExec, TransientPushErrorsAreRetriedWithBackoff) {
  std::atomic<int> pushes{0};
  RecordingRunner runner([&](const Spec& s) {
    if (s.argv[0] == "push" && ++pushes < 3)
      return failed(s, 125, "Error: dial tcp 127.0.0.1:5000: connect: connection refused");
    return ok();
  });
  Quiet q;
  ExecOptions o = q.options();
  o.retries = 3;
  o.retry_delay = std::chrono::milliseconds(2000);
  execute(sample_plan(), runner, o);
  EXPECT_EQ(pushes.load(), 3);
  EXPECT_EQ(q.sleeps, (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(2000),
                                                              std::chrono::milliseconds(4000)}));
}

TEST(BuildExec, RetriesRunOutIntoAFailureWithCleanup) {
  RecordingRunner runner([](const Spec& s) {
    if (s.argv[0] == "push") return failed(s, 125, "Error: writing blob: 503 Service Unavailable");
    return ok();
  });
  Quiet q;
  ExecOptions o = q.options();
  o.retries = 2;
  std::string msg;
  EXPECT_EQ(exit_of([&] { execute(sample_plan(), runner, o); }, &msg), 1);
  EXPECT_NE(msg.find("push of reg/app:1 failed (exited with status 125, after 3 attempts)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("503 Service Unavailable"), std::string::npos) << msg;
  EXPECT_EQ(q.sleeps.size(), 2u);
  EXPECT_EQ(runner.argvs().back(), Argv{"cleanup"});
}

TEST(BuildExec, PermanentErrorsAreNotRetried) {
  std::atomic<int> pushes{0};
  RecordingRunner runner([&](const Spec& s) {
    if (s.argv[0] == "push") {
      ++pushes;
      return failed(s, 125, "Error: unauthorized: authentication required");
    }
    return ok();
  });
  Quiet q;
  EXPECT_EQ(exit_of([&] { execute(sample_plan(), runner, q.options()); }), 1);
  EXPECT_EQ(pushes.load(), 1);
  EXPECT_TRUE(q.sleeps.empty());
}

TEST(BuildExec, AMissingProducedFileIsATransientFailure) {
  imgf::test::TempDir dir;
  auto digest = dir.path() / "digest";
  Plan plan = sample_plan();
  plan.stages[2].steps[0].produces = digest;
  std::ofstream(digest) << "stale";  // left by an earlier attempt: must not count
  std::atomic<int> pushes{0};
  RecordingRunner runner([&](const Spec& s) {
    if (s.argv[0] == "push" && ++pushes == 2) std::ofstream(digest) << "sha256:ab";
    return ok();
  });
  Quiet q;
  execute(plan, runner, q.options());
  EXPECT_EQ(pushes.load(), 2);
  EXPECT_EQ(q.sleeps.size(), 1u);
  EXPECT_EQ(imgf::test::read_file(digest), "sha256:ab");
}

TEST(BuildExec, AFailedPlatformStopsThePlanAndIsNamed) {
  RecordingRunner runner([](const Spec& s) {
    if (s.argv == Argv{"build", "arm64"}) return failed(s, 1, "error building at STEP \"RUN false\": exit status 1");
    return ok();
  });
  Quiet q;
  std::string msg;
  EXPECT_EQ(exit_of([&] { execute(sample_plan(), runner, q.options()); }, &msg), 1);
  EXPECT_NE(msg.find("build for linux/arm64 failed (buildah exited with status 1)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("linux/arm64: error building at STEP"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("linux/amd64"), std::string::npos) << msg;
  auto argvs = runner.argvs();
  EXPECT_EQ(std::count(argvs.begin(), argvs.end(), Argv{"push"}), 0);
  EXPECT_EQ(argvs.back(), Argv{"cleanup"});
}

// buildah's own output when the pod's seccomp profile refuses its user namespace (issue 10):
// the cause, not only the generic last line, reaches the error.
TEST(BuildExec, TheCauseLineBeforeAGenericOneReachesTheError) {
  const std::string msg = error_when_step_fails(
      {"prep"}, {"Error during unshare(CLONE_NEWUSER): Operation not permitted",
                 "time=\"2026-01-01T00:00:00Z\" level=error msg=\"(Unable to determine exit status)\""});
  EXPECT_NE(msg.find("prepare: Error during unshare(CLONE_NEWUSER): Operation not permitted; "
                     "(Unable to determine exit status)"),
            std::string::npos)
      << msg;
}

// buildah's step wrapper names the step, the line before it says why (measured in a pod in the
// rootless mode: issue 10); both reach the error, the cause first.
TEST(BuildExec, AStepWrapperIsGenericAndTheCauseBeforeItIsKept) {
  const std::string msg = error_when_step_fails(
      {"build", "arm64"}, {"error setting supplemental groups list: operation not permittedsubprocess exited with status 1",
                           "Error: building at STEP \"RUN /bin/sh -c id\": exit status 1"});
  EXPECT_NE(msg.find("error setting supplemental groups list: operation not permittedsubprocess exited with "
                     "status 1; Error: building at STEP \"RUN /bin/sh -c id\": exit status 1"),
            std::string::npos)
      << msg;
}

TEST(BuildExec, TheCauseStopsAtTheLastSpecificErrorAndDropsLogrusDecoration) {
  const std::string msg = error_when_step_fails(
      {"build", "arm64"}, {"STEP 2/3: RUN id", "ERRO[0000] an older error",
                           "error running container: error setting supplemental groups list: operation not permitted",
                           "some progress", "ERRO[0001] exit status 1"});
  EXPECT_NE(msg.find("linux/arm64: error running container: error setting supplemental groups list: operation not "
                     "permitted; exit status 1"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("an older error"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("ERRO["), std::string::npos) << msg;
}

TEST(BuildExec, MayFailStepsAreIgnored) {
  Plan plan = sample_plan();
  plan.stages[0].steps[0].may_fail = true;
  RecordingRunner runner([](const Spec& s) { return s.argv[0] == "prep" ? failed(s, 1, "no such list") : ok(); });
  Quiet q;
  execute(plan, runner, q.options());
  EXPECT_EQ(runner.argvs().size(), 6u);
}

TEST(BuildExec, TheTimeoutCoversTheWholePlan) {
  RecordingRunner runner([](const Spec& s) {
    PResult r;
    if (s.argv[0] == "build") {
      EXPECT_GT(s.timeout.count(), 0);
      EXPECT_LE(s.timeout.count(), 300);
      r.timed_out = true;
      return r;
    }
    return ok();
  });
  Quiet q;
  ExecOptions o = q.options();
  o.timeout = std::chrono::milliseconds(300);
  std::string msg;
  EXPECT_EQ(exit_of([&] { execute(sample_plan(), runner, o); }, &msg), 1);
  EXPECT_NE(msg.find("did not finish within --timeout 300ms"), std::string::npos) << msg;
  EXPECT_EQ(runner.argvs().back(), Argv{"cleanup"});
}

TEST(BuildExec, SigtermStopsTheBuildRunsCleanupAndExits143) {
  imgf::proc::install_signal_handlers();
  imgf::proc::reset_pending_signal();
  std::atomic<bool> cleanup_saw_signal{true};
  RecordingRunner runner([&](const Spec& s) {
    if (s.argv == Argv{"build", "amd64"}) {
      std::raise(SIGTERM);
      PResult r;
      r.signal = SIGTERM;
      r.interrupted = true;
      return r;
    }
    if (s.argv[0] == "cleanup") cleanup_saw_signal = imgf::proc::pending_signal() != 0;
    return ok();
  });
  Quiet q;
  std::string msg;
  EXPECT_EQ(exit_of([&] { execute(sample_plan(), runner, q.options(1)); }, &msg), 143);
  EXPECT_NE(msg.find("interrupted by SIGTERM"), std::string::npos) << msg;
  EXPECT_FALSE(cleanup_saw_signal.load()) << "cleanup children must not be signalled themselves";
  auto argvs = runner.argvs();
  EXPECT_EQ(argvs.back(), Argv{"cleanup"});
  EXPECT_EQ(std::count(argvs.begin(), argvs.end(), Argv{"build", "arm64"}), 0) << "no step starts after the signal";
  imgf::proc::reset_pending_signal();
}
