#include "controller/replica_link.h"

#include <algorithm>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controller/run_tasks.h"
#include "core/monotonic_clock.h"

namespace rstmesh {

// An agent whose stream another replica holds, as this replica's registry holds it: what
// is sent to it goes to that replica's mail.
class RemoteAgent : public AgentConnection {
 public:
  RemoteAgent(ReplicaLink* link, std::string replica, std::string agent_id)
      : link_(link), replica_(std::move(replica)), agent_id_(std::move(agent_id)) {}
  bool Send(v1::ControllerMessage message) override {
    // Heartbeat intervals are the holding replica's business.
    if (message.has_welcome()) return true;
    absl::MutexLock lock(&mu_);
    if (link_ == nullptr) return false;
    link_->Post(replica_, agent_id_, message);
    return true;
  }
  void Close() override {}  // the stream is the other replica's
  size_t Queued() override {
    absl::MutexLock lock(&mu_);
    return link_ != nullptr ? link_->Posted(agent_id_) : 0;
  }
  std::string replica() const override { return replica_; }
  void Detach() {
    absl::MutexLock lock(&mu_);
    link_ = nullptr;
  }

 private:
  absl::Mutex mu_;
  ReplicaLink* link_ ABSL_GUARDED_BY(mu_);
  const std::string replica_;
  const std::string agent_id_;
};

namespace {

// Messages and rows per statement (3 or 4 parameters each, under PostgreSQL's 65,535).
constexpr size_t kRowsPerStatement = 5000;
// Mail and arrivals taken per round trip.
constexpr int kPage = 20'000;

std::string RandomSuffix() {
  std::random_device rd;
  return absl::StrFormat("%06x", rd() & 0xffffff);
}

// "now() + N ms" for a parameter $n holding milliseconds.
std::string NowPlus(int n) {
  return absl::StrCat("now() + ($", n, "::float8 / 1000) * interval '1 second'");
}

void Log(const std::string& line) { std::cerr << "rstmesh-controller: " << line << std::endl; }

}  // namespace

ReplicaLink::ReplicaLink(Options options, AgentRegistry* registry, std::string id)
    : options_(std::move(options)), registry_(registry), id_(std::move(id)) {}

absl::StatusOr<std::unique_ptr<ReplicaLink>> ReplicaLink::Open(Options options,
                                                               AgentRegistry* registry) {
  options.period = std::min(options.period, options.lease / 3);
  std::string id = absl::StrCat(options.name, "-", RandomSuffix());
  std::unique_ptr<ReplicaLink> link(new ReplicaLink(std::move(options), registry, std::move(id)));
  for (auto* conn : {&link->listen_conn_, &link->work_conn_}) {
    auto opened = postgres::Connection::Open(link->options_.dsn);
    if (!opened.ok()) return opened.status();
    *conn = std::move(*opened);
  }
  auto opened = postgres::Connection::Open(link->options_.dsn);
  if (!opened.ok()) return opened.status();
  absl::MutexLock lock(&link->request_mu_);
  link->request_conn_ = std::move(*opened);
  return link;
}

ReplicaLink::~ReplicaLink() { Stop(); }

void ReplicaLink::Start(RunManager* runs) {
  runs_ = runs;
  listener_ = std::thread([this] { Listen(); });
  worker_ = std::thread([this] { Work(); });
}

void ReplicaLink::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (listener_.joinable()) listener_.join();
  if (worker_.joinable()) worker_.join();
  for (auto& [agent, mirror] : mirrored_) mirror->Detach();
  if (runs_ == nullptr || !WorkReady().ok()) return;
  // What was queued, then the hand-over: this replica's runs are taken over at once, its
  // agents are not here any more, and it is gone.
  FlushOutgoing().IgnoreError();
  postgres::Params p;
  p.Text(id_);
  for (const char* sql : {"UPDATE rstmesh_leases SET expires = '-infinity' WHERE owner = $1",
                          "UPDATE rstmesh_agents SET connected = false WHERE replica = $1",
                          "DELETE FROM rstmesh_replicas WHERE replica = $1",
                          "DELETE FROM rstmesh_mail WHERE replica = $1"}) {
    work_conn_->Run(sql, p, "hand over").IgnoreError();
  }
  work_conn_
      ->Run("SELECT pg_notify('rstmesh_leases', ''), pg_notify('rstmesh_agents', '')",
            "notify replicas")
      .IgnoreError();
  work_conn_->Run("SELECT pg_advisory_unlock_all()", "give the audit lock up").IgnoreError();
  leads_audits_ = false;
}

void ReplicaLink::OnRegistered(const std::string& agent_id) {
  std::optional<std::string> where = registry_->ReplicaOf(agent_id);
  if (!where || !where->empty()) return;  // a mirror, or gone already
  std::optional<v1::AgentInfo> info = registry_->Find(agent_id);
  if (!info) return;
  absl::MutexLock lock(&mu_);
  directory_out_.push_back(
      DirectoryChange{agent_id, true, info->SerializeAsString(), UnixMillisNow()});
  wake_outgoing_ = true;
}

void ReplicaLink::OnDisconnected(const std::string& agent_id) {
  absl::MutexLock lock(&mu_);
  directory_out_.push_back(DirectoryChange{agent_id, false, "", 0});
  wake_outgoing_ = true;
}

void ReplicaLink::Post(const std::string& replica, const std::string& agent_id,
                       const v1::ControllerMessage& message) {
  absl::MutexLock lock(&mu_);
  outbox_.push_back(Letter{replica, agent_id, message.SerializeAsString()});
  ++posted_[agent_id];
  wake_outgoing_ = true;
}

size_t ReplicaLink::Posted(const std::string& agent_id) {
  absl::MutexLock lock(&mu_);
  auto it = posted_.find(agent_id);
  return it == posted_.end() ? 0 : it->second;
}

void ReplicaLink::Publish(const std::string& agent_id, const v1::ScheduleProgress& progress) {
  absl::MutexLock lock(&mu_);
  for (const v1::RunProgress& p : progress.runs()) {
    uint64_t& started = progress_out_[{RunIdFor(p.run_number()), agent_id}];
    started = std::max(started, p.started());
  }
  if (progress.runs_size() > 0) wake_outgoing_ = true;
}

absl::StatusOr<uint64_t> ReplicaLink::NextRunNumber() {
  absl::MutexLock lock(&request_mu_);
  if (absl::StatusOr<bool> ready = request_conn_->Reconnect(); !ready.ok()) return ready.status();
  // Above every run stored, also those a controller on its own numbered.
  auto next = request_conn_->Run(
      "SELECT setval('rstmesh_run_number', GREATEST(nextval('rstmesh_run_number'), "
      "(SELECT COALESCE(MAX(substring(run_id FROM '^run-([0-9]+)$')::bigint), 0) + 1 "
      "FROM runs)))",
      "number a run");
  if (!next.ok()) return next.status();
  return static_cast<uint64_t>((*next)->Int(0, 0));
}

absl::Status ReplicaLink::Claim(const std::string& run_id) {
  absl::MutexLock lock(&request_mu_);
  if (absl::StatusOr<bool> ready = request_conn_->Reconnect(); !ready.ok()) return ready.status();
  postgres::Params p;
  p.Text(run_id).Text(id_).Int(options_.lease.count());
  return request_conn_
      ->Run(absl::StrCat("INSERT INTO rstmesh_leases (run_id, owner, expires) VALUES ($1, $2, ",
                         NowPlus(3),
                         ") ON CONFLICT (run_id) DO UPDATE SET owner = EXCLUDED.owner, "
                         "expires = EXCLUDED.expires"),
            p, "lease a run")
      .status();
}

absl::Status ReplicaLink::RequestCancel(const std::string& run_id) {
  absl::MutexLock lock(&request_mu_);
  if (absl::StatusOr<bool> ready = request_conn_->Reconnect(); !ready.ok()) return ready.status();
  postgres::Params p;
  p.Text(run_id);
  auto asked = request_conn_->Run(
      "WITH l AS (INSERT INTO rstmesh_leases (run_id, owner, expires, cancel) "
      "VALUES ($1, '', '-infinity', true) ON CONFLICT (run_id) DO UPDATE SET cancel = true "
      "RETURNING run_id) SELECT pg_notify('rstmesh_leases', run_id) FROM l",
      p, "ask the run's owner to cancel it");
  return asked.status();
}

std::optional<RunProgress> ReplicaLink::Published(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  auto it = published_.find(run_id);
  if (it == published_.end() || it->second.owner == id_) return std::nullopt;
  return it->second.progress;
}

std::string ReplicaLink::OwnerOf(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  auto it = published_.find(run_id);
  return it != published_.end() && it->second.held ? it->second.owner : "";
}

void ReplicaLink::Listen() {
  bool listening = false;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (!listening) {
      absl::StatusOr<bool> ready = listen_conn_->Reconnect();
      absl::Status listened =
          ready.ok() ? listen_conn_->Exec(
                           "LISTEN rstmesh_mail; LISTEN rstmesh_arrivals; LISTEN rstmesh_runs; "
                           "LISTEN rstmesh_agents; LISTEN rstmesh_progress; LISTEN rstmesh_leases",
                           "listen")
                     : ready.status();
      absl::MutexLock lock(&mu_);
      if (!listened.ok()) {
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(1));
        continue;
      }
      listening = true;
      // What was notified while nobody listened is looked at anyway.
      wake_mail_ = wake_arrivals_ = wake_progress_ = wake_runs_ = wake_periodic_ = true;
    }
    absl::StatusOr<std::vector<postgres::Connection::Notification>> got =
        listen_conn_->AwaitNotifications(std::chrono::milliseconds(500));
    if (!got.ok()) {
      listening = false;
      continue;
    }
    if (got->empty()) continue;
    absl::MutexLock lock(&mu_);
    for (const auto& n : *got) {
      if (n.channel == "rstmesh_mail") {
        if (n.payload == id_) wake_mail_ = true;
      } else if (n.channel == "rstmesh_arrivals") {
        wake_arrivals_ = true;
      } else if (n.channel == "rstmesh_runs") {
        wake_runs_ = true;
      } else if (n.channel == "rstmesh_progress") {
        wake_progress_ = true;
      } else {
        wake_periodic_ = true;  // agents, leases
      }
    }
  }
}

absl::Status ReplicaLink::WorkReady() {
  absl::StatusOr<bool> reconnected = work_conn_->Reconnect();
  if (!reconnected.ok()) return reconnected.status();
  if (*reconnected) leads_audits_ = false;  // the session's lock went with it
  return absl::OkStatus();
}

void ReplicaLink::Work() {
  auto next_periodic = std::chrono::steady_clock::now();
  std::string last_error;
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || wake_mail_ || wake_arrivals_ || wake_progress_ || wake_runs_ ||
             wake_periodic_ || wake_outgoing_;
    };
    const auto now = std::chrono::steady_clock::now();
    if (now < next_periodic) {
      mu_.AwaitWithTimeout(absl::Condition(&woken), absl::FromChrono(next_periodic - now));
    }
    if (stopping_) break;
    if (std::chrono::steady_clock::now() >= next_periodic) {
      wake_periodic_ = true;
      next_periodic = std::chrono::steady_clock::now() + options_.period;
    }
    const bool mail = std::exchange(wake_mail_, false);
    const bool arrivals = std::exchange(wake_arrivals_, false);
    const bool progress = std::exchange(wake_progress_, false);
    const bool runs = std::exchange(wake_runs_, false);
    const bool periodic = std::exchange(wake_periodic_, false);
    const bool outgoing = std::exchange(wake_outgoing_, false);
    mu_.Unlock();
    absl::Status status = WorkReady();
    auto step = [&](bool due, absl::Status (ReplicaLink::*work)()) {
      if (due && status.ok()) status = (this->*work)();
    };
    step(outgoing, &ReplicaLink::FlushOutgoing);
    step(runs, &ReplicaLink::RefreshRuns);
    step(periodic, &ReplicaLink::Periodic);
    step(mail, &ReplicaLink::DeliverMail);
    step(arrivals, &ReplicaLink::TakeArrivals);
    step(progress, &ReplicaLink::TakeProgress);
    if (!status.ok() && std::string(status.message()) != last_error) {
      last_error = std::string(status.message());
      Log(absl::StrCat("replica ", id_, ": ", last_error, " (retrying)"));
    } else if (status.ok()) {
      last_error.clear();
    }
    mu_.Lock();
    if (!status.ok()) {
      // Everything again once the database answers: nothing that was due is skipped.
      wake_mail_ |= mail;
      wake_arrivals_ |= arrivals;
      wake_progress_ |= progress;
      wake_runs_ |= runs;
      wake_outgoing_ = wake_outgoing_ || outgoing || !outbox_.empty() || !directory_out_.empty() ||
                       !progress_out_.empty();
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(500));
    }
  }
}

absl::Status ReplicaLink::FlushOutgoing() {
  std::vector<Letter> letters;
  std::vector<DirectoryChange> changes;
  std::map<std::pair<std::string, std::string>, uint64_t> progress;
  {
    absl::MutexLock lock(&mu_);
    letters.swap(outbox_);
    changes.swap(directory_out_);
    progress.swap(progress_out_);
  }
  auto requeue = [&] {
    absl::MutexLock lock(&mu_);
    letters.insert(letters.end(), outbox_.begin(), outbox_.end());
    outbox_ = std::move(letters);
    changes.insert(changes.end(), directory_out_.begin(), directory_out_.end());
    directory_out_ = std::move(changes);
    for (const auto& [key, started] : progress_out_) {
      progress[key] = std::max(progress[key], started);
    }
    progress_out_ = std::move(progress);
  };
  postgres::Transaction tx(*work_conn_);
  absl::Status s = tx.Begin();
  std::set<std::string> replicas;
  for (size_t start = 0; s.ok() && start < letters.size(); start += kRowsPerStatement) {
    const size_t end = std::min(letters.size(), start + kRowsPerStatement);
    std::string sql = "INSERT INTO rstmesh_mail (replica, agent_id, message) VALUES ";
    postgres::Params p;
    for (size_t i = start; i < end; ++i) {
      const int n = static_cast<int>(3 * (i - start));
      absl::StrAppend(&sql, i == start ? "" : ",", "($", n + 1, ",$", n + 2, ",$", n + 3, ")");
      p.Text(letters[i].replica).Text(letters[i].agent_id).Bytes(letters[i].bytes);
      replicas.insert(letters[i].replica);
    }
    s = work_conn_->Run(sql, p, "post mail").status();
  }
  for (const std::string& replica : replicas) {
    if (!s.ok()) break;
    postgres::Params p;
    p.Text(replica);
    s = work_conn_->Run("SELECT pg_notify('rstmesh_mail', $1)", p, "notify a replica").status();
  }
  for (const DirectoryChange& c : changes) {
    if (!s.ok()) break;
    postgres::Params p;
    p.Text(c.agent_id).Text(id_);
    if (c.connected) {
      p.Bytes(c.info).Int(c.registered_unix_ms);
      s = work_conn_
              ->Run(
                  "INSERT INTO rstmesh_agents (agent_id, replica, info, connected, "
                  "registered_unix_ms) VALUES ($1, $2, $3, true, $4) "
                  "ON CONFLICT (agent_id) DO UPDATE SET replica = EXCLUDED.replica, "
                  "info = EXCLUDED.info, connected = true, "
                  "registered_unix_ms = EXCLUDED.registered_unix_ms "
                  "WHERE rstmesh_agents.registered_unix_ms <= EXCLUDED.registered_unix_ms",
                  p, "publish an agent")
              .status();
    } else {
      s = work_conn_
              ->Run(
                  "UPDATE rstmesh_agents SET connected = false "
                  "WHERE agent_id = $1 AND replica = $2",
                  p, "publish an agent")
              .status();
    }
  }
  if (s.ok() && !changes.empty()) {
    s = work_conn_->Run("SELECT pg_notify('rstmesh_agents', '')", "notify replicas").status();
  }
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& [key, started] : progress) keys.push_back(key);
  for (size_t start = 0; s.ok() && start < keys.size(); start += kRowsPerStatement) {
    const size_t end = std::min(keys.size(), start + kRowsPerStatement);
    std::string sql = "INSERT INTO rstmesh_progress (run_id, agent_id, started) VALUES ";
    postgres::Params p;
    for (size_t i = start; i < end; ++i) {
      const int n = static_cast<int>(3 * (i - start));
      absl::StrAppend(&sql, i == start ? "" : ",", "($", n + 1, ",$", n + 2, ",$", n + 3, ")");
      p.Text(keys[i].first).Text(keys[i].second).Int(static_cast<int64_t>(progress[keys[i]]));
    }
    sql +=
        " ON CONFLICT (run_id, agent_id) DO UPDATE SET started = "
        "GREATEST(rstmesh_progress.started, EXCLUDED.started)";
    s = work_conn_->Run(sql, p, "publish progress").status();
  }
  if (s.ok() && !keys.empty()) {
    s = work_conn_->Run("SELECT pg_notify('rstmesh_progress', '')", "notify owners").status();
  }
  if (s.ok()) s = tx.Commit();
  if (!s.ok()) {
    requeue();
    return s;
  }
  absl::MutexLock lock(&mu_);
  for (const Letter& letter : letters) {
    auto it = posted_.find(letter.agent_id);
    if (it != posted_.end() && --it->second == 0) posted_.erase(it);
  }
  return absl::OkStatus();
}

absl::Status ReplicaLink::RefreshRuns() {
  auto result = work_conn_->Run("SELECT run_id, total_tasks FROM runs WHERE state = 0",
                                "read the running runs");
  if (!result.ok()) return result.status();
  std::vector<std::pair<uint32_t, uint64_t>> totals;
  for (int i = 0; i < (*result)->rows(); ++i) {
    totals.emplace_back(static_cast<uint32_t>(RunNumberOf((*result)->Bytes(i, 0))),
                        static_cast<uint64_t>((*result)->Int(i, 1)));
  }
  runs_->KnowRuns(totals);
  return absl::OkStatus();
}

absl::Status ReplicaLink::Periodic() {
  postgres::Params me;
  me.Text(id_).Text(options_.address);
  auto beat = work_conn_->Run(
      "INSERT INTO rstmesh_replicas (replica, address, heartbeat) VALUES ($1, $2, now()) "
      "ON CONFLICT (replica) DO UPDATE SET heartbeat = now()",
      me, "heartbeat");
  if (!beat.ok()) return beat.status();
  if (absl::Status s = RenewLeases(); !s.ok()) return s;
  if (absl::Status s = TakeOver(); !s.ok()) return s;
  if (absl::Status s = ReadLeases(); !s.ok()) return s;
  if (absl::Status s = SyncDirectory(); !s.ok()) return s;
  if (!leads_audits_) {
    auto led = work_conn_->Run("SELECT pg_try_advisory_lock(7402)", "take the audit lock");
    if (!led.ok()) return led.status();
    leads_audits_ = (*led)->Bool(0, 0);
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_cleanup_ > std::chrono::seconds(30)) {
    last_cleanup_ = now;
    return Cleanup();
  }
  return absl::OkStatus();
}

absl::Status ReplicaLink::RenewLeases() {
  for (const RunProgress& run : runs_->LiveRuns()) {
    postgres::Params p;
    p.Text(run.run_id).Text(id_).Int(options_.lease.count());
    p.Int(static_cast<int64_t>(run.done)).Int(static_cast<int64_t>(run.pass));
    p.Int(static_cast<int64_t>(run.deviation)).Int(static_cast<int64_t>(run.inconclusive));
    auto renewed =
        work_conn_->Run(absl::StrCat("UPDATE rstmesh_leases SET expires = ", NowPlus(3),
                                     ", done = $4, pass = $5, deviation = $6, inconclusive = $7 "
                                     "WHERE run_id = $1 AND owner = $2 RETURNING cancel"),
                        p, "renew a lease");
    if (!renewed.ok()) return renewed.status();
    if ((*renewed)->rows() == 0) {
      // Not renewed in time (this replica was cut off): its new owner has it.
      Log(absl::StrCat("replica ", id_, ": lost the lease of ", run.run_id,
                       "; another replica owns it now"));
      runs_->Release(run.run_id);
      continue;
    }
    if ((*renewed)->Bool(0, 0) && run.state == RunState::kRunning) {
      absl::Status cancelled = runs_->CancelRun(run.run_id);
      if (!cancelled.ok() && !absl::IsFailedPrecondition(cancelled)) return cancelled;
    }
  }
  return absl::OkStatus();
}

absl::Status ReplicaLink::TakeOver() {
  postgres::Params p;
  p.Text(id_).Int(options_.lease.count());
  // Every running run whose lease ran out (or that never had one): one replica gets each.
  auto taken = work_conn_->Run(
      absl::StrCat("INSERT INTO rstmesh_leases (run_id, owner, expires) SELECT run_id, $1, ",
                   NowPlus(2),
                   " FROM runs WHERE state = 0 ON CONFLICT (run_id) DO UPDATE SET "
                   "owner = EXCLUDED.owner, expires = EXCLUDED.expires "
                   "WHERE rstmesh_leases.expires < now() RETURNING run_id"),
      p, "take over runs");
  if (!taken.ok()) return taken.status();
  for (int i = 0; i < (*taken)->rows(); ++i) {
    const std::string run_id = (*taken)->Bytes(i, 0);
    absl::Status adopted = runs_->Adopt(run_id);
    if (adopted.ok()) {
      Log(absl::StrCat("replica ", id_, ": owns ", run_id, " now (its lease had run out)"));
      absl::MutexLock lock(&mu_);
      wake_progress_ = wake_arrivals_ = true;
      continue;
    }
    Log(absl::StrCat("replica ", id_, ": cannot take over ", run_id, ": ", adopted.message()));
    postgres::Params r;
    r.Text(run_id).Text(id_);
    work_conn_
        ->Run("UPDATE rstmesh_leases SET expires = '-infinity' WHERE run_id = $1 AND owner = $2", r,
              "give a lease back")
        .IgnoreError();
  }
  return absl::OkStatus();
}

absl::Status ReplicaLink::ReadLeases() {
  auto result = work_conn_->Run(
      "SELECT l.run_id, l.owner, l.expires > now(), l.done, l.pass, l.deviation, "
      "l.inconclusive, r.total_tasks FROM rstmesh_leases l JOIN runs r ON r.run_id = l.run_id "
      "WHERE r.state = 0",
      "read the leases");
  if (!result.ok()) return result.status();
  const postgres::Result& r = **result;
  std::map<std::string, PublishedRun> published;
  for (int i = 0; i < r.rows(); ++i) {
    PublishedRun& run = published[r.Bytes(i, 0)];
    run.owner = r.Bytes(i, 1);
    run.held = r.Bool(i, 2);
    run.progress.run_id = r.Bytes(i, 0);
    run.progress.done = static_cast<uint64_t>(r.Int(i, 3));
    run.progress.pass = static_cast<uint64_t>(r.Int(i, 4));
    run.progress.deviation = static_cast<uint64_t>(r.Int(i, 5));
    run.progress.inconclusive = static_cast<uint64_t>(r.Int(i, 6));
    run.progress.total = static_cast<uint64_t>(r.Int(i, 7));
  }
  absl::MutexLock lock(&mu_);
  published_ = std::move(published);
  return absl::OkStatus();
}

absl::Status ReplicaLink::SyncDirectory() {
  postgres::Params p;
  p.Int(3 * options_.period.count() + 1000);
  auto result = work_conn_->Run(
      "SELECT a.agent_id, a.replica, a.info, a.connected AND COALESCE(r.heartbeat > now() - "
      "($1::float8 / 1000) * interval '1 second', false) FROM rstmesh_agents a "
      "LEFT JOIN rstmesh_replicas r ON r.replica = a.replica",
      p, "read the agent directory");
  if (!result.ok()) return result.status();
  const postgres::Result& r = **result;
  std::set<std::string> listed;
  std::vector<std::string> republish;
  for (int i = 0; i < r.rows(); ++i) {
    const std::string agent_id = r.Bytes(i, 0), replica = r.Bytes(i, 1);
    listed.insert(agent_id);
    const std::optional<std::string> where = registry_->ReplicaOf(agent_id);
    if (where && where->empty() && !r.Bool(i, 3)) {
      // Its stream is here, and the directory says it is nowhere: this replica's word was
      // lost behind an older one (another replica's clock ahead of ours). Said again.
      republish.push_back(agent_id);
    }
    if (replica == id_) continue;
    auto mirror = mirrored_.find(agent_id);
    if (!r.Bool(i, 3)) {
      // Its stream there ended, or that replica died: disconnected here too (lost after
      // the agent lease, unless it comes back somewhere).
      if (mirror != mirrored_.end()) {
        if (where && *where == mirror->second->replica()) {
          registry_->Unregister(agent_id, mirror->second.get());
        }
        mirrored_.erase(mirror);
      }
      continue;
    }
    if (where && where->empty()) continue;  // its stream here is newer than what we read
    v1::AgentInfo info;
    if (!info.ParseFromString(r.Bytes(i, 2))) continue;
    std::optional<v1::AgentInfo> known = registry_->Find(agent_id);
    if (mirror != mirrored_.end() && where && *where == replica && known &&
        known->incarnation() == info.incarnation()) {
      registry_->Heartbeat(agent_id);
      continue;
    }
    auto remote = std::make_shared<RemoteAgent>(this, replica, agent_id);
    mirrored_[agent_id] = remote;
    registry_->Register(info, std::move(remote));
  }
  for (const v1::AgentInfo& agent : registry_->Agents()) {
    if (!listed.count(agent.id()) && agent.connected()) republish.push_back(agent.id());
  }
  for (const std::string& agent_id : republish) OnRegistered(agent_id);
  return absl::OkStatus();
}

absl::Status ReplicaLink::DeliverMail() {
  postgres::Params p;
  p.Text(id_).Int(kPage);
  auto result = work_conn_->Run(
      "DELETE FROM rstmesh_mail WHERE seq IN (SELECT seq FROM rstmesh_mail WHERE replica = $1 "
      "ORDER BY seq LIMIT $2) RETURNING seq, agent_id, message",
      p, "take mail");
  if (!result.ok()) return result.status();
  const postgres::Result& r = **result;
  std::vector<int> order(r.rows());
  for (int i = 0; i < r.rows(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int a, int b) { return r.Int(a, 0) < r.Int(b, 0); });
  for (int i : order) {
    v1::ControllerMessage message;
    if (!message.ParseFromString(r.Bytes(i, 2))) continue;
    // An agent that moved on hears it from its new replica (its owner sends again on its
    // registration there).
    registry_->SendHere(r.Bytes(i, 1), std::move(message));
  }
  if (r.rows() == kPage) {
    absl::MutexLock lock(&mu_);
    wake_mail_ = true;
  }
  return absl::OkStatus();
}

absl::Status ReplicaLink::TakeArrivals() {
  postgres::Params p;
  p.Text(id_).Int(kPage);
  auto result = work_conn_->Run(
      "DELETE FROM rstmesh_arrivals WHERE seq IN (SELECT a.seq FROM rstmesh_arrivals a "
      "JOIN rstmesh_leases l ON l.run_id = a.run_id WHERE l.owner = $1 AND l.expires > now() "
      "ORDER BY a.seq LIMIT $2) RETURNING run_id, observation",
      p, "take arrivals");
  if (!result.ok()) return result.status();
  const postgres::Result& r = **result;
  std::vector<v1::Observation> observations(r.rows());
  for (int i = 0; i < r.rows(); ++i) {
    if (!observations[i].ParseFromString(r.Bytes(i, 1))) continue;
    observations[i].set_run_id(r.Bytes(i, 0));
  }
  if (!observations.empty()) runs_->ApplyStored(observations);
  // A full page: more are waiting. Until this replica has caught up, its runs' tasks do not
  // time out for what it has not read yet.
  const bool behind = r.rows() == kPage;
  runs_->SetArrivalsBehind(behind);
  if (behind) {
    absl::MutexLock lock(&mu_);
    wake_arrivals_ = true;
  }
  return absl::OkStatus();
}

absl::Status ReplicaLink::TakeProgress() {
  postgres::Params p;
  p.Text(id_);
  auto result = work_conn_->Run(
      "SELECT p.run_id, p.agent_id, p.started FROM rstmesh_progress p JOIN rstmesh_leases l "
      "ON l.run_id = p.run_id WHERE l.owner = $1 AND l.expires > now()",
      p, "read progress");
  if (!result.ok()) return result.status();
  const postgres::Result& r = **result;
  for (int i = 0; i < r.rows(); ++i) {
    runs_->TakeProgress(r.Bytes(i, 1), static_cast<uint32_t>(RunNumberOf(r.Bytes(i, 0))),
                        static_cast<uint64_t>(r.Int(i, 2)));
  }
  return absl::OkStatus();
}

absl::Status ReplicaLink::Cleanup() {
  for (const char* sql :
       {"DELETE FROM rstmesh_mail WHERE replica NOT IN (SELECT replica FROM rstmesh_replicas "
        "WHERE heartbeat > now() - interval '1 minute')",
        "DELETE FROM rstmesh_replicas WHERE heartbeat < now() - interval '1 hour'",
        "DELETE FROM rstmesh_arrivals WHERE run_id IN (SELECT run_id FROM runs WHERE state <> 0)",
        "DELETE FROM rstmesh_progress WHERE run_id NOT IN (SELECT run_id FROM runs "
        "WHERE state = 0)"}) {
    if (absl::Status s = work_conn_->Run(sql, "clean up").status(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace rstmesh
