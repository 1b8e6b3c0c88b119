// RunOwnership: what a RunManager asks of the replicas it shares a PostgreSQL database with
// (controller/replica_link.h). A controller on its own has none and owns every run.
//
// With replicas, each running run is owned by one of them at a time, through a lease in the
// database: the owner compiles schedules and judges; the others store what their agents
// send, pass their agents' progress on, and answer for the run from what its owner
// publishes. Implementations are thread-safe and never block on the database in these
// calls, except where said.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "controller/run_report.h"
#include "rstmesh/v1/agent_hub.pb.h"

namespace rstmesh {

class RunOwnership {
 public:
  virtual ~RunOwnership() = default;
  // A run number no replica has given out (blocks on the database).
  virtual absl::StatusOr<uint64_t> NextRunNumber() = 0;
  // Takes the lease of a run about to be stored, so that no other replica takes it over
  // before its owner has it live (blocks on the database).
  virtual absl::Status Claim(const std::string& run_id) = 0;
  // An agent connected here reported its progress: for the runs' owners, wherever they are
  // (kept in the database, so that a new owner resumes from it).
  virtual void Publish(const std::string& agent_id, const v1::ScheduleProgress& progress) = 0;
  // Asks the owner of a running run to cancel it (blocks on the database).
  virtual absl::Status RequestCancel(const std::string& run_id) = 0;
  // A running run owned by another replica: its counts as its owner last published them,
  // and the owner; nullopt when none are known.
  virtual std::optional<RunProgress> Published(const std::string& run_id) = 0;
  // The replica that owns a running run ("" if none holds its lease now).
  virtual std::string OwnerOf(const std::string& run_id) = 0;
};

}  // namespace rstmesh
