#include "controller/cron.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace rstmesh {
namespace {

struct Field {
  const char* name;
  int min;
  int max;
  std::vector<std::string> names;  // names[i] stands for min + i
};

const Field kMinute{"minute", 0, 59, {}};
const Field kHour{"hour", 0, 23, {}};
const Field kDay{"day of month", 1, 31, {}};
const Field kMonth{
    "month",
    1,
    12,
    {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}};
// 7 is Sunday too, as in cron.
const Field kWeekday{"day of week", 0, 7, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}};

absl::StatusOr<int> Value(const Field& f, absl::string_view text) {
  for (size_t i = 0; i < f.names.size(); ++i) {
    if (absl::AsciiStrToLower(text) == f.names[i]) return f.min + static_cast<int>(i);
  }
  int v = 0;
  if (!absl::SimpleAtoi(text, &v)) {
    return absl::InvalidArgumentError(absl::StrCat(f.name, ": '", text, "' is not a number"));
  }
  if (v < f.min || v > f.max) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name, ": ", v, " is out of range ", f.min, "-", f.max));
  }
  return v;
}

// The values `text` selects, as bits by value; `*wildcard` when it is a bare `*`.
absl::StatusOr<std::vector<bool>> Parse(const Field& f, absl::string_view text, bool* wildcard) {
  std::vector<bool> bits(f.max + 1, false);
  *wildcard = text == "*";
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int step = 1;
    absl::string_view range = part;
    if (size_t slash = part.find('/'); slash != absl::string_view::npos) {
      range = part.substr(0, slash);
      if (!absl::SimpleAtoi(part.substr(slash + 1), &step) || step < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.name, ": step '", part.substr(slash + 1), "' is not a positive number"));
      }
    }
    int lo = f.min, hi = f.max;
    if (range != "*") {
      std::vector<absl::string_view> ends = absl::StrSplit(range, '-');
      if (ends.size() > 2 || ends[0].empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.name, ": '", part, "' is not a value, range or step"));
      }
      absl::StatusOr<int> a = Value(f, ends[0]);
      if (!a.ok()) return a.status();
      lo = hi = *a;
      if (ends.size() == 2) {
        absl::StatusOr<int> b = Value(f, ends[1]);
        if (!b.ok()) return b.status();
        hi = *b;
        if (hi < lo) {
          return absl::InvalidArgumentError(
              absl::StrCat(f.name, ": range '", range, "' runs backwards"));
        }
      } else if (part.find('/') != absl::string_view::npos) {
        hi = f.max;  // "5/15": from 5 on
      }
    }
    for (int v = lo; v <= hi; v += step) bits[v] = true;
  }
  return bits;
}

}  // namespace

absl::StatusOr<CronExpression> CronExpression::Parse(const std::string& text) {
  std::vector<std::string> fields = absl::StrSplit(text, ' ', absl::SkipWhitespace());
  if (fields.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' has ", fields.size(),
        " fields; a cron expression has 5: minute hour day-of-month month day-of-week (UTC)"));
  }
  CronExpression cron;
  bool wildcard = false;
  const Field* specs[] = {&kMinute, &kHour, &kDay, &kMonth, &kWeekday};
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<std::vector<bool>> bits = rstmesh::Parse(*specs[i], fields[i], &wildcard);
    if (!bits.ok()) return bits.status();
    for (size_t v = 0; v < bits->size(); ++v) {
      if (!(*bits)[v]) continue;
      switch (i) {
        case 0:
          cron.minutes_.set(v);
          break;
        case 1:
          cron.hours_.set(v);
          break;
        case 2:
          cron.days_.set(v);
          break;
        case 3:
          cron.months_.set(v);
          break;
        case 4:
          cron.weekdays_.set(v % 7);
          break;
      }
    }
    if (i == 2) cron.any_day_ = wildcard;
    if (i == 4) cron.any_weekday_ = wildcard;
  }
  return cron;
}

int64_t CronExpression::Next(int64_t after_unix_s) const {
  const absl::TimeZone utc = absl::UTCTimeZone();
  absl::CivilMinute t =
      absl::ToCivilMinute(absl::FromUnixSeconds(after_unix_s), utc) + 1;  // strictly after
  const absl::CivilMinute limit = t + 5 * 366 * 24 * 60;
  while (t < limit) {
    if (!months_[t.month()]) {
      t = absl::CivilMinute(absl::CivilMonth(t) + 1);
      continue;
    }
    const bool day = days_[t.day()];
    // absl counts Monday as 0, cron Sunday.
    const bool weekday = weekdays_[(static_cast<int>(absl::GetWeekday(absl::CivilDay(t))) + 1) % 7];
    const bool day_ok = any_day_ && any_weekday_ ? true
                        : any_day_               ? weekday
                        : any_weekday_           ? day
                                                 : (day || weekday);
    if (!day_ok) {
      t = absl::CivilMinute(absl::CivilDay(t) + 1);
      continue;
    }
    if (!hours_[t.hour()]) {
      t = absl::CivilMinute(absl::CivilHour(t) + 1);
      continue;
    }
    if (!minutes_[t.minute()]) {
      t += 1;
      continue;
    }
    return absl::ToUnixSeconds(absl::FromCivil(t, utc));
  }
  return -1;
}

}  // namespace rstmesh
