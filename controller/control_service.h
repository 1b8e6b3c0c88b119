// The Control gRPC service (callback API): what rstmeshctl calls. Unary calls answer from
// the run manager and the store; WatchRun streams progress until the run ends; Export
// streams every stored observation of a run, a page at a time. What reads the store or
// builds a run runs on the call worker, never in a gRPC reaction.
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "controller/agent_registry.h"
#include "controller/audit_scheduler.h"
#include "controller/call_worker.h"
#include "controller/run_manager.h"
#include "controller/store.h"
#include "rstmesh/v1/control.grpc.pb.h"
#include "security/tls.h"

namespace rstmesh {

grpc::Status ToGrpc(const absl::Status& status);

class ControlService final : public v1::Control::CallbackService {
 public:
  // With TLS, only operator certificates may call (agents' certificates are refused).
  // `ownership`: the replicas' leases (null for a controller on its own): runs show their
  // owner.
  ControlService(RunManager* runs, AgentRegistry* registry, Store* store, PeerPolicy policy,
                 RunOwnership* ownership = nullptr);

  grpc::ServerUnaryReactor* ListAgents(grpc::CallbackServerContext* context,
                                       const v1::ListAgentsRequest* request,
                                       v1::ListAgentsResponse* response) override;
  grpc::ServerUnaryReactor* ListScenarios(grpc::CallbackServerContext* context,
                                          const v1::ListScenariosRequest* request,
                                          v1::ListScenariosResponse* response) override;
  grpc::ServerUnaryReactor* StartRun(grpc::CallbackServerContext* context,
                                     const v1::StartRunRequest* request,
                                     v1::StartRunResponse* response) override;
  grpc::ServerWriteReactor<v1::RunStatus>* WatchRun(grpc::CallbackServerContext* context,
                                                    const v1::WatchRunRequest* request) override;
  grpc::ServerUnaryReactor* GetReport(grpc::CallbackServerContext* context,
                                      const v1::GetReportRequest* request,
                                      v1::Report* response) override;
  grpc::ServerUnaryReactor* GetEvidence(grpc::CallbackServerContext* context,
                                        const v1::GetEvidenceRequest* request,
                                        v1::GetEvidenceResponse* response) override;
  grpc::ServerUnaryReactor* ListRuns(grpc::CallbackServerContext* context,
                                     const v1::ListRunsRequest* request,
                                     v1::ListRunsResponse* response) override;
  grpc::ServerUnaryReactor* CancelRun(grpc::CallbackServerContext* context,
                                      const v1::CancelRunRequest* request,
                                      v1::CancelRunResponse* response) override;
  grpc::ServerUnaryReactor* PutSchedule(grpc::CallbackServerContext* context,
                                        const v1::PutScheduleRequest* request,
                                        v1::ScheduleInfo* response) override;
  grpc::ServerUnaryReactor* ListSchedules(grpc::CallbackServerContext* context,
                                          const v1::ListSchedulesRequest* request,
                                          v1::ListSchedulesResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSchedule(grpc::CallbackServerContext* context,
                                           const v1::DeleteScheduleRequest* request,
                                           v1::DeleteScheduleResponse* response) override;
  grpc::ServerUnaryReactor* ListAudits(grpc::CallbackServerContext* context,
                                       const v1::ListAuditsRequest* request,
                                       v1::ListAuditsResponse* response) override;
  // Continuous audits are served once the scheduler exists (set before serving).
  void set_scheduler(AuditScheduler* scheduler) { scheduler_ = scheduler; }
  grpc::ServerWriteReactor<v1::Observation>* ExportObservations(
      grpc::CallbackServerContext* context, const v1::ExportObservationsRequest* request) override;

  // The status of one run, from the live run manager or the store.
  absl::StatusOr<v1::RunStatus> Status(const std::string& run_id);
  // The same from its record and progress.
  v1::RunStatus StatusOf(const RunRecord& record, const RunProgress& progress);
  // Where calls read the store (streams use it between writes).
  CallWorker& worker() { return worker_; }

 private:
  // Runs `work` on the call worker and finishes the call with what it returns (the request
  // and response stay valid until then).
  grpc::ServerUnaryReactor* Offload(grpc::CallbackServerContext* context,
                                    std::function<grpc::Status()> work);
  grpc::Status Report(const v1::GetReportRequest& request, v1::Report& response);
  grpc::Status Evidence(const v1::GetEvidenceRequest& request, v1::GetEvidenceResponse& response);
  // The stored record of a run; kNotFound naming it.
  absl::StatusOr<RunRecord> Run(const std::string& run_id);

  RunManager* runs_;
  AgentRegistry* registry_;
  Store* store_;
  RunOwnership* ownership_;
  AuditScheduler* scheduler_ = nullptr;
  PeerPolicy policy_;
  // Two threads: a long report does not hold up a StartRun. Destroyed first: what is queued
  // runs while the rest is still there.
  CallWorker worker_{2, 256};
};

}  // namespace rstmesh
