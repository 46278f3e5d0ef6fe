//! Kemendagri administrative codes and the other fixed-shape identifiers.

use std::fmt;

/// Kemendagri province codes (two digits), including the Papua provinces created in 2022.
pub const PROVINCE_CODES: &[&str] = &[
    "11", "12", "13", "14", "15", "16", "17", "18", "19", "21", // Sumatra, Kepri
    "31", "32", "33", "34", "35", "36", // Java
    "51", "52", "53", // Bali, Nusa Tenggara
    "61", "62", "63", "64", "65", // Kalimantan
    "71", "72", "73", "74", "75", "76", // Sulawesi
    "81", "82", // Maluku
    "91", "92", "93", "94", "95", "96", // Papua
];

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// True for a known province code.
pub fn is_valid_province_code(code: &str) -> bool {
    PROVINCE_CODES.contains(&code)
}

/// True for a four-digit kabupaten/kota code: a known province, then 01–69 (kabupaten)
/// or 71–99 (kota).
pub fn is_valid_regency_code(code: &str) -> bool {
    if code.len() != 4 || !all_digits(code) || !is_valid_province_code(&code[..2]) {
        return false;
    }
    matches!(code[2..].parse::<u8>(), Ok(1..=69 | 71..=99))
}

/// True for a six-digit kecamatan code: a valid regency then 01–99.
pub fn is_valid_subdistrict_code(code: &str) -> bool {
    code.len() == 6 && all_digits(code) && is_valid_regency_code(&code[..4]) && &code[4..] != "00"
}

/// A Kemendagri desa/kelurahan code, stored as ten digits (written PP.KK.CC.DDDD).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VillageCode(String);

impl VillageCode {
    /// Accepts `3273010001` or `32.73.01.0001`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let digits: String = if s.contains('.') {
            let parts: Vec<&str> = s.split('.').collect();
            let widths = [2, 2, 2, 4];
            if parts.len() != 4 || parts.iter().zip(widths).any(|(p, w)| p.len() != w) {
                return Err(format!("{s:?} is not written PP.KK.CC.DDDD"));
            }
            parts.concat()
        } else {
            s.to_string()
        };
        if digits.len() != 10 || !all_digits(&digits) {
            return Err(format!("{s:?} is not a 10-digit Kemendagri village code"));
        }
        if !is_valid_province_code(&digits[..2]) {
            return Err(format!(
                "{s:?} starts with unknown province {:?}",
                &digits[..2]
            ));
        }
        if !is_valid_regency_code(&digits[..4]) {
            return Err(format!("{s:?} has no valid kabupaten/kota part"));
        }
        if !is_valid_subdistrict_code(&digits[..6]) || &digits[6..] == "0000" {
            return Err(format!("{s:?} has no valid kecamatan or village part"));
        }
        Ok(Self(digits))
    }

    /// The ten digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The four-digit kabupaten/kota part.
    pub fn regency(&self) -> &str {
        &self.0[..4]
    }

    /// Written the Kemendagri way, PP.KK.CC.DDDD.
    pub fn dotted(&self) -> String {
        let d = &self.0;
        format!("{}.{}.{}.{}", &d[..2], &d[2..4], &d[4..6], &d[6..])
    }
}

impl fmt::Display for VillageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks an RT or RW number ("1" to "999") and returns it zero-padded to three digits.
pub fn normalize_rt_rw(s: &str) -> Result<String, String> {
    match s.parse::<u16>() {
        Ok(n @ 1..=999) if all_digits(s) => Ok(format!("{n:03}")),
        _ => Err(format!("{s:?} is not a number from 1 to 999")),
    }
}

/// Checks a KK (family card) number: 16 digits starting with a valid province code.
pub fn check_kk(s: &str) -> Result<(), String> {
    if s.len() != 16 || !all_digits(s) {
        return Err(format!("{s:?} is not 16 digits"));
    }
    if !is_valid_regency_code(&s[..4]) {
        return Err(format!("{s:?} does not start with a kabupaten/kota code"));
    }
    Ok(())
}

/// Checks a BPJS card number: 13 digits (otherwise opaque).
pub fn check_bpjs(s: &str) -> Result<(), String> {
    if s.len() != 13 || !all_digits(s) {
        return Err(format!("{s:?} is not 13 digits"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn village_codes_in_both_spellings() {
        let a = VillageCode::parse("3273010001").expect("plain");
        let b = VillageCode::parse("32.73.01.0001").expect("dotted");
        assert_eq!(a, b);
        assert_eq!(a.dotted(), "32.73.01.0001");
        for bad in [
            "327301000",
            "99.73.01.0001",
            "3200010001",
            "3273000001",
            "3273010000",
            "32.73.1.00001",
            "327301000x",
        ] {
            assert!(VillageCode::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn regency_codes() {
        assert!(is_valid_regency_code("3273"));
        assert!(is_valid_regency_code("3201"));
        assert!(!is_valid_regency_code("3270"));
        assert!(!is_valid_regency_code("3200"));
        assert!(!is_valid_regency_code("2073"));
    }

    #[test]
    fn rt_rw_and_cards() {
        assert_eq!(normalize_rt_rw("3"), Ok("003".into()));
        assert!(normalize_rt_rw("0").is_err());
        assert!(normalize_rt_rw("1000").is_err());
        assert!(normalize_rt_rw("+3").is_err());
        assert!(check_kk("3273012345678901").is_ok());
        assert!(check_kk("9973012345678901").is_err());
        assert!(check_bpjs("0001234567890").is_ok());
        assert!(check_bpjs("12345").is_err());
    }
}
