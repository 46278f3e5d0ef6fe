//! Facility paths: where a node sits in a district's hierarchy.
//!
//! A path runs from the district down, one segment per level:
//! `3273/P3273010201/3273010201-PU1/3273010201-PY04` is district 3273, puskesmas
//! P3273010201, its pustu PU1 and that pustu's posyandu PY04.

use std::fmt;
use std::str::FromStr;

use crate::codes::is_valid_regency_code;

/// The level of a facility in the ILP hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Dinas Kesehatan kabupaten/kota (district health office).
    District,
    /// Puskesmas (sub-district health centre).
    Puskesmas,
    /// Puskesmas pembantu (village clinic).
    Pustu,
    /// Posyandu (community post at hamlet level).
    Posyandu,
}

impl Level {
    /// A lowercase name for people and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::District => "district",
            Level::Puskesmas => "puskesmas",
            Level::Pustu => "pustu",
            Level::Posyandu => "posyandu",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated facility path (one to four segments).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FacilityPath(String);

/// Why a string is not a facility path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid facility path {path:?}: {reason}")]
pub struct BadFacilityPath {
    /// The rejected text.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FacilityPath {
    /// Parses and validates a path.
    pub fn parse(s: &str) -> Result<Self, BadFacilityPath> {
        let bad = |reason: String| BadFacilityPath {
            path: s.to_string(),
            reason,
        };
        let segments: Vec<&str> = s.split('/').collect();
        if segments.len() > 4 {
            return Err(bad("more than four levels".into()));
        }
        let district = segments[0];
        if !is_valid_regency_code(district) {
            return Err(bad(format!(
                "district {district:?} is not a Kemendagri kabupaten/kota code (4 digits)"
            )));
        }
        for (depth, seg) in segments.iter().enumerate().skip(1) {
            check_segment(depth, seg, district).map_err(bad)?;
        }
        Ok(Self(s.to_string()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments from the district down.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// Number of segments (1 for a district, 4 for a posyandu).
    pub fn depth(&self) -> usize {
        self.segments().count()
    }

    /// The level of the facility this path names.
    pub fn level(&self) -> Level {
        match self.depth() {
            1 => Level::District,
            2 => Level::Puskesmas,
            3 => Level::Pustu,
            _ => Level::Posyandu,
        }
    }

    /// The four-digit district code this path belongs to.
    pub fn district(&self) -> &str {
        self.segments().next().unwrap_or_default()
    }

    /// The last segment: this facility's own code.
    pub fn code(&self) -> &str {
        self.segments().last().unwrap_or_default()
    }

    /// The path of this facility's ancestor at `level` (itself when it is at that level
    /// or above it).
    pub fn at_level(&self, level: Level) -> FacilityPath {
        let depth = match level {
            Level::District => 1,
            Level::Puskesmas => 2,
            Level::Pustu => 3,
            Level::Posyandu => 4,
        };
        let end = self
            .0
            .match_indices('/')
            .nth(depth - 1)
            .map_or(self.0.len(), |(i, _)| i);
        Self(self.0[..end].to_string())
    }

    /// The parent facility, or `None` for a district.
    pub fn parent(&self) -> Option<FacilityPath> {
        self.0.rfind('/').map(|i| Self(self.0[..i].to_string()))
    }

    /// Builds the path of a child facility.
    pub fn child(&self, segment: &str) -> Result<FacilityPath, BadFacilityPath> {
        Self::parse(&format!("{}/{segment}", self.0))
    }

    /// True when `self` is `other` or one of its ancestors.
    pub fn is_ancestor_or_self(&self, other: &FacilityPath) -> bool {
        other.0 == self.0
            || (other.0.len() > self.0.len()
                && other.0.starts_with(&self.0)
                && other.0.as_bytes()[self.0.len()] == b'/')
    }
}

fn check_segment(depth: usize, seg: &str, district: &str) -> Result<(), String> {
    let (digits, suffix, level) = match depth {
        1 => match seg.strip_prefix('P') {
            Some(d) => (d, None, "puskesmas"),
            None => {
                return Err(format!(
                    "puskesmas segment {seg:?} must look like P3273010201"
                ));
            }
        },
        2 => split_suffix(seg, "-PU", "pustu", "3273010201-PU1")?,
        _ => split_suffix(seg, "-PY", "posyandu", "3273010201-PY04")?,
    };
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{level} segment {seg:?} needs 10 digits"));
    }
    if !digits.starts_with(district) {
        return Err(format!(
            "{level} segment {seg:?} is not in district {district}"
        ));
    }
    if let Some(n) = suffix
        && (n.is_empty() || n.len() > 3 || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("{level} segment {seg:?} needs a 1-3 digit number"));
    }
    Ok(())
}

fn split_suffix<'a>(
    seg: &'a str,
    marker: &str,
    level: &'static str,
    example: &str,
) -> Result<(&'a str, Option<&'a str>, &'static str), String> {
    match seg.split_once(marker) {
        Some((digits, n)) => Ok((digits, Some(n), level)),
        None => Err(format!("{level} segment {seg:?} must look like {example}")),
    }
}

impl fmt::Display for FacilityPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FacilityPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FacilityPath({})", self.0)
    }
}

impl FromStr for FacilityPath {
    type Err = BadFacilityPath;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for FacilityPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for FacilityPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl autosurgeon::Reconcile for FacilityPath {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: autosurgeon::Reconciler>(&self, mut r: R) -> Result<(), R::Error> {
        r.str(&self.0)
    }
}

impl autosurgeon::Hydrate for FacilityPath {
    fn hydrate_string(s: &'_ str) -> Result<Self, autosurgeon::HydrateError> {
        Self::parse(s)
            .map_err(|e| autosurgeon::HydrateError::unexpected("facility path", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> FacilityPath {
        FacilityPath::parse(s).expect("valid path")
    }

    #[test]
    fn parses_every_level() {
        assert_eq!(p("3273").level(), Level::District);
        assert_eq!(p("3273/P3273010201").level(), Level::Puskesmas);
        assert_eq!(p("3273/P3273010201/3273010201-PU1").level(), Level::Pustu);
        let py = p("3273/P3273010201/3273010201-PU1/3273010201-PY04");
        assert_eq!(py.level(), Level::Posyandu);
        assert_eq!(py.code(), "3273010201-PY04");
        assert_eq!(py.parent(), Some(p("3273/P3273010201/3273010201-PU1")));
        assert_eq!(p("3273").parent(), None);
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in [
            "",
            "32",
            "0073",
            "3273/3273010201",
            "3273/P3274010201",
            "3273/P327301020",
            "3273/P3273010201/3273010201-PY1",
            "3273/P3273010201/3273010201-PU",
            "3273/P3273010201/3273010201-PU1/3273010201-PY04/x",
        ] {
            assert!(FacilityPath::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ancestry_respects_segment_boundaries() {
        let pkm = p("3273/P3273010201");
        let pu1 = p("3273/P3273010201/3273010201-PU1");
        let pu12 = p("3273/P3273010201/3273010201-PU12");
        assert!(p("3273").is_ancestor_or_self(&pu1));
        assert!(pkm.is_ancestor_or_self(&pu1));
        assert!(pu1.is_ancestor_or_self(&pu1));
        assert!(!pu1.is_ancestor_or_self(&pu12));
        assert!(!pu1.is_ancestor_or_self(&pkm));
    }
}
