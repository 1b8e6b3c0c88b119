#include "controller/store.h"

namespace rstmesh {

ObservationRow ObservationRow::Of(const v1::Observation& obs) { return Of(obs.run_id(), obs); }

ObservationRow ObservationRow::Of(std::string run_id, const v1::Observation& obs) {
  ObservationRow row;
  row.run_id = std::move(run_id);
  row.task_id = obs.task_id();
  row.role = obs.role();
  obs.SerializeToString(&row.bytes);
  return row;
}

absl::StatusOr<int> Store::InsertObservations(const std::vector<v1::Observation>& observations) {
  std::vector<ObservationRow> rows;
  rows.reserve(observations.size());
  for (const v1::Observation& obs : observations) rows.push_back(ObservationRow::Of(obs));
  return InsertRows(rows);
}

absl::Status Store::ForEachObservation(const std::string& run_id,
                                       const std::function<void(v1::Observation&&)>& visit) {
  ObservationCursor after;
  while (true) {
    absl::StatusOr<std::vector<v1::Observation>> page =
        GetObservationPage(run_id, after, kObservationPage);
    if (!page.ok()) return page.status();
    if (page->empty()) return absl::OkStatus();
    after.After(page->back());
    const bool last = page->size() < kObservationPage;
    for (v1::Observation& obs : *page) visit(std::move(obs));
    if (last) return absl::OkStatus();
  }
}

absl::StatusOr<std::vector<v1::Observation>> Store::GetObservations(const std::string& run_id) {
  std::vector<v1::Observation> out;
  absl::Status walked =
      ForEachObservation(run_id, [&](v1::Observation&& obs) { out.push_back(std::move(obs)); });
  if (!walked.ok()) return walked;
  return out;
}

}  // namespace rstmesh
