//! Calendar dates as stored in records: `YYYY-MM-DD` strings in the document.

use std::fmt;
use std::str::FromStr;

use time::macros::format_description;

/// A calendar date (no time of day, no zone), e.g. a birth or visit date.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(time::Date);

const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

impl Date {
    /// 1 January 1900, a fixed day to count days from.
    pub const EPOCH: Date = Date(time::macros::date!(1900 - 01 - 01));

    /// Builds a date from its parts; `None` if there is no such day.
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Option<Self> {
        let month = time::Month::try_from(month).ok()?;
        time::Date::from_calendar_date(year, month, day)
            .ok()
            .map(Self)
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Self, String> {
        time::Date::parse(s, FORMAT)
            .map(Self)
            .map_err(|_| format!("{s:?} is not a real date written YYYY-MM-DD"))
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.0.year()
    }

    /// The month, 1–12.
    pub fn month(self) -> u8 {
        self.0.month() as u8
    }

    /// The day of the month.
    pub fn day(self) -> u8 {
        self.0.day()
    }

    /// Whole months from `self` to `later` (negative if `later` is earlier).
    pub fn months_until(self, later: Date) -> i32 {
        let mut months =
            (later.year() - self.year()) * 12 + i32::from(later.month()) - i32::from(self.month());
        if later.day() < self.day() {
            months -= 1;
        }
        months
    }

    /// Days from `self` to `later`.
    pub fn days_until(self, later: Date) -> i64 {
        (later.0 - self.0).whole_days()
    }

    /// The date `days` days later (earlier when negative).
    pub fn add_days(self, days: i64) -> Date {
        Self(self.0.saturating_add(time::Duration::days(days)))
    }

    /// The date `months` calendar months later, clamped to the month's last day.
    pub fn add_months(self, months: i32) -> Date {
        let total = self.year() * 12 + i32::from(self.month()) - 1 + months;
        let (year, month) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u8);
        let mut day = self.day();
        loop {
            if let Some(d) = Date::from_ymd(year, month, day) {
                return d;
            }
            day -= 1;
        }
    }

    /// The day `days` days after 1970-01-01 (the inverse of [`Date::unix_days`]).
    pub fn from_unix_days(days: i64) -> Date {
        Self(time::Date::from_julian_day(2_440_588).unwrap_or(time::Date::MIN)).add_days(days)
    }

    /// The date at `ms` milliseconds since the Unix epoch in the easternmost Indonesian
    /// zone (WIT, UTC+9): the day a node counts as today, so that no date already today
    /// anywhere in Indonesia is in its future.
    pub fn in_indonesia_at(ms: u64) -> Date {
        Date::from_unix_days(((ms / 1000 + 9 * 3600) / 86_400) as i64)
    }

    /// Days since 1970-01-01, for compact storage.
    pub fn unix_days(self) -> i64 {
        (self.0 - time::Date::from_julian_day(2_440_588).unwrap_or(self.0)).whole_days()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.year(),
            self.month(),
            self.day()
        )
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

impl FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl autosurgeon::Reconcile for Date {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: autosurgeon::Reconciler>(&self, mut r: R) -> Result<(), R::Error> {
        r.str(self.to_string())
    }
}

impl autosurgeon::Hydrate for Date {
    fn hydrate_string(s: &'_ str) -> Result<Self, autosurgeon::HydrateError> {
        Self::parse(s).map_err(|e| autosurgeon::HydrateError::unexpected("date", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let d = Date::parse("2024-02-29").expect("leap day");
        assert_eq!(d.to_string(), "2024-02-29");
        assert!(Date::parse("2023-02-29").is_err());
        assert!(Date::parse("2024-13-01").is_err());
        assert!(Date::parse("24-01-01").is_err());
        assert!(Date::parse("2024-1-1").is_err());
    }

    #[test]
    fn month_arithmetic() {
        let d = Date::parse("2024-01-31").expect("date");
        assert_eq!(d.add_months(1).to_string(), "2024-02-29");
        assert_eq!(d.add_months(-2).to_string(), "2023-11-30");
        let birth = Date::parse("2023-05-15").expect("date");
        assert_eq!(
            birth.months_until(Date::parse("2024-05-14").expect("date")),
            11
        );
        assert_eq!(
            birth.months_until(Date::parse("2024-05-15").expect("date")),
            12
        );
        assert_eq!(Date::parse("1970-01-02").expect("date").unix_days(), 1);
        let day = Date::parse("2026-11-23").expect("date");
        assert_eq!(Date::from_unix_days(day.unix_days()), day);
    }
}
