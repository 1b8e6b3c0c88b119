#include "core/scenario.h"

#include <array>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/closure.h"
#include "core/endpoint.h"
#include "core/scenarios/catalogue.h"
#include "rstmesh/v1/plan.pb.h"

namespace rstmesh {

std::span<const ScenarioDef* const> AllScenarios() {
  static const std::array<const ScenarioDef*, 9> all = {
      &scenarios::GracefulClose(),    &scenarios::AbortiveClose(),
      &scenarios::UnreadDataClose(),  &scenarios::WriteAfterPeerClose(),
      &scenarios::HalfClose(),        &scenarios::Refused(),
      &scenarios::SilentDrop(),       &scenarios::IdleHold(),
      &scenarios::ResetMidTransfer(),
  };
  return all;
}

void AddEveryScenario(v1::Plan& plan, uint32_t repetitions) {
  for (const ScenarioDef* def : AllScenarios()) {
    v1::ScenarioRun* run = plan.add_scenarios();
    run->set_name(std::string(def->name));
    run->set_repetitions(repetitions);
    *run->mutable_params() = def->demo;
  }
}

const ScenarioDef* FindScenario(v1::Scenario id) {
  for (const ScenarioDef* def : AllScenarios()) {
    if (def->id == id) return def;
  }
  return nullptr;
}

const ScenarioDef* FindScenario(absl::string_view name) {
  for (const ScenarioDef* def : AllScenarios()) {
    if (def->name == name || absl::EqualsIgnoreCase(def->code, name)) return def;
  }
  return nullptr;
}

v1::ScenarioParams ResolveParams(const ScenarioDef& def, const v1::ScenarioParams& given) {
  v1::ScenarioParams out = given;
  if (out.request_bytes() == 0) out.set_request_bytes(def.defaults.request_bytes());
  if (out.response_bytes() == 0) out.set_response_bytes(def.defaults.response_bytes());
  if (out.idle_ms() == 0) out.set_idle_ms(def.defaults.idle_ms());
  if (out.read_limit() == 0) out.set_read_limit(def.defaults.read_limit());
  return out;
}

absl::Status ValidateParams(const ScenarioDef& def, const v1::ScenarioParams& params) {
  auto too_big = [](absl::string_view field, uint64_t value, uint64_t max) {
    return absl::InvalidArgumentError(
        absl::StrCat("params.", field, ": ", value, " exceeds the maximum ", max));
  };
  if (params.request_bytes() > kMaxRequestBytes) {
    return too_big("request_bytes", params.request_bytes(), kMaxRequestBytes);
  }
  if (params.response_bytes() > kMaxResponseBytes) {
    return too_big("response_bytes", params.response_bytes(), kMaxResponseBytes);
  }
  if (params.idle_ms() > kMaxIdleMs) return too_big("idle_ms", params.idle_ms(), kMaxIdleMs);
  if (params.read_limit() > kMaxReadLimit) {
    return too_big("read_limit", params.read_limit(), kMaxReadLimit);
  }
  if (def.validate != nullptr) return def.validate(params);
  return absl::OkStatus();
}

bool IsUnsupported(const v1::Observation& obs) { return obs.observed() == v1::CLOSURE_UNSUPPORTED; }

void Judge(const ScenarioDef& def, const v1::ScenarioParams& params, v1::Observation& obs) {
  const Expectation& want = obs.role() == v1::ROLE_INITIATOR ? def.initiator : def.responder;
  obs.set_expected(want.closure);
  std::vector<std::string> problems;
  if (!want.observes) {
    problems.push_back("this role should never see a connection");
  } else if (obs.observed() == v1::CLOSURE_UNSUPPORTED && def.needs_tcp_repair) {
    obs.set_matched(false);
    if (obs.detail().empty()) obs.set_detail("unsupported: the responder lacks CAP_NET_ADMIN");
    return;
  } else {
    if (obs.observed() != want.closure) {
      problems.push_back(absl::StrCat("observed ", ClosureName(obs.observed()), ", expected ",
                                      ClosureName(want.closure)));
    }
    if (obs.error_number() != want.error_number) {
      problems.push_back(
          absl::StrCat("errno ", ErrnoName(obs.error_number()), ", expected ",
                       want.error_number == 0 ? "none" : ErrnoName(want.error_number)));
    }
    uint32_t stages = want.stages == 0 ? StageBit(v1::STAGE_UNSPECIFIED) : want.stages;
    if ((StageBit(obs.stage()) & stages) == 0) {
      problems.push_back(absl::StrCat("stage ", StageName(obs.stage()), " unexpected"));
    }
    if (want.action != v1::ACTION_UNSPECIFIED && obs.action() != want.action) {
      problems.push_back(absl::StrCat("sent ", ActionName(obs.action()), ", expected to send ",
                                      ActionName(want.action)));
    }
    if (want.bytes_received != nullptr) {
      if (auto bytes = want.bytes_received(params); bytes && obs.bytes_received() != *bytes) {
        problems.push_back(
            absl::StrCat("read ", obs.bytes_received(), " bytes, expected ", *bytes));
      }
    }
  }
  obs.set_matched(problems.empty());
  if (!problems.empty()) {
    std::string joined = absl::StrJoin(problems, "; ");
    obs.set_detail(obs.detail().empty() ? joined : absl::StrCat(joined, " (", obs.detail(), ")"));
  }
}

RoleContext::RoleContext(v1::Role role, const ScenarioDef& def, uint64_t task_id,
                         const v1::ScenarioParams& params, Timeouts timeouts, bool tcp_repair)
    : def_(def),
      params_(params),
      timeouts_(timeouts),
      tcp_repair_(tcp_repair),
      started_(Clock::now()),
      trigger_(started_) {
  obs_.set_task_id(task_id);
  obs_.set_role(role);
  obs_.set_scenario(def.id);
}

bool RoleContext::Observe(const IoResult& result, v1::Stage stage) {
  if (result.ok()) return false;
  if (result.deadline) {
    Record(v1::CLOSURE_TIMEOUT, 0, stage, result.look);
    Note(absl::StrCat(StageName(stage), " deadline passed"));
  } else if (result.eof) {
    Record(v1::CLOSURE_FIN, 0, stage, result.look);
  } else {
    bool fin_seen = conn_ != nullptr && conn_->fin_seen();
    Record(ClassifyErrno(result.error, fin_seen), result.error, stage, result.look);
  }
  return true;
}

void RoleContext::Record(v1::ClosureClass closure, int error_number, v1::Stage stage,
                         const SocketLook& look) {
  if (observed_) {
    Note(absl::StrCat("then ", ClosureName(closure),
                      error_number ? absl::StrCat(" ", ErrnoName(error_number)) : "", " on ",
                      StageName(stage)));
    return;
  }
  observed_ = true;
  obs_.set_observed(closure);
  obs_.set_error_number(error_number);
  obs_.set_error_name(ErrnoName(error_number));
  obs_.set_stage(stage);
  obs_.set_time_to_observe_us(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - trigger_).count());
  ToProto(look, obs_.mutable_tcp_info());
}

void RoleContext::Note(absl::string_view detail) {
  if (obs_.detail().empty()) {
    obs_.set_detail(std::string(detail));
  } else {
    obs_.set_detail(absl::StrCat(obs_.detail(), "; ", detail));
  }
}

v1::Observation RoleContext::Finish() {
  if (conn_ != nullptr) {
    if (!observed_) {
      obs_.set_observed(v1::CLOSURE_NONE);
      ToProto(conn_->LastLook(), obs_.mutable_tcp_info());
    }
    if (conn_->is_open()) {
      v1::LocalAction closed = conn_->Close();
      if (action_ == v1::ACTION_UNSPECIFIED) action_ = closed;
    }
    obs_.set_bytes_sent(conn_->bytes_sent());
    obs_.set_bytes_received(conn_->bytes_received());
    obs_.set_peer(FormatEndpoint(conn_->remote()));
    obs_.set_local(FormatEndpoint(conn_->local()));
  } else if (!observed_) {
    obs_.set_observed(v1::CLOSURE_NONE);
  }
  if (action_ == v1::ACTION_UNSPECIFIED) action_ = v1::ACTION_NOTHING;
  obs_.set_action(action_);
  obs_.set_duration_us(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count());
  Judge(def_, params_, obs_);
  return obs_;
}

}  // namespace rstmesh
