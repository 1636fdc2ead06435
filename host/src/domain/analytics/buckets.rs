//! Time buckets: the grains rollups are kept at, how a range of time is read from them,
//! and the caller's local days, weeks and months.
//!
//! Rollups are kept at three UTC grains: a quarter of an hour, an hour and a day. Every
//! time zone's offset is a whole number of quarter hours (India +05:30, Nepal +05:45,
//! Chatham +12:45 included), so a local midnight always falls on a quarter-hour boundary
//! and any local day, week or month is a whole number of quarter hours. [`cover`] splits
//! such a range into the fewest aligned runs: whole UTC days in the middle, whole hours at
//! the edges, quarter hours only where an edge is not on the hour. A year read in New York
//! days is 365 rows of hours per series instead of 35,040 quarter hours.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// A quarter of an hour, in ms.
pub const QUARTER_MS: i64 = 15 * 60 * 1000;
/// An hour, in ms.
pub const HOUR_MS: i64 = 60 * 60 * 1000;
/// A day, in ms.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// A rollup grain. Ordered as their stored codes sort (`d` < `h` < `q`), so rows sorted
/// here and rows sorted by the database come in one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grain {
    /// A UTC day.
    Day,
    /// An hour.
    Hour,
    /// 15 minutes.
    Quarter,
}

/// Every grain, finest first: each fact is added to one bucket of each.
pub const GRAINS: [Grain; 3] = [Grain::Quarter, Grain::Hour, Grain::Day];

impl Grain {
    /// Its length in ms.
    pub fn ms(self) -> i64 {
        match self {
            Self::Quarter => QUARTER_MS,
            Self::Hour => HOUR_MS,
            Self::Day => DAY_MS,
        }
    }

    /// Its stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Quarter => "q",
            Self::Hour => "h",
            Self::Day => "d",
        }
    }

    /// The start of the bucket holding `ms`.
    pub fn floor(self, ms: i64) -> i64 {
        ms.div_euclid(self.ms()) * self.ms()
    }
}

/// A run of whole buckets of one grain: the rows with that grain and
/// `start_ms <= bucket_ms < end_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The grain.
    pub grain: Grain,
    /// First bucket's start (ms).
    pub start_ms: i64,
    /// End of the last bucket (ms, exclusive).
    pub end_ms: i64,
}

fn ceil(ms: i64, unit: i64) -> i64 {
    ms.div_euclid(unit) * unit + if ms.rem_euclid(unit) == 0 { 0 } else { unit }
}

/// Split `[from_ms, to_ms)` into aligned runs of buckets, coarsest where it can. Both
/// ends must be on quarter hours (what [`local_buckets`] gives); an unaligned end is
/// widened to the quarter hour holding it.
pub fn cover(from_ms: i64, to_ms: i64) -> Vec<Span> {
    let from = Grain::Quarter.floor(from_ms);
    let to = ceil(to_ms, QUARTER_MS);
    let mut out = Vec::new();
    if from >= to {
        return out;
    }
    let (d0, d1) = (ceil(from, DAY_MS), Grain::Day.floor(to));
    if d0 < d1 {
        edge(&mut out, from, d0);
        out.push(Span {
            grain: Grain::Day,
            start_ms: d0,
            end_ms: d1,
        });
        edge(&mut out, d1, to);
    } else {
        edge(&mut out, from, to);
    }
    out
}

/// Cover a range shorter than the days around it with hours and quarter hours.
fn edge(out: &mut Vec<Span>, from: i64, to: i64) {
    if from >= to {
        return;
    }
    let mut push = |grain, start_ms, end_ms| {
        if start_ms < end_ms {
            out.push(Span {
                grain,
                start_ms,
                end_ms,
            });
        }
    };
    let (h0, h1) = (ceil(from, HOUR_MS), Grain::Hour.floor(to));
    if h0 < h1 {
        push(Grain::Quarter, from, h0);
        push(Grain::Hour, h0, h1);
        push(Grain::Quarter, h1, to);
    } else {
        push(Grain::Quarter, from, to);
    }
}

/// How a series is bucketed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// Local calendar days.
    Day,
    /// ISO weeks (Monday to Sunday), local.
    Week,
    /// Local calendar months.
    Month,
}

impl Interval {
    /// Parse `day`, `week` or `month`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }
}

/// One bucket of a series: the local date it starts on and its instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalBucket {
    /// The local date it starts on (clipped to the range's first day).
    pub start_date: NaiveDate,
    /// Start (ms, UTC).
    pub start_ms: i64,
    /// End (ms, exclusive).
    pub end_ms: i64,
}

/// The instant local midnight of `date` is in `tz`. On a day whose midnight does not
/// exist (a DST change at 00:00, as in some zones), the first instant of that date.
pub fn local_midnight(tz: Tz, date: NaiveDate) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) => t.timestamp_millis(),
        chrono::LocalResult::Ambiguous(earliest, _) => earliest.timestamp_millis(),
        chrono::LocalResult::None => {
            // The clock jumped over midnight: the day starts at the first valid quarter
            // hour after it.
            (1..=8)
                .find_map(|q| {
                    tz.from_local_datetime(&(midnight + Duration::minutes(15 * q)))
                        .earliest()
                })
                .map_or_else(
                    || Utc.from_utc_datetime(&midnight).timestamp_millis(),
                    |t| t.timestamp_millis(),
                )
        }
    }
}

/// The local date of instant `ms` in `tz`.
pub fn local_date(tz: Tz, ms: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// The buckets of `[first, last]` (local dates, both included) by `interval` in `tz`:
/// days, ISO weeks or months, the first and last clipped to the range.
pub fn local_buckets(
    tz: Tz,
    first: NaiveDate,
    last: NaiveDate,
    interval: Interval,
) -> Vec<LocalBucket> {
    let mut out = Vec::new();
    let Some(end) = last.succ_opt() else {
        return out;
    };
    let mut start = first;
    while start < end {
        let next = match interval {
            Interval::Day => start.succ_opt(),
            Interval::Week => {
                let monday =
                    start - Duration::days(i64::from(start.weekday().num_days_from_monday()));
                Some(monday + Duration::days(7))
            }
            Interval::Month => first_of_next_month(start),
        }
        .unwrap_or(end)
        .min(end);
        out.push(LocalBucket {
            start_date: start,
            start_ms: local_midnight(tz, start),
            end_ms: local_midnight(tz, next),
        });
        start = next;
    }
    out
}

fn first_of_next_month(d: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
}

/// The start of the UTC calendar month holding `ms`.
pub fn month_start(ms: i64) -> i64 {
    let d = DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .date_naive();
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1)
        .and_then(|f| f.and_hms_opt(0, 0, 0))
        .map_or(0, |t| t.and_utc().timestamp_millis())
}

/// `ms` as `YYYY-MM` (UTC).
pub fn month_label(ms: i64) -> String {
    let d = DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .date_naive();
    format!("{:04}-{:02}", d.year(), d.month())
}

/// Whole months from the month holding `from_ms` to the one holding `to_ms`.
pub fn months_between(from_ms: i64, to_ms: i64) -> i64 {
    let a = DateTime::<Utc>::from_timestamp_millis(from_ms).unwrap_or_default();
    let b = DateTime::<Utc>::from_timestamp_millis(to_ms).unwrap_or_default();
    i64::from(b.year() - a.year()) * 12 + i64::from(b.month()) - i64::from(a.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(spans: &[Span]) -> i64 {
        spans.iter().map(|s| s.end_ms - s.start_ms).sum()
    }

    #[test]
    fn cover_is_exact_and_aligned() {
        let day = 20_000 * DAY_MS;
        for (from, to) in [
            (day, day + 3 * DAY_MS),
            (day + 5 * HOUR_MS, day + 2 * DAY_MS + 5 * HOUR_MS),
            (
                day + 18 * HOUR_MS + 30 * 60_000,
                day + DAY_MS + 18 * HOUR_MS + 30 * 60_000,
            ),
            (day + 15 * 60_000, day + 45 * 60_000),
            (day, day),
        ] {
            let spans = cover(from, to);
            assert_eq!(total(&spans), to - from, "{from}..{to}");
            let mut at = from;
            for s in &spans {
                assert_eq!(s.start_ms, at, "contiguous");
                assert_eq!(s.start_ms % s.grain.ms(), 0, "aligned start");
                assert_eq!(s.end_ms % s.grain.ms(), 0, "aligned end");
                at = s.end_ms;
            }
        }
        // New York's day: 19 hours of one UTC day and 5 of the next, as hours.
        let ny = cover(day + 5 * HOUR_MS, day + DAY_MS + 5 * HOUR_MS);
        assert_eq!(ny.len(), 1);
        assert_eq!(ny[0].grain, Grain::Hour);
        // Kolkata's: quarter hours only at the two half-hour edges.
        let k = cover(
            day + 18 * HOUR_MS + 30 * 60_000,
            day + DAY_MS + 18 * HOUR_MS + 30 * 60_000,
        );
        assert_eq!(
            k.iter().map(|s| s.grain).collect::<Vec<_>>(),
            vec![Grain::Quarter, Grain::Hour, Grain::Quarter]
        );
        // Whole UTC days are one run of days.
        assert_eq!(
            cover(day, day + 3 * DAY_MS),
            vec![Span {
                grain: Grain::Day,
                start_ms: day,
                end_ms: day + 3 * DAY_MS
            }]
        );
    }

    #[test]
    fn local_days_follow_the_zone_and_its_dst() {
        let ny: Tz = "America/New_York".parse().expect("zone");
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        // 2026-03-08 is the spring-forward day in New York: 23 hours long.
        let days = local_buckets(ny, d(2026, 3, 7), d(2026, 3, 9), Interval::Day);
        let hours: Vec<i64> = days
            .iter()
            .map(|b| (b.end_ms - b.start_ms) / HOUR_MS)
            .collect();
        assert_eq!(hours, vec![24, 23, 24]);
        assert_eq!(
            days[0].start_ms,
            Utc.with_ymd_and_hms(2026, 3, 7, 5, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        let weeks = local_buckets(ny, d(2026, 3, 4), d(2026, 3, 20), Interval::Week);
        assert_eq!(
            weeks.iter().map(|b| b.start_date).collect::<Vec<_>>(),
            vec![d(2026, 3, 4), d(2026, 3, 9), d(2026, 3, 16)],
            "clipped first week, then Mondays"
        );
        let months = local_buckets(ny, d(2026, 1, 15), d(2026, 3, 2), Interval::Month);
        assert_eq!(months.len(), 3);
        assert_eq!(months[2].end_ms, local_midnight(ny, d(2026, 3, 3)));
        assert_eq!(local_date(ny, days[0].start_ms), d(2026, 3, 7));
    }

    #[test]
    fn months() {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 17, 10, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(month_label(month_start(t)), "2026-03");
        assert_eq!(
            month_start(t),
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        let later = Utc
            .with_ymd_and_hms(2027, 1, 2, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(months_between(t, later), 10);
    }
}
