//! Calendar months, the period of a PWS report.

use std::fmt;
use std::str::FromStr;

use crate::date::Date;

/// A calendar month, written `YYYY-MM` (e.g. `2026-08`).
///
/// Years run from 1900 to 2999: wide enough for any report, narrow enough that the
/// previous and next months always exist.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    /// The first day of the month; every other property derives from it.
    first: Date,
}

/// Why a text or a (year, month) pair is not a [`Month`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid month {text:?}: {reason}")]
pub struct BadMonth {
    /// The rejected text, as given (or as `YYYY-MM` for [`Month::new`]).
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Earliest year a [`Month`] may have.
const MIN_YEAR: i32 = 1900;
/// Latest year a [`Month`] may have.
const MAX_YEAR: i32 = 2999;

impl Month {
    /// The month `month` (1–12) of `year` (1900–2999).
    pub fn new(year: i32, month: u8) -> Result<Self, BadMonth> {
        Self::checked(year, month, format!("{year:04}-{month:02}"))
    }

    /// Parses `YYYY-MM`: four digits, a hyphen, two digits.
    pub fn parse(s: &str) -> Result<Self, BadMonth> {
        let bad = |reason: &str| BadMonth {
            text: s.to_string(),
            reason: reason.to_string(),
        };
        let b = s.as_bytes();
        let shape_ok =
            b.len() == 7 && b[4] == b'-' && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit);
        if !shape_ok {
            return Err(bad("expected YYYY-MM, e.g. 2026-08"));
        }
        let (Ok(year), Ok(month)) = (s[..4].parse::<i32>(), s[5..].parse::<u8>()) else {
            return Err(bad("expected YYYY-MM, e.g. 2026-08"));
        };
        Self::checked(year, month, s.to_string())
    }

    fn checked(year: i32, month: u8, text: String) -> Result<Self, BadMonth> {
        if !(1..=12).contains(&month) {
            return Err(BadMonth {
                text,
                reason: format!("month {month:02} is not between 01 and 12"),
            });
        }
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(BadMonth {
                text,
                reason: format!("year {year} is not between {MIN_YEAR} and {MAX_YEAR}"),
            });
        }
        match Date::from_ymd(year, month, 1) {
            Some(first) => Ok(Self { first }),
            None => Err(BadMonth {
                text,
                reason: "no such month".into(),
            }),
        }
    }

    /// The month `date` falls in.
    pub fn of(date: Date) -> Self {
        Self {
            first: date.add_days(1 - i64::from(date.day())),
        }
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.first.year()
    }

    /// The month of the year, 1–12.
    pub fn month(self) -> u8 {
        self.first.month()
    }

    /// The first day of the month.
    pub fn first_day(self) -> Date {
        self.first
    }

    /// The last day of the month (28th to 31st).
    pub fn last_day(self) -> Date {
        self.first.add_months(1).add_days(-1)
    }

    /// The month before.
    pub fn previous(self) -> Month {
        Self {
            first: self.first.add_months(-1),
        }
    }

    /// January of the same year.
    pub fn january(self) -> Month {
        Self {
            first: self.first.add_months(1 - i32::from(self.month())),
        }
    }

    /// The month after.
    pub fn next(self) -> Month {
        Self {
            first: self.first.add_months(1),
        }
    }

    /// True when `date` falls in this month.
    pub fn contains(self, date: Date) -> bool {
        date.year() == self.year() && date.month() == self.month()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

impl fmt::Debug for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Month({self})")
    }
}

impl FromStr for Month {
    type Err = BadMonth;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}
