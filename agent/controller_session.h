// ControllerSession: the agent's end of AgentHub.Connect. Dials the controller, says hello,
// hands schedules to the caller, sends observations in numbered batches and, when it
// changed, how far the schedules got. A batch is
// kept until the controller acknowledges it (it is then durable there) and resent, in
// order, after a reconnect, or after the delay a nack asks for (the controller's store
// could not take it). Nothing held is ever dropped: past `max_unacked` the caller is told
// to pause (held() >= max_unacked). Reconnects with jittered exponential backoff.
//
// Thread-safe. Callbacks run on gRPC threads and must not block.
#pragma once

#include "security/tls.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rstmesh/v1/agent_hub.grpc.pb.h"

namespace rstmesh {

struct ControllerSessionOptions {
  std::string controller;           // host:port
  TlsOptions tls = PlaintextTls();  // the agent binary demands certificates or --insecure
  v1::AgentInfo self;
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds batch_interval{50};
  size_t batch_max = 512;        // observations per batch
  size_t max_unacked = 200'000;  // held this many: the agent starts no new test
};

class ControllerSession {
 public:
  using ScheduleHandler = std::function<void(const v1::Schedule&)>;
  using CancelHandler = std::function<void(const v1::CancelRun&)>;
  using RunKeyHandler = std::function<void(const v1::RunKey&)>;

  ControllerSession(ControllerSessionOptions options, ScheduleHandler on_schedule,
                    CancelHandler on_cancel);
  ~ControllerSession();

  // Before Start(): where run keys go (the data port's key ring).
  void set_on_run_key(RunKeyHandler handler) { on_run_key_ = std::move(handler); }
  // Before Start(): how far the schedules got; sent when it changed (at most once per batch
  // interval) and at the start of every stream.
  void set_progress(std::function<v1::ScheduleProgress()> source) { progress_ = std::move(source); }
  void Start();
  void Stop();  // ends the stream; unacknowledged observations are lost with the process

  // The schedules started tests: their progress goes out now (at most every 5 ms), not at
  // the next batch interval, so that a process killed right after has said what it started.
  void ProgressChanged();
  // Queues an observation for the next batch.
  void Report(v1::Observation observation);
  // Observations not yet acknowledged (queued, sent or refused).
  size_t held() const;
  // Called (on a gRPC thread, without locks) when an ack brings held() below max_unacked.
  void set_on_drained(std::function<void()> listener) { on_drained_ = std::move(listener); }

  struct Stats {
    bool connected = false;
    uint64_t connects = 0;  // streams that got the controller's welcome
    uint64_t acked_observations = 0;
    uint64_t unacked_observations = 0;
    uint64_t nacked_batches = 0;  // refused by the controller's store, held and resent
    std::string last_error;       // why the last stream ended, e.g. "PERMISSION_DENIED: ..."
  };
  Stats stats() const;

 private:
  class Stream;
  struct Batch {
    uint64_t sequence;
    std::vector<v1::Observation> observations;
    // Set by a nack: resend then (on this stream), not before.
    std::optional<std::chrono::steady_clock::time_point> resend_at;
  };
  void Run();
  void OnMessage(const v1::ControllerMessage& message);
  void OnStreamDone(const grpc::Status& status);

  const ControllerSessionOptions options_;
  const ScheduleHandler on_schedule_;
  const CancelHandler on_cancel_;
  RunKeyHandler on_run_key_;
  std::function<v1::ScheduleProgress()> progress_;
  std::function<void()> on_drained_;
  std::thread worker_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stream_done_ ABSL_GUARDED_BY(mu_) = false;
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;
  bool progress_changed_ ABSL_GUARDED_BY(mu_) = false;
  std::chrono::milliseconds heartbeat_interval_ ABSL_GUARDED_BY(mu_){1000};
  std::vector<v1::Observation> fresh_ ABSL_GUARDED_BY(mu_);
  std::deque<Batch> unacked_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  size_t held_ ABSL_GUARDED_BY(mu_) = 0;  // observations in fresh_ and unacked_
};

}  // namespace rstmesh
