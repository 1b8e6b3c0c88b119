// The command-line conventions operators expect of every binary, on the real binaries:
// --version with the git commit, global flags after the command, "did you mean", progress as
// plain timestamped lines when stderr is not a terminal (with a rate that is a rate), RFC 3339
// times, bash completion run by bash itself, and `cmake --install`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/process_fleet.h"
#include "tests/support/subprocess.h"

namespace rstmesh {
namespace {

using testing::RunProcess;
using testing::RunResult;

const std::string kCtl = RSTMESH_CTL_BIN;
const std::string kAgent = RSTMESH_AGENT_BIN;
const std::string kController = RSTMESH_CONTROLLER_BIN;

TEST(CliConventionsTest, EveryBinaryPrintsItsVersionAndCommit) {
  RunResult git =
      RunProcess({"/usr/bin/git", "-C", RSTMESH_SOURCE_DIR, "rev-parse", "--short=12", "HEAD"});
  for (const auto& [name, path] : std::vector<std::pair<std::string, std::string>>{
           {"rstmeshctl", kCtl}, {"rstmesh-agent", kAgent}, {"rstmesh-controller", kController}}) {
    RunResult version = RunProcess({path, "--version"});
    EXPECT_EQ(version.exit_code, 0) << name << version.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        version.out, m,
        std::regex("^" + name +
                   R"( \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(\+dirty)?|unknown)\)\n$)")))
        << name << ": " << version.out;
    if (git.exit_code == 0 && git.out.size() >= 12) {
      EXPECT_EQ(m[1].str().substr(0, 12), git.out.substr(0, 12)) << name << " names its commit";
    }
  }
}

TEST(CliConventionsTest, GlobalFlagsMayFollowTheCommand) {
  RunResult after =
      RunProcess({kCtl, "agents", "--insecure", "--controller", "10.9.8.7:7400", "--check-config"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_NE(after.out.find("controller=10.9.8.7:7400"), std::string::npos) << after.out;
  RunResult before =
      RunProcess({kCtl, "--insecure", "--controller", "10.9.8.7:7400", "--check-config", "agents"});
  EXPECT_EQ(before.out, after.out);
  // After the command, a global flag still meets its checks.
  RunResult bad = RunProcess({kCtl, "runs", "--insecure", "--timeout", "0"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--timeout"), std::string::npos) << bad.err;
}

TEST(CliConventionsTest, MistypedCommandsAndFlagsGetASuggestion) {
  RunResult command = RunProcess({kCtl, "--insecure", "rusn"});
  EXPECT_EQ(command.exit_code, 2);
  EXPECT_NE(command.err.find("rstmeshctl: unknown command 'rusn'; did you mean 'run'?"),
            std::string::npos)
      << command.err;
  EXPECT_NE(command.err.find("Commands: agents, scenarios, run,"), std::string::npos);
  RunResult none = RunProcess({kCtl});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("rstmeshctl: a command is required\n  Commands: agents,"),
            std::string::npos)
      << none.err;
  RunResult far = RunProcess({kCtl, "zzzzzzzz"});
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_NE(far.err.find("unknown command 'zzzzzzzz'\n"), std::string::npos) << far.err;
  RunResult flag = RunProcess({kCtl, "agents", "--insecure", "--outptu", "json"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.err.find("--outptu: did you mean '--output'?"), std::string::npos) << flag.err;
  RunResult agent = RunProcess({kAgent, "serv"});
  EXPECT_EQ(agent.exit_code, 2);
  EXPECT_NE(agent.err.find("unknown command 'serv'; did you mean 'serve'?"), std::string::npos)
      << agent.err;
  RunResult controller = RunProcess({kController, "--listn", "127.0.0.1:0"});
  EXPECT_EQ(controller.exit_code, 2);
  EXPECT_NE(controller.err.find("--listn: did you mean '--listen'?"), std::string::npos)
      << controller.err;
}

// What bash completes for `words` (the last one being completed) with rstmeshctl's script.
std::vector<std::string> Complete(const std::string& script,
                                  const std::vector<std::string>& words) {
  std::string array;
  for (const std::string& w : words) absl::StrAppend(&array, " '", w, "'");
  RunResult bash = RunProcess({"/bin/bash", "-c",
                               absl::StrCat("source '", script, "'; COMP_WORDS=(", array,
                                            "); COMP_CWORD=", words.size() - 1,
                                            "; _rstmeshctl; printf '%s\\n' \"${COMPREPLY[@]}\"")});
  EXPECT_EQ(bash.exit_code, 0) << bash.err;
  std::vector<std::string> out = absl::StrSplit(bash.out, '\n', absl::SkipEmpty());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CliConventionsTest, BashCompletesCommandsFlagsAndFormats) {
  RunResult script = RunProcess({kCtl, "completion", "bash"});
  ASSERT_EQ(script.exit_code, 0) << script.err;
  const std::string path = ::testing::TempDir() + "/rstmeshctl.bash";
  std::ofstream(path) << script.out;
  using V = std::vector<std::string>;
  EXPECT_EQ(Complete(path, {"rstmeshctl", "ru"}), (V{"run", "runs"}));
  EXPECT_EQ(Complete(path, {"rstmeshctl", "--insecure", "ev"}), (V{"evidence"}));
  EXPECT_EQ(Complete(path, {"rstmeshctl", "run", "--wa"}), (V{"--wait"}));
  EXPECT_EQ(Complete(path, {"rstmeshctl", "report", "--contr"}), (V{"--controller"}))
      << "global flags after the command";
  EXPECT_EQ(Complete(path, {"rstmeshctl", "report", "run-1", "-o", "c"}), (V{"csv"}));
  EXPECT_EQ(Complete(path, {"rstmeshctl", "agents", "-o", ""}), (V{"json", "table"}));
  EXPECT_EQ(Complete(path, {"rstmeshctl", "completion", "b"}), (V{"bash"}));
  RunResult unknown = RunProcess({kCtl, "completion", "tcsh"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("tcsh"), std::string::npos) << unknown.err;
}

TEST(CliConventionsTest, CmakeInstallPutsBinariesAndCompletionInPlace) {
  const std::string prefix = ::testing::TempDir() + "/rstmesh-install";
  std::filesystem::remove_all(prefix);
  RunResult install =
      RunProcess({RSTMESH_CMAKE, "--install", RSTMESH_BUILD_DIR, "--prefix", prefix});
  ASSERT_EQ(install.exit_code, 0) << install.out << install.err;
  for (const char* binary : {"rstmeshctl", "rstmesh-agent", "rstmesh-controller"}) {
    RunResult version = RunProcess({prefix + "/bin/" + binary, "--version"});
    EXPECT_EQ(version.exit_code, 0) << binary;
    EXPECT_EQ(version.out.rfind(binary, 0), 0u) << version.out;
  }
  std::ifstream completion(prefix + "/share/bash-completion/completions/rstmeshctl");
  std::string text((std::istreambuf_iterator<char>(completion)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("complete -o default -F _rstmeshctl rstmeshctl"), std::string::npos);
  std::filesystem::remove_all(prefix);
}

// A followed run in a log (stderr not a terminal): one timestamped line per --progress-every,
// no carriage returns, and a rate of the tasks done while watching; RFC 3339 times in the
// table and the JSON.
TEST(CliConventionsTest, ProgressInLogsIsPlainLinesWithARealRate) {
  testing::ProcessFleet fleet;
  ASSERT_TRUE(fleet.StartController());
  ASSERT_TRUE(fleet.StartAgent(1, "a"));
  ASSERT_TRUE(fleet.StartAgent(2, "b"));
  ASSERT_TRUE(fleet.WaitForAgents(2));
  const std::string plan = fleet.WritePlan("slow.yaml", R"(
name: slow
pattern: {kind: full_mesh}
scenarios: [{name: idle_hold, repetitions: 8, params: {idle_ms: 400}}]
limits: {concurrency_per_agent: 1}
)");
  RunResult run = fleet.Ctl({"run", "-f", plan, "--wait", "--progress-every", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(run.err.find('\r'), std::string::npos) << run.err;
  const std::regex line(
      R"((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (run-\d+): (running|finished), (\d+)/16 tasks, \d+ deviations, ([-0-9.]+) tasks/s)");
  int lines = 0;
  std::string run_id;
  for (const std::string& l : std::vector<std::string>(absl::StrSplit(run.err, '\n'))) {
    std::smatch m;
    if (!std::regex_match(l, m, line)) continue;
    ++lines;
    run_id = m[2];
    double rate = 0;
    if (m[5] != "-") {
      ASSERT_TRUE(absl::SimpleAtod(m[5].str(), &rate)) << l;
      EXPECT_LE(rate, 16.0) << "at most the run's 16 tasks in the first second: " << l;
    }
  }
  EXPECT_GE(lines, 3) << "a line a second over a run of several seconds, and the last\n" << run.err;
  EXPECT_NE(run.err.find("finished, 16/16 tasks"), std::string::npos) << run.err;

  // Watching a finished run: no rate out of nothing (it was 206,586 tasks/s).
  RunResult watch = fleet.Ctl({"watch", run_id});
  EXPECT_EQ(watch.exit_code, 0);
  EXPECT_NE(watch.err.find("finished, 16/16 tasks, 0 deviations, - tasks/s"), std::string::npos)
      << watch.err;
  const std::regex when(
      R"(started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, ended \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ after \d+ s)");
  EXPECT_TRUE(std::regex_search(watch.out, when)) << watch.out;
  EXPECT_TRUE(std::regex_search(fleet.Ctl({"runs"}).out, when));
  RunResult json = fleet.Ctl({"runs", "-o", "json"});
  EXPECT_TRUE(std::regex_search(json.out,
                                std::regex(R"("created_time": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")")))
      << json.out;
  EXPECT_TRUE(std::regex_search(
      json.out, std::regex(R"("finished_time": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")")));
}

}  // namespace
}  // namespace rstmesh
