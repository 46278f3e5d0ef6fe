//! The facility registry: one record per facility of a district, written by the
//! district and held by every node of it (`down` from the district).
//!
//! An entry names the facility and carries its ids on the national platform
//! (SATUSEHAT): a puskesmas is an Organization there, and each place care is given (the
//! puskesmas building, its pustu and posyandu) a Location, `partOf` the one above it. The
//! district sets them (`simpul facility set`); a puskesmas node that submits visits
//! reads them from the registry it holds. Nobody below the district can change an
//! entry: its scope is `down` from the district, which only the district may write.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::facility::{FacilityPath, Level};
use crate::ids::RecordId;
use crate::scope::Scope;

/// The longest facility name kept.
pub const MAX_NAME_CHARS: usize = 200;

/// A facility as the district registers it.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacilityEntry {
    /// Which facility.
    pub path: FacilityPath,
    /// Its name, as people know it ("Posyandu Melati 4").
    pub name: String,
    /// Its ids on SATUSEHAT, once the district has them.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub satusehat: PlatformIds,
}

/// A facility's ids on SATUSEHAT. Either may be missing until the district registers
/// the facility there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformIds {
    /// The Organization id (a district health office or a puskesmas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub organization: Option<String>,
    /// The Location id (a puskesmas, pustu or posyandu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub location: Option<String>,
    /// The NIK of the health worker responsible for the facility (a posyandu's bidan):
    /// SATUSEHAT's Practitioner for the visits a kader records there, who is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub practitioner_nik: Option<String>,
}

impl FacilityEntry {
    /// The scope every registry entry has: held by the whole district, written only by
    /// the district.
    pub fn scope(&self) -> Scope {
        Scope::down(self.path.at_level(Level::District))
    }

    /// Checks the entry: a name, and platform ids of the FHIR id form at the levels
    /// that have them. Names the field that is wrong.
    pub fn check(&self) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("facility.name: empty".into());
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "facility.name: longer than {MAX_NAME_CHARS} characters"
            ));
        }
        if name.chars().any(char::is_control) {
            return Err("facility.name: holds control characters".into());
        }
        let level = self.path.level();
        if let Some(id) = &self.satusehat.organization {
            check_fhir_id("facility.satusehat.organization", id)?;
            if !matches!(level, Level::District | Level::Puskesmas) {
                return Err(format!(
                    "facility.satusehat.organization: a {level} is not an Organization on \
                     SATUSEHAT (a puskesmas or the district office is; a {level} is a Location)"
                ));
            }
        }
        if let Some(id) = &self.satusehat.location {
            check_fhir_id("facility.satusehat.location", id)?;
            if level == Level::District {
                return Err(
                    "facility.satusehat.location: the district office gives no care here; \
                     Locations are its puskesmas, pustu and posyandu"
                        .into(),
                );
            }
        }
        if let Some(nik) = &self.satusehat.practitioner_nik
            && let Err(e) = crate::nik::Nik::parse(nik)
        {
            return Err(format!("facility.satusehat.practitioner_nik: {e}"));
        }
        Ok(())
    }
}

fn check_fhir_id(field: &str, id: &str) -> Result<(), String> {
    if crate::validate::is_fhir_id(id) {
        Ok(())
    } else {
        Err(format!(
            "{field}: {id:?} is not a FHIR id (1 to 64 letters, digits, '-' or '.')"
        ))
    }
}

/// The id of a new registry entry for `facility`, bound to the writing district node's
/// key when it has one (so that no other node can create it first). A district server
/// and its standby have keys of their own: an entry is found by its path, not its id.
pub fn registry_id(facility: &FacilityPath, key_prefix: Option<[u8; 4]>) -> RecordId {
    let digest = Sha256::new()
        .chain_update(b"simpul-facility\0")
        .chain_update(facility.as_str().as_bytes())
        .finalize();
    RecordId::derived(&digest, key_prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, organization: Option<&str>, location: Option<&str>) -> FacilityEntry {
        FacilityEntry {
            path: FacilityPath::parse(path).expect("path"),
            name: "Posyandu Melati 4".into(),
            satusehat: PlatformIds {
                organization: organization.map(str::to_string),
                location: location.map(str::to_string),
                practitioner_nik: None,
            },
        }
    }

    const PUSKESMAS: &str = "3273/P3273010201";
    const POSYANDU: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

    #[test]
    fn entries_are_held_by_the_whole_district_and_checked_field_by_field() {
        let ok = entry(
            PUSKESMAS,
            Some("10000004"),
            Some("b017aa54-f1df-4ec2-9d84-8823815d7228"),
        );
        ok.check().expect("a puskesmas has both");
        assert_eq!(
            ok.scope(),
            Scope::down(FacilityPath::parse("3273").expect("district"))
        );
        let posyandu = FacilityPath::parse(POSYANDU).expect("path");
        assert!(ok.scope().held_by(&posyandu));
        assert!(!ok.scope().writable_by(&posyandu));

        let wrong = [
            (
                entry(POSYANDU, Some("100"), None),
                "facility.satusehat.organization: a posyandu",
            ),
            (
                entry("3273", None, Some("abc")),
                "facility.satusehat.location: the district",
            ),
            (entry(PUSKESMAS, Some("10 00"), None), "is not a FHIR id"),
            (
                entry(PUSKESMAS, None, Some(&"a".repeat(65))),
                "is not a FHIR id",
            ),
            (entry(PUSKESMAS, None, Some("")), "is not a FHIR id"),
        ];
        for (e, says) in wrong {
            let err = e.check().expect_err("refused");
            assert!(err.contains(says), "{err} should say {says}");
        }
        let mut unnamed = entry(POSYANDU, None, None);
        unnamed.name = "  ".into();
        assert_eq!(
            unnamed.check().expect_err("no name"),
            "facility.name: empty"
        );
        unnamed.name = "x".repeat(MAX_NAME_CHARS + 1);
        assert!(unnamed.check().expect_err("long").contains("longer than"));
    }

    #[test]
    fn an_entry_id_is_the_facilitys_and_the_districts() {
        let a = FacilityPath::parse(POSYANDU).expect("path");
        let b = FacilityPath::parse(PUSKESMAS).expect("path");
        assert_eq!(registry_id(&a, None), registry_id(&a, None));
        assert_ne!(registry_id(&a, None), registry_id(&b, None));
        assert_ne!(registry_id(&a, Some([1, 2, 3, 4])), registry_id(&a, None));
    }
}
