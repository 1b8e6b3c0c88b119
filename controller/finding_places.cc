#include "controller/finding_places.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/natural_order.h"

namespace rstmesh {
namespace {

struct Candidate {
  v1::PlaceKind kind = v1::PLACE_UNSPECIFIED;
  uint32_t a = 0;      // agent or label value index (source side)
  uint32_t b = 0;      // agent or label value index (target side)
  uint32_t label = 0;  // label key index
  bool operator==(const Candidate&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Candidate& c) {
    return H::combine(std::move(h), c.kind, c.a, c.b, c.label);
  }
};

// Among places that cover as many paths, the smaller element first.
int Rank(v1::PlaceKind kind) {
  switch (kind) {
    case v1::PLACE_PATH:
      return 0;
    case v1::PLACE_HOST_OUTBOUND:
    case v1::PLACE_HOST_INBOUND:
      return 1;
    case v1::PLACE_HOST:
      return 2;
    case v1::PLACE_LABEL_PAIR:
      return 3;
    case v1::PLACE_LABEL_BOTH:
      return 4;
    case v1::PLACE_LABEL_OUTBOUND:
    case v1::PLACE_LABEL_INBOUND:
    case v1::PLACE_LABEL_FROM:
    case v1::PLACE_LABEL_TO:
      return 5;
    default:
      return 6;
  }
}

// The agents' labels as indices: keys, and per key its values.
class LabelIndex {
 public:
  explicit LabelIndex(const FleetAgents& agents) {
    for (const auto& labels : agents.labels) {
      for (const auto& [key, value] : labels) {
        if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) keys_.push_back(key);
      }
    }
    std::sort(keys_.begin(), keys_.end());
    values_.resize(keys_.size());
    of_.assign(agents.labels.size(), std::vector<int>(keys_.size(), -1));
    for (size_t agent = 0; agent < agents.labels.size(); ++agent) {
      for (size_t k = 0; k < keys_.size(); ++k) {
        auto it = agents.labels[agent].find(keys_[k]);
        if (it == agents.labels[agent].end()) continue;
        auto& values = values_[k];
        auto v = std::find(values.begin(), values.end(), it->second);
        if (v == values.end()) v = values.insert(values.end(), it->second);
        of_[agent][k] = static_cast<int>(v - values.begin());
      }
    }
  }
  size_t keys() const { return keys_.size(); }
  const std::string& key(uint32_t k) const { return keys_[k]; }
  const std::string& value(uint32_t k, uint32_t v) const { return values_[k][v]; }
  int Of(uint32_t agent, size_t k) const { return agent < of_.size() ? of_[agent][k] : -1; }

 private:
  std::vector<std::string> keys_;
  std::vector<std::vector<std::string>> values_;
  std::vector<std::vector<int>> of_;  // agent -> key -> value index, -1: none
};

template <typename F>
void ForEachCandidate(PathKey p, const LabelIndex& labels, F&& f) {
  f(Candidate{v1::PLACE_PATH, p.source, p.target, 0});
  f(Candidate{v1::PLACE_HOST_OUTBOUND, p.source, 0, 0});
  f(Candidate{v1::PLACE_HOST_INBOUND, 0, p.target, 0});
  f(Candidate{v1::PLACE_HOST, p.source, 0, 0});
  if (p.target != p.source) f(Candidate{v1::PLACE_HOST, p.target, 0, 0});
  for (size_t k = 0; k < labels.keys(); ++k) {
    const int vs = labels.Of(p.source, k), vt = labels.Of(p.target, k);
    if (vs < 0 || vt < 0) continue;
    const uint32_t s = static_cast<uint32_t>(vs), t = static_cast<uint32_t>(vt);
    const uint32_t key = static_cast<uint32_t>(k);
    f(Candidate{v1::PLACE_LABEL_PAIR, s, t, key});
    f(Candidate{v1::PLACE_LABEL_FROM, s, 0, key});
    f(Candidate{v1::PLACE_LABEL_TO, 0, t, key});
    if (s == t) continue;
    f(Candidate{v1::PLACE_LABEL_BOTH, std::min(s, t), std::max(s, t), key});
    f(Candidate{v1::PLACE_LABEL_OUTBOUND, s, 0, key});
    f(Candidate{v1::PLACE_LABEL_INBOUND, 0, t, key});
  }
  f(Candidate{v1::PLACE_FLEET, 0, 0, 0});
}

std::string HostText(const std::string& h, v1::PlaceKind kind, Toward toward) {
  if (kind == v1::PLACE_HOST) return absl::StrCat(h, ": every connection, both ways");
  const bool opens = kind == v1::PLACE_HOST_OUTBOUND;
  switch (toward) {
    case Toward::kResponder:
      return opens ? absl::StrCat(h, ": its outbound traffic (the connections ", h, " opens)")
                   : absl::StrCat(h, ": its inbound traffic (connections to ", h, ")");
    case Toward::kInitiator:
      return opens ? absl::StrCat(h, ": its inbound traffic (answers to the connections ", h,
                                  " opens)")
                   : absl::StrCat(h, ": its outbound traffic (answers from ", h, ")");
    case Toward::kEither:
      break;
  }
  return opens ? absl::StrCat(h, ": the connections it opens")
               : absl::StrCat(h, ": the connections to it");
}

v1::Place Describe(const Candidate& c, const FleetAgents& agents, const LabelIndex& labels,
                   Toward toward) {
  v1::Place place;
  place.set_kind(c.kind);
  switch (c.kind) {
    case v1::PLACE_PATH:
      place.set_source(agents.ids[c.a]);
      place.set_target(agents.ids[c.b]);
      place.set_text(absl::StrCat(place.source(), " -> ", place.target()));
      break;
    case v1::PLACE_HOST_OUTBOUND:
    case v1::PLACE_HOST:
      place.set_source(agents.ids[c.a]);
      place.set_text(HostText(place.source(), c.kind, toward));
      break;
    case v1::PLACE_HOST_INBOUND:
      place.set_target(agents.ids[c.b]);
      place.set_text(HostText(place.target(), c.kind, toward));
      break;
    case v1::PLACE_LABEL_PAIR:
    case v1::PLACE_LABEL_BOTH:
      place.set_label(labels.key(c.label));
      place.set_source(labels.value(c.label, c.a));
      place.set_target(labels.value(c.label, c.b));
      place.set_text(absl::StrCat(place.label(), " ", place.source(),
                                  c.kind == v1::PLACE_LABEL_PAIR ? " -> " : " <-> ",
                                  place.target()));
      break;
    case v1::PLACE_LABEL_FROM:
      place.set_label(labels.key(c.label));
      place.set_source(labels.value(c.label, c.a));
      place.set_text(absl::StrCat(place.label(), " ", place.source(), " -> anywhere"));
      break;
    case v1::PLACE_LABEL_TO:
      place.set_label(labels.key(c.label));
      place.set_target(labels.value(c.label, c.b));
      place.set_text(absl::StrCat("anywhere -> ", place.label(), " ", place.target()));
      break;
    case v1::PLACE_LABEL_OUTBOUND:
      place.set_label(labels.key(c.label));
      place.set_source(labels.value(c.label, c.a));
      place.set_text(
          absl::StrCat(place.label(), " ", place.source(), " -> every other ", place.label()));
      break;
    case v1::PLACE_LABEL_INBOUND:
      place.set_label(labels.key(c.label));
      place.set_target(labels.value(c.label, c.b));
      place.set_text(
          absl::StrCat("every other ", place.label(), " -> ", place.label(), " ", place.target()));
      break;
    default:
      place.set_text("the whole fleet (every tested path)");
  }
  return place;
}

}  // namespace

std::vector<v1::Place> PlacesOf(const std::vector<PathKey>& showing,
                                const absl::flat_hash_set<uint64_t>& tested,
                                const FleetAgents& agents, Toward toward) {
  std::vector<v1::Place> places;
  if (showing.size() == tested.size() && showing.size() > 1) {
    // Every tested path: the fleet, however few hosts it has.
    places.push_back(Describe(Candidate{v1::PLACE_FLEET}, agents, LabelIndex(agents), toward));
    places.back().set_paths(static_cast<uint32_t>(showing.size()));
    return places;
  }
  const LabelIndex labels(agents);
  // A place is eligible when every tested path it holds shows the finding.
  absl::flat_hash_map<Candidate, uint32_t> in_showing;
  for (PathKey p : showing)
    ForEachCandidate(p, labels, [&](const Candidate& c) { ++in_showing[c]; });
  absl::flat_hash_map<Candidate, uint32_t> in_tested;
  for (uint64_t raw : tested) {
    ForEachCandidate(PathKey::FromRaw(raw), labels, [&](const Candidate& c) {
      if (in_showing.contains(c)) ++in_tested[c];
    });
  }
  auto eligible = [&](const Candidate& c) {
    auto s = in_showing.find(c);
    auto t = in_tested.find(c);
    return s != in_showing.end() && t != in_tested.end() && s->second == t->second;
  };
  std::vector<PathKey> open = showing;
  while (!open.empty() && places.size() + 1 < kMaxPlaces) {
    absl::flat_hash_map<Candidate, uint32_t> covers;
    for (PathKey p : open) {
      ForEachCandidate(p, labels, [&](const Candidate& c) {
        if (eligible(c)) ++covers[c];
      });
    }
    const Candidate* best = nullptr;
    uint32_t best_n = 0;
    for (const auto& [c, n] : covers) {
      if (best == nullptr || n > best_n ||
          (n == best_n &&
           std::make_tuple(Rank(c.kind), c.kind, c.label, c.a, c.b) <
               std::make_tuple(Rank(best->kind), best->kind, best->label, best->a, best->b))) {
        best = &c;
        best_n = n;
      }
    }
    const Candidate chosen = *best;
    v1::Place place = Describe(chosen, agents, labels, toward);
    place.set_paths(best_n);
    places.push_back(std::move(place));
    std::erase_if(open, [&](PathKey p) {
      bool in = false;
      ForEachCandidate(p, labels, [&](const Candidate& c) { in = in || c == chosen; });
      return in;
    });
  }
  // Largest first; places that hold as many paths in natural order ("agent-4" before
  // "agent-37").
  std::stable_sort(places.begin(), places.end(), [](const v1::Place& a, const v1::Place& b) {
    if (a.paths() != b.paths()) return a.paths() > b.paths();
    return NaturalLess()(a.text(), b.text());
  });
  if (!open.empty()) {
    std::vector<std::string> named;
    for (size_t i = 0; i < open.size() && i < 5; ++i) {
      named.push_back(absl::StrCat(agents.ids[open[i].source], " -> ", agents.ids[open[i].target]));
    }
    v1::Place rest;
    rest.set_kind(v1::PLACE_PATH);
    rest.set_paths(static_cast<uint32_t>(open.size()));
    rest.set_text(absl::StrCat(open.size(), " more paths: ", absl::StrJoin(named, ", "),
                               open.size() > named.size() ? ", ..." : ""));
    places.push_back(std::move(rest));
  }
  return places;
}

}  // namespace rstmesh
