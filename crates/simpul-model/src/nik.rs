//! The NIK (Nomor Induk Kependudukan), Indonesia's 16-digit national identity number.
//!
//! Digits 1–6 are the area of first registration (province, kabupaten/kota, kecamatan),
//! 7–12 the birth date as DDMMYY with 40 added to the day for women, 13–16 a serial.
//! A NIK is never used as a record key: it gets typed wrong and corrected later.

use std::fmt;

use crate::codes::{is_valid_province_code, is_valid_subdistrict_code};
use crate::date::Date;
use crate::patient::Sex;

/// A NIK whose structure has been checked.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nik(String);

impl Nik {
    /// Checks the structure: 16 digits, a real province, kabupaten/kota and kecamatan,
    /// a day (1–31, or 41–71 for women) and month that exist, a non-zero serial.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{s:?} is not 16 digits"));
        }
        if !is_valid_province_code(&s[..2]) {
            return Err(format!("province code {:?} does not exist", &s[..2]));
        }
        if !is_valid_subdistrict_code(&s[..6]) {
            return Err(format!(
                "area code {:?} is not a valid kabupaten/kota and kecamatan",
                &s[..6]
            ));
        }
        let nik = Self(s.to_string());
        let (day, month, yy) = nik.date_parts();
        let fits = |year: i32| Date::from_ymd(year, month, day).is_some();
        if !(fits(1900 + i32::from(yy)) || fits(2000 + i32::from(yy))) {
            return Err(format!("date part {:?} is not a real day", &s[6..12]));
        }
        if &s[12..] == "0000" {
            return Err("serial number 0000 is not issued".to_string());
        }
        Ok(nik)
    }

    fn raw_day(&self) -> u8 {
        self.0[6..8].parse().unwrap_or(0)
    }

    /// (day of month, month, two-digit year), with the +40 for women removed.
    fn date_parts(&self) -> (u8, u8, u8) {
        let day = self.raw_day();
        let day = if day > 40 { day - 40 } else { day };
        let month = self.0[8..10].parse().unwrap_or(0);
        let yy = self.0[10..12].parse().unwrap_or(0);
        (day, month, yy)
    }

    /// The sex the NIK encodes.
    pub fn sex(&self) -> Sex {
        if self.raw_day() > 40 {
            Sex::Female
        } else {
            Sex::Male
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks the NIK against the sex and birth date stated for the person.
    ///
    /// The century is ambiguous, so only the last two digits of the year are compared.
    pub fn check_against(&self, sex: Sex, birth_date: Date) -> Result<(), String> {
        self.check_sex(sex)?;
        let (day, month, yy) = self.date_parts();
        let stated_yy = birth_date.year().rem_euclid(100) as u8;
        if (day, month, yy) != (birth_date.day(), birth_date.month(), stated_yy) {
            return Err(format!(
                "NIK date part {} means {day:02}-{month:02}-..{yy:02}, not the stated birth date {birth_date}",
                &self.0[6..12]
            ));
        }
        Ok(())
    }

    /// Checks the sex encoded in the NIK (day of birth + 40 for women) against `sex`.
    pub fn check_sex(&self, sex: Sex) -> Result<(), String> {
        if self.sex() != sex {
            return Err(format!(
                "NIK encodes sex {} (day {}) but the stated sex is {}",
                self.sex(),
                &self.0[6..8],
                sex
            ));
        }
        Ok(())
    }

    /// Builds the date part (DDMMYY, +40 on the day for women) for a person.
    pub fn date_part(sex: Sex, birth_date: Date) -> String {
        let day = birth_date.day() + if sex == Sex::Female { 40 } else { 0 };
        format!(
            "{day:02}{:02}{:02}",
            birth_date.month(),
            birth_date.year().rem_euclid(100)
        )
    }
}

impl fmt::Display for Nik {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Nik {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nik({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        Date::parse(s).expect("date")
    }

    #[test]
    fn reads_sex_and_date() {
        let woman = Nik::parse("3273015208900003").expect("valid");
        assert_eq!(woman.sex(), Sex::Female);
        assert!(woman.check_against(Sex::Female, date("1990-08-12")).is_ok());
        let man = Nik::parse("3273011208900003").expect("valid");
        assert_eq!(man.sex(), Sex::Male);
        assert!(man.check_against(Sex::Male, date("1990-08-12")).is_ok());
    }

    #[test]
    fn disagreement_is_reported() {
        let woman = Nik::parse("3273015208900003").expect("valid");
        let err = woman
            .check_against(Sex::Male, date("1990-08-12"))
            .expect_err("must fail");
        assert!(err.contains("sex"), "{err}");
        let err = woman
            .check_against(Sex::Female, date("1990-08-13"))
            .expect_err("must fail");
        assert!(err.contains("birth date"), "{err}");
        assert!(
            woman
                .check_against(Sex::Female, date("1991-08-12"))
                .is_err()
        );
    }

    #[test]
    fn structure_is_checked() {
        for (bad, why) in [
            ("327301520890000", "16 digits"),
            ("32730152089000a3", "16 digits"),
            ("9973015208900003", "province"),
            ("3200015208900003", "area"),
            ("3273005208900003", "area"),
            ("3273013208900003", "real day"),
            ("3273017208900003", "real day"),
            ("3273013102900003", "real day"),
            ("3273015213900003", "real day"),
            ("3273015208900000", "serial"),
        ] {
            let err = Nik::parse(bad).expect_err("must fail");
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
