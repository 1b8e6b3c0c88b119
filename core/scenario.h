// The scenario catalogue: for each scenario of docs/scenarios.md, its name, defaults, both
// roles and what Linux predicts each role observes on a clean path. Each scenario lives in
// one file under core/scenarios/; this header is the vocabulary they share and the lookup
// everyone else uses.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "core/causes.h"
#include "core/test_connection.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {
namespace v1 {
class Plan;
}

// Upper bounds for header parameters: a responder rejects anything larger.
inline constexpr uint32_t kMaxRequestBytes = 64u << 20;
inline constexpr uint32_t kMaxResponseBytes = 16u << 20;
inline constexpr uint32_t kMaxIdleMs = 9'000'000;  // 2.5 h: past RFC 5382's 7440 s
inline constexpr uint32_t kMaxReadLimit = 64u << 20;

struct Timeouts {
  std::chrono::milliseconds connect{3000};  // connect() gives up after this
  std::chrono::milliseconds io{5000};       // each read/write step gives up after this
};

// What one role observes on a clean path.
struct Expectation {
  bool observes = true;  // false: this role never sees the connection (refused's responder)
  v1::ClosureClass closure = v1::CLOSURE_NONE;
  int error_number = 0;
  uint32_t stages = 0;  // bitmask of (1 << Stage); 0 means STAGE_UNSPECIFIED
  v1::LocalAction action = v1::ACTION_UNSPECIFIED;  // what this role itself sends at the end
  // Application bytes this role must have read (header included for the responder), or
  // nullopt when the count is not fixed.
  std::optional<uint64_t> (*bytes_received)(const v1::ScenarioParams&) = nullptr;
};

constexpr uint32_t StageBit(v1::Stage stage) { return 1u << stage; }

class RoleContext;
using RoleFn = asio::awaitable<void> (*)(RoleContext&);

struct ScenarioDef {
  v1::Scenario id;
  absl::string_view name;  // "graceful_close": what plans and the CLI say
  absl::string_view code;  // "S1"
  absl::string_view summary;
  v1::ScenarioParams defaults{};
  // What "every scenario" plans (the demo, tests) run it with: a quick run on a clean path.
  // Zero fields take the defaults.
  v1::ScenarioParams demo{};
  bool targets_closed_port = false;  // refused: connect to the port held closed
  bool needs_tcp_repair = false;     // silent_drop: the responder needs CAP_NET_ADMIN
  Expectation initiator{};
  Expectation responder{};
  // What each cause on the path does to this scenario, beyond connect() (core/causes.h):
  // how findings tell causes apart.
  std::vector<CauseEffect> effects{};
  // Extra parameter rules beyond the global bounds; may be null.
  absl::Status (*validate)(const v1::ScenarioParams&) = nullptr;
  // The roles. The initiator's runs after connect and the header; the responder's after
  // the header was read and validated. Either may be null (the role does nothing).
  RoleFn run_initiator = nullptr;
  RoleFn run_responder = nullptr;
};

std::span<const ScenarioDef* const> AllScenarios();
// Adds every scenario of the catalogue with its demo parameters to `plan`.
void AddEveryScenario(v1::Plan& plan, uint32_t repetitions);
const ScenarioDef* FindScenario(v1::Scenario id);
const ScenarioDef* FindScenario(absl::string_view name);  // by name or code ("S3")

// Zero parameters take the scenario's default.
v1::ScenarioParams ResolveParams(const ScenarioDef& def, const v1::ScenarioParams& given);
// kInvalidArgument naming the parameter and the bound it breaks.
absl::Status ValidateParams(const ScenarioDef& def, const v1::ScenarioParams& params);

// Compares one end's observation with the catalogue. Sets expected, matched and detail.
// An UNSUPPORTED observation of a scenario that needs a capability is not a match, and its
// detail starts with "unsupported:".
void Judge(const ScenarioDef& def, const v1::ScenarioParams& params, v1::Observation& obs);
bool IsUnsupported(const v1::Observation& obs);

// The state one role builds its observation in. Records only the first closure it sees
// (one classification per role per task); later surprises go into the detail.
class RoleContext {
 public:
  RoleContext(v1::Role role, const ScenarioDef& def, uint64_t task_id,
              const v1::ScenarioParams& params, Timeouts timeouts, bool tcp_repair);

  void set_connection(std::shared_ptr<TestConnection> conn) { conn_ = std::move(conn); }
  TestConnection& conn() { return *conn_; }
  bool has_connection() const { return conn_ != nullptr; }
  const v1::ScenarioParams& params() const { return params_; }
  const ScenarioDef& def() const { return def_; }
  bool tcp_repair() const { return tcp_repair_; }
  // The deadline for one more read/write step, starting now.
  Clock::time_point StepDeadline() const { return Clock::now() + timeouts_.io; }
  Clock::time_point StepDeadline(std::chrono::milliseconds extra) const {
    return Clock::now() + timeouts_.io + extra;
  }

  // Time-to-observe counts from the last trigger (by default, the start of the task).
  void MarkTrigger() { trigger_ = Clock::now(); }
  // When the role's part began, if before this context was made (the duration counts
  // from it; the trigger too, until marked).
  void set_started(Clock::time_point started) { started_ = trigger_ = started; }
  // Records the closure `result` shows, unless it is ok or one was already recorded.
  // Returns true when `result` ended the operation badly (recorded or not).
  bool Observe(const IoResult& result, v1::Stage stage);
  void Record(v1::ClosureClass closure, int error_number, v1::Stage stage, const SocketLook& look);
  void Note(absl::string_view detail);
  void set_action(v1::LocalAction action) { action_ = action; }
  bool observed() const { return observed_; }

  // Completes the observation: NONE if nothing was recorded, byte counts, the action (the
  // connection is closed here if the role left it open), and the judgement.
  v1::Observation Finish();

 private:
  const ScenarioDef& def_;
  v1::ScenarioParams params_;
  Timeouts timeouts_;
  bool tcp_repair_;
  std::shared_ptr<TestConnection> conn_;
  v1::Observation obs_;
  bool observed_ = false;
  v1::LocalAction action_ = v1::ACTION_UNSPECIFIED;
  Clock::time_point started_;
  Clock::time_point trigger_;
};

}  // namespace rstmesh
