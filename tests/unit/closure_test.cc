#include "core/closure.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace rstmesh {
namespace {

TEST(ClosureTest, ClassifiesErrnoAsTheKernelRulesSay) {
  EXPECT_EQ(ClassifyErrno(ECONNRESET, false), v1::CLOSURE_RST);
  EXPECT_EQ(ClassifyErrno(ECONNRESET, true), v1::CLOSURE_RST);
  EXPECT_EQ(ClassifyErrno(EPIPE, true), v1::CLOSURE_FIN_THEN_RST);
  EXPECT_EQ(ClassifyErrno(EPIPE, false), v1::CLOSURE_RST);
  EXPECT_EQ(ClassifyErrno(ECONNREFUSED, false), v1::CLOSURE_REFUSED);
  EXPECT_EQ(ClassifyErrno(ETIMEDOUT, false), v1::CLOSURE_TIMEOUT);
  EXPECT_EQ(ClassifyErrno(EHOSTUNREACH, false), v1::CLOSURE_UNREACHABLE);
  EXPECT_EQ(ClassifyErrno(ENETUNREACH, false), v1::CLOSURE_UNREACHABLE);
  // ICMPv6 administratively prohibited, and a local firewall: the path, not the agent.
  EXPECT_EQ(ClassifyErrno(EACCES, false), v1::CLOSURE_UNREACHABLE);
  EXPECT_EQ(ClassifyErrno(EPERM, false), v1::CLOSURE_UNREACHABLE);
  EXPECT_EQ(ClassifyErrno(ECONNABORTED, false), v1::CLOSURE_ABORTED);
  EXPECT_EQ(ClassifyErrno(EMFILE, false), v1::CLOSURE_LOCAL_ERROR);
  EXPECT_EQ(ClassifyErrno(0, false), v1::CLOSURE_NONE);
}

TEST(ClosureTest, ShortNames) {
  EXPECT_EQ(ErrnoName(ECONNRESET), "ECONNRESET");
  EXPECT_EQ(ErrnoName(0), "");
  EXPECT_EQ(ClosureName(v1::CLOSURE_FIN_THEN_RST), "FIN_THEN_RST");
  EXPECT_EQ(StageName(v1::STAGE_CONNECT), "connect");
  EXPECT_EQ(StageName(v1::STAGE_UNSPECIFIED), "-");
  EXPECT_EQ(RoleName(v1::ROLE_RESPONDER), "responder");
  EXPECT_EQ(ActionName(v1::ACTION_SILENT), "SILENT");
}

}  // namespace
}  // namespace rstmesh
