#include "agent/controller_session.h"

#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"

namespace rstmesh {
namespace {
constexpr std::chrono::milliseconds kProgressSpacing{5};
}  // namespace
namespace {

std::string StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    default:
      return absl::StrCat("status ", static_cast<int>(code));
  }
}

}  // namespace

namespace {

template <typename B>
v1::AgentMessage BatchMessage(const B& batch) {
  v1::AgentMessage m;
  m.mutable_batch()->set_sequence(batch.sequence);
  for (const auto& o : batch.observations) *m.mutable_batch()->add_observations() = o;
  return m;
}

}  // namespace

// One AgentHub.Connect call. A hold keeps the call open until we stop writing, so a write
// can never race the end of the call.
class ControllerSession::Stream
    : public grpc::ClientBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  Stream(ControllerSession* owner, v1::AgentHub::Stub* stub) : owner_(owner) {
    stub->async()->Connect(&context_, this);
    AddHold();
    StartRead(&in_);
    StartCall();
  }

  bool Send(v1::AgentMessage message) {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    queue_.push_back(std::move(message));
    if (!writing_) {
      writing_ = true;
      StartWrite(&queue_.front());
    }
    return true;
  }

  // No more writes: release the hold once the last write is out.
  void Close() {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    if (!writing_) RemoveHold();
  }

  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Close();
      return;
    }
    owner_->OnMessage(in_);
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    if (ok && !queue_.empty() && !closed_) {
      StartWrite(&queue_.front());
      return;
    }
    writing_ = false;
    if (!ok && !closed_) closed_ = true;
    if (closed_) RemoveHold();
  }

  void OnDone(const grpc::Status& status) override { owner_->OnStreamDone(status); }

 private:
  ControllerSession* const owner_;
  grpc::ClientContext context_;
  v1::ControllerMessage in_;
  absl::Mutex mu_;
  std::deque<v1::AgentMessage> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

ControllerSession::ControllerSession(ControllerSessionOptions options, ScheduleHandler on_schedule,
                                     CancelHandler on_cancel)
    : options_(std::move(options)),
      on_schedule_(std::move(on_schedule)),
      on_cancel_(std::move(on_cancel)) {}

ControllerSession::~ControllerSession() { Stop(); }

void ControllerSession::Start() {
  worker_ = std::thread([this] { Run(); });
}

void ControllerSession::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (worker_.joinable()) worker_.join();
}

void ControllerSession::Report(v1::Observation observation) {
  absl::MutexLock lock(&mu_);
  fresh_.push_back(std::move(observation));
  ++held_;
}

void ControllerSession::ProgressChanged() {
  absl::MutexLock lock(&mu_);
  progress_changed_ = true;
}

size_t ControllerSession::held() const {
  absl::MutexLock lock(&mu_);
  return held_;
}

ControllerSession::Stats ControllerSession::stats() const {
  absl::MutexLock lock(&mu_);
  Stats out = stats_;
  out.unacked_observations = held_;
  return out;
}

void ControllerSession::OnMessage(const v1::ControllerMessage& message) {
  switch (message.body_case()) {
    case v1::ControllerMessage::kWelcome: {
      // Also mid-stream: the controller asks a growing fleet to beat less often.
      absl::MutexLock lock(&mu_);
      if (!welcomed_) ++stats_.connects;
      welcomed_ = true;
      stats_.connected = true;
      if (message.welcome().heartbeat_interval_ms() > 0) {
        heartbeat_interval_ = std::chrono::milliseconds(message.welcome().heartbeat_interval_ms());
      }
      return;
    }
    case v1::ControllerMessage::kAck: {
      bool drained = false;
      {
        absl::MutexLock lock(&mu_);
        for (auto it = unacked_.begin(); it != unacked_.end(); ++it) {
          if (it->sequence == message.ack().sequence()) {
            const bool was_full = held_ >= options_.max_unacked;
            stats_.acked_observations += it->observations.size();
            held_ -= it->observations.size();
            unacked_.erase(it);
            drained = was_full && held_ < options_.max_unacked;
            break;
          }
        }
      }
      if (drained && on_drained_) on_drained_();
      return;
    }
    case v1::ControllerMessage::kNack: {
      const v1::BatchNack& nack = message.nack();
      absl::MutexLock lock(&mu_);
      for (Batch& b : unacked_) {
        if (b.sequence != nack.sequence()) continue;
        b.resend_at = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(std::max<uint32_t>(nack.retry_after_ms(), 100));
        ++stats_.nacked_batches;
        // Once per distinct cause, not once per batch.
        std::string error = absl::StrCat("controller cannot store observations: ", nack.reason());
        if (error != stats_.last_error) {
          std::cerr << "rstmesh-agent: " << error << "; holding " << held_
                    << " observations and resending them" << std::endl;
          stats_.last_error = std::move(error);
        }
        break;
      }
      return;
    }
    case v1::ControllerMessage::kSchedule:
      if (on_schedule_) on_schedule_(message.schedule());
      return;
    case v1::ControllerMessage::kCancel:
      if (on_cancel_) on_cancel_(message.cancel());
      return;
    case v1::ControllerMessage::kRunKey:
      if (on_run_key_) on_run_key_(message.run_key());
      return;
    default:
      return;
  }
}

void ControllerSession::OnStreamDone(const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  stream_done_ = true;
  stats_.connected = false;
  if (status.ok() || stopping_) return;
  std::string error =
      absl::StrCat(StatusCodeName(status.error_code()), ": ", status.error_message());
  // Once per distinct reason, not once per retry.
  if (error != stats_.last_error) {
    std::cerr << "rstmesh-agent: controller " << options_.controller << ": " << error
              << "; retrying with backoff" << std::endl;
  }
  stats_.last_error = std::move(error);
}

void ControllerSession::Run() {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> tls = ChannelCredentials(options_.tls);
  // The agent's main checked the files; if one has gone since, dialling fails and retries.
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      tls.ok() ? *tls : grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args = TlsChannelArguments(options_.tls);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  auto channel = grpc::CreateCustomChannel(options_.controller, credentials, args);
  auto stub = v1::AgentHub::NewStub(channel);
  std::mt19937_64 rng(std::random_device{}());
  auto backoff = options_.backoff_min;

  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stream_done_ = false;
      welcomed_ = false;
    }
    auto stream = std::make_unique<Stream>(this, stub.get());
    v1::AgentMessage hello;
    *hello.mutable_hello()->mutable_agent() = options_.self;
    stream->Send(std::move(hello));

    bool resent = false;
    auto last_heartbeat = std::chrono::steady_clock::now();
    std::string last_progress;  // as sent on this stream
    auto last_progress_at = std::chrono::steady_clock::time_point{};
    auto last_batch_at = std::chrono::steady_clock::time_point{};
    for (;;) {
      std::vector<v1::AgentMessage> out;
      bool stop = false, done = false, welcomed = false;
      {
        absl::MutexLock lock(&mu_);
        auto wake = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return stopping_ || stream_done_ || (progress_changed_ && welcomed_);
        };
        mu_.AwaitWithTimeout(absl::Condition(&wake), absl::FromChrono(options_.batch_interval));
        if (progress_changed_) {
          // Progress at most every 5 ms, however many tests start.
          const auto since = std::chrono::steady_clock::now() - last_progress_at;
          if (since < kProgressSpacing) {
            auto ended = [this]()
                             ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || stream_done_; };
            mu_.AwaitWithTimeout(absl::Condition(&ended),
                                 absl::FromChrono(kProgressSpacing - since));
          }
          progress_changed_ = false;
        }
        stop = stopping_;
        done = stream_done_;
        welcomed = welcomed_;
        if (!stop && !done && welcomed_) {
          // After a (re)connect, everything unacknowledged goes again, oldest first; on a
          // stream, what a nack refused goes again when the nack said.
          const auto now = std::chrono::steady_clock::now();
          for (Batch& b : unacked_) {
            if (!resent || (b.resend_at && *b.resend_at <= now)) {
              b.resend_at.reset();
              out.push_back(BatchMessage(b));
            }
          }
          if (!resent) {
            resent = true;
            backoff = options_.backoff_min;
          }
          // Observations in batches once per interval (progress may wake the loop sooner).
          const bool batch_due = now - last_batch_at >= options_.batch_interval;
          if (batch_due) last_batch_at = now;
          while (batch_due && !fresh_.empty()) {
            size_t n = std::min(fresh_.size(), options_.batch_max);
            Batch batch{next_sequence_++, {}, std::nullopt};
            batch.observations.assign(std::make_move_iterator(fresh_.begin()),
                                      std::make_move_iterator(fresh_.begin() + n));
            fresh_.erase(fresh_.begin(), fresh_.begin() + n);
            out.push_back(BatchMessage(batch));
            unacked_.push_back(std::move(batch));
          }
          if (now - last_heartbeat >= heartbeat_interval_) {
            last_heartbeat = now;
            v1::AgentMessage m;
            m.mutable_heartbeat();
            out.push_back(std::move(m));
          }
        }
      }
      if (stop) {
        stream->Close();
        stream->Cancel();
      }
      if (stop || done) break;
      // Outside the lock: the schedules' owner asks this session whether it may start tests.
      if (welcomed && progress_) {
        v1::AgentMessage m;
        *m.mutable_progress() = progress_();
        std::string bytes = m.SerializeAsString();
        if (bytes != last_progress) {
          last_progress = std::move(bytes);
          last_progress_at = std::chrono::steady_clock::now();
          out.push_back(std::move(m));
        }
      }
      for (auto& m : out) stream->Send(std::move(m));
    }
    // Wait for OnDone before the reactor goes away.
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&stream_done_));
    }
    stream.reset();
    // Jittered exponential backoff before the next attempt.
    auto wait = std::chrono::milliseconds(
        std::uniform_int_distribution<int64_t>(backoff.count() / 2, backoff.count())(rng));
    backoff = std::min(options_.backoff_max, backoff * 2);
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(wait));
  }
}

}  // namespace rstmesh
