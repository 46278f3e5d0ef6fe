//! Times: visit dates as UTC `dateTime`s.
//!
//! A visit records a date, not a time. SATUSEHAT takes times in UTC, so a visit on
//! day D is exported as 00:00 local time on D at the facility that recorded it, written
//! in UTC: with WIB (+07:00) that is `D-1T17:00:00Z`. The zone comes from the province
//! in the facility's district code; a reader that converts back to the facility's zone
//! gets the recorded date. (Midnight UTC on D would read as 07:00–09:00 on D locally,
//! which also keeps the date, but is a time nobody recorded.)

use simpul_model::{Date, FacilityPath};

/// Hours ahead of UTC of the time zone of a province (two-digit Kemendagri code):
/// WIB +7 for Sumatra, the Riau Islands, Java, West and Central Kalimantan; WITA +8 for
/// Bali, Nusa Tenggara, South, East and North Kalimantan and Sulawesi; WIT +9 for
/// Maluku and Papua. Unknown codes get WIB, the zone of most of the population.
pub fn utc_offset_hours(province: &str) -> u8 {
    match province {
        "51" | "52" | "53" | "63" | "64" | "65" | "71" | "72" | "73" | "74" | "75" | "76" => 8,
        "81" | "82" | "91" | "92" | "93" | "94" | "95" | "96" => 9,
        _ => 7,
    }
}

/// Local midnight of `date` at `facility`, as a UTC FHIR `dateTime`
/// (`YYYY-MM-DDTHH:00:00Z`, always the previous day).
pub fn local_midnight_utc(date: Date, facility: &FacilityPath) -> String {
    let district = facility.district();
    let offset = utc_offset_hours(district.get(..2).unwrap_or_default());
    format!("{}T{:02}:00:00Z", date.add_days(-1), 24 - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str, path: &str) -> String {
        local_midnight_utc(
            Date::parse(date).expect("date"),
            &FacilityPath::parse(path).expect("path"),
        )
    }

    #[test]
    fn midnight_in_each_zone() {
        assert_eq!(at("2026-03-01", "3273/P3273010201"), "2026-02-28T17:00:00Z");
        assert_eq!(at("2024-01-01", "5171"), "2023-12-31T16:00:00Z");
        assert_eq!(at("2026-10-05", "9471"), "2026-10-04T15:00:00Z");
        assert_eq!(at("2024-03-01", "1371"), "2024-02-29T17:00:00Z");
    }
}
