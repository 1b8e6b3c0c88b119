#include "controller/agent_hub_service.h"

#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/endpoint.h"

namespace rstmesh {
namespace {

class HubSession;

// What the registry holds: a handle that outlives the reactor and forgets it in OnDone.
class SessionLink : public AgentConnection {
 public:
  explicit SessionLink(HubSession* session) : session_(session) {}
  bool Send(v1::ControllerMessage message) override;
  void Close() override;
  size_t Queued() override;
  void Detach() {
    absl::MutexLock lock(&mu_);
    session_ = nullptr;
  }

 private:
  absl::Mutex mu_;
  HubSession* session_ ABSL_GUARDED_BY(mu_);
};

class HubSession : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  HubSession(AgentRegistry* registry, const AgentHubService::ObservationSink* sink,
             const AgentHubService::ProgressSink* progress,
             std::chrono::milliseconds heartbeat_interval,
             std::function<grpc::Status(const std::string&)> identity_check)
      : registry_(registry),
        sink_(sink),
        progress_(progress),
        heartbeat_interval_(heartbeat_interval),
        identity_check_(std::move(identity_check)),
        link_(std::make_shared<SessionLink>(this)) {
    StartRead(&in_);
  }

  // Queues a message; one write is outstanding at a time, the rest drain from OnWriteDone.
  bool Send(v1::ControllerMessage message) {
    absl::MutexLock lock(&mu_);
    if (ending_) return false;
    queue_.push_back(std::move(message));
    if (!writing_) {
      writing_ = true;
      StartWrite(&queue_.front());
    }
    return true;
  }

  size_t Queued() {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

  // Ends the stream with `status` once queued writes are out. The registry forgets the
  // agent in OnDone, which always follows.
  void End(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    if (ending_) return;
    ending_ = true;
    if (writing_) {
      pending_status_ = std::move(status);
      finish_pending_ = true;
    } else {
      Finish(std::move(status));
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      End(grpc::Status::OK);
      return;
    }
    grpc::Status handled = Handle(in_);  // may move what it keeps out of in_
    if (!handled.ok()) {
      End(handled);
      return;
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    if (ok && !queue_.empty()) {
      StartWrite(&queue_.front());
      return;
    }
    writing_ = false;
    if (finish_pending_) {
      finish_pending_ = false;
      Finish(pending_status_);
    }
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnDone() override {
    link_->Detach();
    if (!agent_id_.empty()) registry_->Unregister(agent_id_, link_.get());
    delete this;
  }

 private:
  grpc::Status Handle(v1::AgentMessage& message) {
    if (agent_id_.empty()) {
      if (!message.has_hello()) {
        return {grpc::StatusCode::INVALID_ARGUMENT, "the first message must be hello"};
      }
      const v1::AgentInfo& info = message.hello().agent();
      if (absl::Status valid = CheckHello(message.hello()); !valid.ok()) {
        return {grpc::StatusCode::INVALID_ARGUMENT, std::string(valid.message())};
      }
      if (grpc::Status allowed = identity_check_(info.id()); !allowed.ok()) return allowed;
      agent_id_ = info.id();
      // The welcome goes first; the interval is the larger of the hub's and the fleet's.
      const std::chrono::milliseconds interval =
          std::max(heartbeat_interval_, registry_->HeartbeatIntervalForNewAgent());
      v1::ControllerMessage welcome;
      welcome.mutable_welcome()->set_heartbeat_interval_ms(static_cast<uint32_t>(interval.count()));
      Send(std::move(welcome));
      registry_->Register(info, link_, interval);
      return grpc::Status::OK;
    }
    switch (message.body_case()) {
      case v1::AgentMessage::kHeartbeat:
        registry_->Heartbeat(agent_id_);
        return grpc::Status::OK;
      case v1::AgentMessage::kBatch: {
        registry_->Heartbeat(agent_id_);
        const uint64_t sequence = message.batch().sequence();
        // The answer comes after the commit, on the store writer's thread: through the
        // link, which outlives this reactor.
        (*sink_)(agent_id_, *message.mutable_batch()->mutable_observations(),
                 [link = link_, sequence](const absl::Status& stored) {
                   v1::ControllerMessage reply;
                   if (stored.ok()) {
                     reply.mutable_ack()->set_sequence(sequence);
                   } else {
                     v1::BatchNack* nack = reply.mutable_nack();
                     nack->set_sequence(sequence);
                     // Behind (busy), the store is soon ready again; failing, not.
                     nack->set_retry_after_ms(
                         static_cast<uint32_t>(stored.code() == absl::StatusCode::kResourceExhausted
                                                   ? AgentHubService::kBusyResendAfter.count()
                                                   : AgentHubService::kResendAfter.count()));
                     nack->set_reason(std::string(stored.message()));
                   }
                   link->Send(std::move(reply));
                 });
        return grpc::Status::OK;
      }
      case v1::AgentMessage::kProgress:
        registry_->Heartbeat(agent_id_);
        if (*progress_) (*progress_)(agent_id_, message.progress());
        return grpc::Status::OK;
      case v1::AgentMessage::kHello:
        return {grpc::StatusCode::INVALID_ARGUMENT, "hello: sent twice on one stream"};
      default:
        return {grpc::StatusCode::INVALID_ARGUMENT, "empty message"};
    }
  }

  AgentRegistry* const registry_;
  const AgentHubService::ObservationSink* const sink_;
  const AgentHubService::ProgressSink* const progress_;
  const std::chrono::milliseconds heartbeat_interval_;
  // Whether the caller's certificate may register an agent id (checked on Hello).
  const std::function<grpc::Status(const std::string&)> identity_check_;
  const std::shared_ptr<SessionLink> link_;
  std::string agent_id_;  // set by Hello; only the reactor's own reactions touch it
  v1::AgentMessage in_;

  absl::Mutex mu_;
  std::deque<v1::ControllerMessage> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_pending_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status pending_status_ ABSL_GUARDED_BY(mu_);
};

bool SessionLink::Send(v1::ControllerMessage message) {
  absl::MutexLock lock(&mu_);
  return session_ != nullptr && session_->Send(std::move(message));
}

size_t SessionLink::Queued() {
  absl::MutexLock lock(&mu_);
  return session_ != nullptr ? session_->Queued() : 0;
}

void SessionLink::Close() {
  absl::MutexLock lock(&mu_);
  if (session_ != nullptr) {
    session_->End({grpc::StatusCode::ABORTED, "replaced by a newer stream of the same agent"});
  }
}

}  // namespace

absl::Status CheckHello(const v1::Hello& hello) {
  const v1::AgentInfo& info = hello.agent();
  if (info.id().empty()) return absl::InvalidArgumentError("hello.agent.id: required");
  if (info.id().size() > 253) {
    return absl::InvalidArgumentError("hello.agent.id: longer than 253");
  }
  if (absl::StatusOr<HostPort> ep = ParseHostPort(info.data_endpoint(), 0); !ep.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("hello.agent.data_endpoint: ", ep.status().message()));
  }
  return absl::OkStatus();
}

AgentHubService::ObservationSink AgentHubService::Synchronous(
    std::function<absl::Status(const std::string&, const std::vector<v1::Observation>&)> store) {
  return [store = std::move(store)](const std::string& agent, Observations& batch, Done done) {
    done(store(agent, std::vector<v1::Observation>(batch.begin(), batch.end())));
  };
}

AgentHubService::AgentHubService(AgentRegistry* registry, ObservationSink sink,
                                 std::chrono::milliseconds heartbeat_interval, PeerPolicy policy)
    : registry_(registry),
      sink_(std::move(sink)),
      heartbeat_interval_(heartbeat_interval),
      policy_(policy) {}

grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* AgentHubService::Connect(
    grpc::CallbackServerContext* context) {
  // The context lives as long as the stream (until OnDone).
  return new HubSession(registry_, &sink_, &progress_, heartbeat_interval_,
                        [policy = policy_, context](const std::string& agent_id) {
                          return policy.RequireAgent(*context, agent_id);
                        });
}

}  // namespace rstmesh
