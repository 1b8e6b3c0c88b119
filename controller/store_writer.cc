#include "controller/store_writer.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <iterator>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "core/monotonic_clock.h"

namespace rstmesh {
StoreWriter::StoreWriter(Store* store, Options options)
    : store_(store), options_(std::move(options)) {
  thread_ = std::thread([this] { Loop(); });
  answer_thread_ = std::thread([this] { AnswerLoop(); });
}

StoreWriter::~StoreWriter() { Stop(); }

void StoreWriter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock lock(&mu_);
    writer_stopped_ = true;
  }
  if (answer_thread_.joinable()) answer_thread_.join();
}

void StoreWriter::SubmitObservations(std::vector<ObservationRow> observations, Done done) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError("store: the controller is stopping");
    } else if (queued_observations_ + observations.size() > options_.max_queued_observations) {
      refused = absl::ResourceExhaustedError("store: the writer is behind; resend later");
    } else {
      queued_observations_ += observations.size();
      const size_t count = observations.size();
      queue_.push_back(Item{next_place_++, Batch{std::move(observations), count, std::move(done)}});
      return;
    }
  }
  done(refused);
}

uint64_t StoreWriter::SubmitTaskState(std::string run_id, uint64_t task_id, TaskState state) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(Item{next_place_, TaskUpdate{std::move(run_id), task_id, state}});
  return next_place_++;
}

uint64_t StoreWriter::SubmitRunState(std::string run_id, RunState state, int64_t finished_unix_ms) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(Item{next_place_, RunUpdate{std::move(run_id), state, finished_unix_ms}});
  return next_place_++;
}

uint64_t StoreWriter::SubmitAddTasks(std::string run_id, std::vector<TaskRecord> tasks) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(Item{next_place_, TaskAdd{std::move(run_id), std::move(tasks)}});
  return next_place_++;
}

bool StoreWriter::Stored(uint64_t place) const {
  absl::MutexLock lock(&mu_);
  return stored_through_ >= place;
}

StoreWriter::Health StoreWriter::health() const {
  absl::MutexLock lock(&mu_);
  Health h = health_;
  h.queued_updates = 0;
  for (const Item& item : queue_)
    h.queued_updates += std::holds_alternative<Batch>(item.what) ? 0 : 1;
  return h;
}

bool StoreWriter::failing() const {
  absl::MutexLock lock(&mu_);
  return health_.failing;
}

bool StoreWriter::Idle() const {
  absl::MutexLock lock(&mu_);
  return queue_.empty() && !busy_ && answers_.empty() && !answering_;
}

absl::Status StoreWriter::Write(std::vector<Item>& items) {
  if (std::holds_alternative<Batch>(items.front().what)) {
    // One transaction for the group. The rows are not needed after this attempt (a batch
    // that could not be stored goes back to its agent), so they move into it.
    std::vector<ObservationRow> group = std::move(std::get<Batch>(items.front().what).rows);
    for (size_t i = 1; i < items.size(); ++i) {
      std::vector<ObservationRow>& rows = std::get<Batch>(items[i].what).rows;
      std::move(rows.begin(), rows.end(), std::back_inserter(group));
      rows.clear();
    }
    // In key order: each insert finds its place next to the one before, in pages that are
    // at hand (agents' batches interleave tasks from all over a run).
    std::sort(group.begin(), group.end(), [](const ObservationRow& a, const ObservationRow& b) {
      return std::tie(a.task_id, a.role, a.run_id) < std::tie(b.task_id, b.role, b.run_id);
    });
    absl::StatusOr<int> stored = store_->InsertRows(group);
    if (!stored.ok()) return stored.status();
    absl::MutexLock lock(&mu_);
    ++health_.groups_committed;
    health_.observations_stored += static_cast<uint64_t>(*stored);
    return absl::OkStatus();
  }
  absl::Status status;
  if (const auto* task = std::get_if<TaskUpdate>(&items.front().what)) {
    status = store_->SetTaskState(task->run_id, task->task_id, task->state);
  } else if (const auto* added = std::get_if<TaskAdd>(&items.front().what)) {
    status = store_->AddTasks(added->run_id, added->tasks);
  } else {
    const RunUpdate& run = std::get<RunUpdate>(items.front().what);
    status = store_->SetRunState(run.run_id, run.state, run.finished_unix_ms);
  }
  // A task or run that is not there has nothing to update (a run created before a crash
  // that lost it); only a store that cannot write is an error.
  return absl::IsNotFound(status) ? absl::OkStatus() : status;
}

void StoreWriter::Failed(const absl::Status& status) {
  ++health_.errors_total;
  const std::string cause(status.message());
  if (!health_.failing || cause != health_.error) {
    const std::string line = absl::StrCat(
        "rstmesh-controller: ", cause,
        health_.failing ? ""
                        : "; agents hold their observations and resend them, runs pause "
                          "until the store can write again");
    if (options_.log) {
      options_.log(line);
    } else {
      std::cerr << line << std::endl;
    }
  }
  if (!health_.failing) health_.failing_since_unix_ms = UnixMillisNow();
  health_.failing = true;
  health_.error = cause;
}

void StoreWriter::Loop() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
    mu_.Await(absl::Condition(&ready));
    if (queue_.empty()) return;  // stopping, with everything written
    // The head: every batch queued behind it (one transaction), or one state change.
    std::vector<Item> items;
    if (std::holds_alternative<Batch>(queue_.front().what)) {
      size_t group = 0;
      while (!queue_.empty() && std::holds_alternative<Batch>(queue_.front().what)) {
        const size_t n = std::get<Batch>(queue_.front().what).count;
        if (!items.empty() && group + n > options_.max_group_observations) break;
        group += n;
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    } else {
      items.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    busy_ = true;
    mu_.Unlock();
    const absl::Status status = Write(items);
    mu_.Lock();
    busy_ = false;

    std::vector<Batch> answers;
    absl::Status answer = status;
    if (status.ok()) {
      if (health_.failing) {
        const std::string line =
            absl::StrCat("rstmesh-controller: store: writing again after ",
                         (UnixMillisNow() - health_.failing_since_unix_ms) / 1000,
                         " s; held observations are "
                         "stored as their agents resend them");
        if (options_.log) {
          options_.log(line);
        } else {
          std::cerr << line << std::endl;
        }
      }
      health_.failing = false;
      health_.error.clear();
      stored_through_ = items.back().place;
      for (Item& item : items) {
        if (auto* batch = std::get_if<Batch>(&item.what)) answers.push_back(std::move(*batch));
      }
    } else {
      Failed(status);
      answer = absl::UnavailableError(std::string(status.message()));
      // Batches go back to their agents; state changes wait at the head for the retry.
      for (auto it = items.rbegin(); it != items.rend(); ++it) {
        if (auto* batch = std::get_if<Batch>(&it->what)) {
          answers.push_back(std::move(*batch));
        } else if (!stopping_) {
          queue_.push_front(std::move(*it));
        }
      }
      // A refused batch is done with here: the order of state changes is what counts.
      if (std::holds_alternative<Batch>(items.front().what) &&
          (queue_.empty() || queue_.front().place > items.back().place)) {
        stored_through_ = items.back().place;
      }
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (auto* batch = std::get_if<Batch>(&it->what)) {
          answers.push_back(std::move(*batch));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      if (stopping_) queue_.clear();  // what is not stored now is resumed from the store
    }
    if (!answers.empty()) answers_.push_back(Answer{answer, std::move(answers)});
    if (!status.ok() && !stopping_) {
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(options_.retry_interval));
    }
  }
}

void StoreWriter::AnswerLoop() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    mu_.Await(absl::Condition(this, &StoreWriter::AnswerReady));
    if (answers_.empty()) return;  // the writer stopped, and everything is answered
    Answer answer = std::move(answers_.front());
    answers_.pop_front();
    answering_ = true;
    mu_.Unlock();
    size_t observations = 0;
    for (Batch& batch : answer.batches) {
      observations += batch.count;
      if (batch.done) batch.done(answer.status);
    }
    answer.batches.clear();  // freed here, not on the writer's thread
    mu_.Lock();
    answering_ = false;
    queued_observations_ -= observations;
  }
}

}  // namespace rstmesh
