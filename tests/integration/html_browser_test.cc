// The HTML report of a 100-agent audit as a browser renders it. A demo fleet of 100 agents
// runs on loopback inside a network namespace of its own (`unshare -n`, gone with its
// processes), where a firewall answers every SYN to agent-4 and agent-37 with a RST. The
// page goes through headless Chromium (`--dump-dom`, in the same namespace: nothing leaves
// it), and the DOM the browser built, its script run, holds the findings with their places
// and counts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "tests/support/subprocess.h"
#include "tests/support/text.h"

namespace rstmesh {
namespace {

using testing::Count;
using testing::RunProcess;

class HtmlBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root for a network namespace";
    if (access("/usr/bin/chromium", X_OK) != 0) {
      GTEST_SKIP() << "SKIPPED: Debian's chromium is not installed (scripts/install-deps.sh)";
    }
    char tmpl[] = "/tmp/rstmesh-html-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(HtmlBrowserTest, AHundredAgentReportRendersItsFindingsPlacesAndCounts) {
  std::ofstream(dir_ + "/plan.yaml") << R"(
name: two hosts refuse
pattern: {kind: full_mesh}
scenarios: [{name: graceful_close}, {name: abortive_close}]
limits: {concurrency_per_agent: 8}
)";
  const std::string script = absl::StrCat(
      "set -e; cd ", dir_,
      "; ip link set lo up"
      "; nft add table inet fw"
      "; nft 'add chain inet fw in { type filter hook input priority 0 ; }'"
      "; nft add rule inet fw in ip daddr '{ 127.0.0.4, 127.0.0.37 }' "
      "'tcp flags & (syn | ack) == syn' reject with tcp reset"
      "; code=0; ",
      RSTMESH_CTL_BIN,
      " demo --agents 100 --plan plan.yaml -o html > report.html 2> demo.log || code=$?"
      "; echo demo exit $code"
      "; /usr/bin/chromium --headless --no-sandbox --disable-gpu --no-first-run "
      "--disable-extensions --user-data-dir=",
      dir_, "/profile --window-size=1400,900 --dump-dom file://", dir_,
      "/report.html > dom.html 2> chromium.log");
  auto ran =
      RunProcess({"/usr/bin/unshare", "-n", "/bin/sh", "-c", script}, std::chrono::seconds(400));
  ASSERT_EQ(ran.exit_code, 0) << ran.out << ran.err;
  EXPECT_NE(ran.out.find("demo exit 1"), std::string::npos) << "deviations: exit 1; " << ran.out;

  std::ifstream page_file(dir_ + "/report.html");
  const std::string page((std::istreambuf_iterator<char>(page_file)), {});
  std::ifstream dom_file(dir_ + "/dom.html");
  const std::string dom((std::istreambuf_iterator<char>(dom_file)), {});
  ASSERT_GT(dom.size(), 1000u) << ran.out;
  // The figure docs/ states: the page of a 100-agent, 19,800-task audit.
  std::cout << "HTML report of 100 agents: " << page.size() << " bytes\n";

  // One cause, two places, the counts: 2 hosts x 99 paths into each x 2 scenarios.
  EXPECT_NE(dom.find("<b>the path refuses connections with a RST: the responder never saw the "
                     "SYN</b>"),
            std::string::npos);
  EXPECT_NE(dom.find("where: <span class=\"place\">agent-4: the connections to it</span>; "
                     "<span class=\"place\">agent-37: the connections to it</span>"),
            std::string::npos);
  EXPECT_NE(dom.find("396 of 396 tasks on 198 paths (graceful_close, abortive_close)"),
            std::string::npos)
      << dom.substr(dom.find("<section id=\"findings\">"), 3000);
  EXPECT_EQ(Count(dom, "class=\"finding\""), 1u);
  // The browser ran the page's script: every deviating pair of the 100 x 100 matrix got its
  // details from the page's JSON list.
  const std::string agents = dom.substr(dom.find("<section id=\"agents\">"));
  EXPECT_EQ(Count(agents, "title=\"click for details\""), 198u);
  EXPECT_EQ(Count(agents, "<td class=\"p\""), 100u * 99 - 198);
  EXPECT_NE(dom.find("<table class=\"matrix compact\" id=\"agent-matrix\">"), std::string::npos);
}

}  // namespace
}  // namespace rstmesh
