//! Business time: SLA targets count only the hours a support team works,
//! in its time zone, skipping holidays. Pure functions over a calendar.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Days of the week a calendar may name, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// How far ahead a due time is searched: a calendar with almost no working
/// time still ends the search.
const MAX_DAYS: i64 = 3_660;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    #[error("{0:?} is not an IANA time zone such as Europe/Berlin")]
    TimeZone(String),
    #[error("working hours {0:?} are not HH:MM-HH:MM with the start before the end")]
    Hours(String),
    #[error("working hours on one day overlap")]
    Overlap,
    #[error("the calendar has no working hours at all")]
    Empty,
}

/// When a team works: a time zone, working intervals per weekday, holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    tz: Tz,
    week: [Vec<(NaiveTime, NaiveTime)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

fn parse_interval(text: &str) -> Result<(NaiveTime, NaiveTime), CalendarError> {
    let bad = || CalendarError::Hours(text.chars().take(40).collect());
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").map_err(|_| bad())?;
    // "24:00" ends a day.
    let end = if b.trim() == "24:00" {
        NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).ok_or_else(bad)?
    } else {
        NaiveTime::parse_from_str(b.trim(), "%H:%M").map_err(|_| bad())?
    };
    if start < end {
        Ok((start, end))
    } else {
        Err(bad())
    }
}

impl BusinessCalendar {
    /// `week[d]` lists intervals like `"09:00-12:00"` for day `d` (Monday
    /// first).
    pub fn new(
        time_zone: &str,
        week: &[Vec<String>; 7],
        holidays: &[NaiveDate],
    ) -> Result<Self, CalendarError> {
        let tz: Tz = time_zone
            .parse()
            .map_err(|_| CalendarError::TimeZone(time_zone.chars().take(60).collect()))?;
        let mut parsed: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for (day, intervals) in week.iter().enumerate() {
            let mut list = intervals
                .iter()
                .map(|i| parse_interval(i))
                .collect::<Result<Vec<_>, _>>()?;
            list.sort();
            if list.windows(2).any(|w| w[0].1 > w[1].0) {
                return Err(CalendarError::Overlap);
            }
            parsed[day] = list;
        }
        if parsed.iter().all(Vec::is_empty) {
            return Err(CalendarError::Empty);
        }
        Ok(BusinessCalendar {
            tz,
            week: parsed,
            holidays: holidays.iter().copied().collect(),
        })
    }

    /// Monday to Friday, 09:00 to 17:00, in `time_zone`, no holidays.
    pub fn office_hours(time_zone: &str) -> Result<Self, CalendarError> {
        let day = vec!["09:00-17:00".to_owned()];
        let none = Vec::new();
        Self::new(
            time_zone,
            &[
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                none.clone(),
                none,
            ],
            &[],
        )
    }

    /// The working intervals of one local date, in UTC.
    fn intervals(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let day = date.weekday().num_days_from_monday() as usize;
        self.week[day]
            .iter()
            .filter_map(|(s, e)| {
                // A time skipped by a DST change starts at the next valid instant.
                let start = self
                    .tz
                    .from_local_datetime(&date.and_time(*s))
                    .earliest()?
                    .with_timezone(&Utc);
                let end = self
                    .tz
                    .from_local_datetime(&date.and_time(*e))
                    .latest()?
                    .with_timezone(&Utc);
                (start < end).then_some((start, end))
            })
            .collect()
    }

    /// The instant `minutes` of working time after `start`.
    pub fn add_business_minutes(&self, start: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        let mut remaining = Duration::minutes(minutes.max(0));
        let mut date = start.with_timezone(&self.tz).date_naive();
        for _ in 0..MAX_DAYS {
            for (s, e) in self.intervals(date) {
                let from = s.max(start);
                if from >= e {
                    continue;
                }
                let available = e - from;
                if remaining <= available {
                    return from + remaining;
                }
                remaining -= available;
            }
            date = date.succ_opt().unwrap_or(date);
        }
        start + Duration::days(MAX_DAYS)
    }

    /// Working minutes between two instants (0 when `to` is not after `from`).
    pub fn business_minutes_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = Duration::zero();
        let mut date = from.with_timezone(&self.tz).date_naive();
        let last = to.with_timezone(&self.tz).date_naive();
        while date <= last {
            for (s, e) in self.intervals(date) {
                let (a, b) = (s.max(from), e.min(to));
                if a < b {
                    total += b - a;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total.num_minutes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn six_business_hours_from_friday_afternoon_end_on_monday() {
        let cal = BusinessCalendar::office_hours("UTC").expect("calendar");
        // Friday 2026-11-20 15:00: 2 hours on Friday, 4 on Monday.
        assert_eq!(
            cal.add_business_minutes(at("2026-11-20T15:00:00Z"), 360),
            at("2026-11-23T13:00:00Z")
        );
        // Saturday counts from Monday's opening.
        assert_eq!(
            cal.add_business_minutes(at("2026-11-21T10:00:00Z"), 60),
            at("2026-11-23T10:00:00Z")
        );
        assert_eq!(
            cal.business_minutes_between(at("2026-11-20T15:00:00Z"), at("2026-11-23T13:00:00Z")),
            360
        );
    }

    #[test]
    fn holidays_and_time_zones_are_respected() {
        let day = vec!["09:00-17:00".to_owned()];
        let week = [
            day.clone(),
            day.clone(),
            day.clone(),
            day.clone(),
            day,
            vec![],
            vec![],
        ];
        let christmas = NaiveDate::from_ymd_opt(2026, 12, 25).expect("date");
        let cal = BusinessCalendar::new("Europe/Berlin", &week, &[christmas]).expect("calendar");
        // Thursday 24 Dec 16:00 Berlin (15:00 UTC): 1 hour left that day;
        // Friday 25 is a holiday, the weekend is off: Monday 28, 09:00 + 5 h.
        assert_eq!(
            cal.add_business_minutes(at("2026-12-24T15:00:00Z"), 360),
            at("2026-12-28T13:00:00Z")
        );
    }

    #[test]
    fn daylight_saving_changes_keep_local_hours() {
        let cal = BusinessCalendar::office_hours("Europe/Berlin").expect("calendar");
        // Friday 27 Mar 2026 16:00 CET (15:00 UTC); clocks go forward on
        // Sunday; Monday opens 09:00 CEST = 07:00 UTC.
        assert_eq!(
            cal.add_business_minutes(at("2026-03-27T15:00:00Z"), 120),
            at("2026-03-30T08:00:00Z")
        );
    }

    #[test]
    fn bad_calendars_are_refused() {
        assert!(matches!(
            BusinessCalendar::office_hours("Mars/Olympus"),
            Err(CalendarError::TimeZone(_))
        ));
        let overlap = [
            vec!["09:00-12:00".to_owned(), "11:00-13:00".to_owned()],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        ];
        assert_eq!(
            BusinessCalendar::new("UTC", &overlap, &[]),
            Err(CalendarError::Overlap)
        );
        let empty: [Vec<String>; 7] = Default::default();
        assert_eq!(
            BusinessCalendar::new("UTC", &empty, &[]),
            Err(CalendarError::Empty)
        );
        let backwards = [
            vec!["17:00-09:00".to_owned()],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        ];
        assert!(matches!(
            BusinessCalendar::new("UTC", &backwards, &[]),
            Err(CalendarError::Hours(_))
        ));
    }
}
