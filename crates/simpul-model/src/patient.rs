//! Patient records: a person's identity, demographics and visits.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::facility::FacilityPath;
use crate::ids::RecordId;
use crate::visit::Visit;

crate::string_enum! {
    /// Sex as recorded (and as encoded in the NIK).
    pub enum Sex {
        /// Perempuan.
        Female => "F",
        /// Laki-laki.
        Male => "M",
    }
}

/// The identifiers a person may carry. None of them is the record key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identifiers {
    /// National identity number (16 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub nik: Option<String>,
    /// The mother's NIK, for a newborn without a NIK of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub nik_ibu: Option<String>,
    /// Birth order with `nik_ibu` (1, 2 for twins, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(
        hydrate = "crate::number::hydrate_opt_u32",
        reconcile = "crate::number::reconcile_opt_u32"
    )]
    pub birth_order: Option<u32>,
    /// Family card (Kartu Keluarga) number, 16 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub kk: Option<String>,
    /// BPJS health insurance card number, 13 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub bpjs: Option<String>,
    /// The person's IHS number on SATUSEHAT (`Patient.id` there), written by the node
    /// that matched the person on the platform; replicates like any field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub ihs: Option<String>,
}

/// Where the person lives.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Kemendagri desa/kelurahan code, ten digits.
    pub village: String,
    /// RT (neighbourhood unit), three digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub rt: Option<String>,
    /// RW (community unit), three digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub rw: Option<String>,
    /// Street and house, free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub line: Option<String>,
}

/// A patient record's content.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patient {
    /// NIK, nik-ibu, KK, BPJS.
    pub identifiers: Identifiers,
    /// Full name.
    pub name: String,
    /// Sex.
    pub sex: Sex,
    /// Date of birth.
    pub birth_date: Date,
    /// Home address.
    pub address: Address,
    /// The facility (normally a posyandu) the person is registered at.
    pub home_facility: FacilityPath,
    /// The mother's record, for a child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub mother: Option<RecordId>,
    /// The birth date is an estimate (an elderly person who does not know it, say):
    /// ages are approximate and the NIK's date need not match it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[autosurgeon(missing = "Default::default")]
    pub birth_date_estimated: bool,
    /// The person holds a KIA book (Buku Kesehatan Ibu dan Anak) or a KMS card: the K
    /// of the posyandu's SKDN.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[autosurgeon(missing = "Default::default")]
    pub kia_book: bool,
    /// The day the person died; from then on they are no longer a target of any
    /// service or a denominator of any indicator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub died_on: Option<Date>,
    /// The day the person moved out of the area the home facility serves; cleared
    /// when they come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub moved_out_on: Option<Date>,
    /// Set when this record was found to duplicate another and merged into it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub merged_into: Option<RecordId>,
    /// Visits keyed by visit id (hex).
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub visits: BTreeMap<String, Visit>,
}

impl Patient {
    /// A woman born 1990-08-12 in village 3273010001, at home at `home`: the person
    /// tests register when who she is does not matter.
    #[cfg(any(test, feature = "testing"))]
    pub fn example(name: &str, home: &crate::FacilityPath) -> Patient {
        Patient {
            identifiers: Identifiers::default(),
            name: name.into(),
            sex: Sex::Female,
            birth_date: crate::Date::from_ymd(1990, 8, 12)
                .unwrap_or_else(|| unreachable!("a date")),
            address: Address {
                village: "3273010001".into(),
                rt: None,
                rw: None,
                line: None,
            },
            home_facility: home.clone(),
            mother: None,
            birth_date_estimated: false,
            kia_book: false,
            died_on: None,
            moved_out_on: None,
            merged_into: None,
            visits: Default::default(),
        }
    }

    /// Visits that count: neither superseded by a correction nor entered in error,
    /// oldest first.
    pub fn current_visits(&self) -> Vec<(&str, &Visit)> {
        let superseded: std::collections::BTreeSet<&str> = self
            .visits
            .values()
            .filter_map(|v| v.supersedes.as_deref())
            .collect();
        let mut visits: Vec<(&str, &Visit)> = self
            .visits
            .iter()
            .filter(|(id, v)| v.entered_in_error.is_none() && !superseded.contains(id.as_str()))
            .map(|(id, v)| (id.as_str(), v))
            .collect();
        visits.sort_by(|a, b| a.1.date.cmp(&b.1.date).then(a.0.cmp(b.0)));
        visits
    }

    /// The keys a node indexes this person under, to find them by identifier or place
    /// and to spot the same person registered twice: `nik:<NIK>`,
    /// `ibu:<mother's NIK>:<birth order>:<birth date>` for a child known by its mother,
    /// and `village:<code>`. The first two identify a person ([`is_identity_key`]).
    ///
    /// Two more find candidates among people without a NIK ([`is_candidate_key`]):
    /// `near:<name>:<village>:<window>` for the normalised name in the village with a
    /// birth date in one of two neighbouring [`NEAR_DAYS`]-day windows (so two
    /// registrations whose birth dates differ by less than that share a key), and
    /// `mother:<record>:<birth date>:<sex>` for a child linked to its mother's record.
    ///
    /// Two more serve search: `born:<birth date>`, and `word:<w>` for each word of the
    /// normalised name.
    pub fn lookup_keys(&self) -> Vec<String> {
        let mut keys = Vec::with_capacity(6);
        if let Some(nik) = &self.identifiers.nik {
            keys.push(format!("nik:{nik}"));
        }
        if let Some(ibu) = &self.identifiers.nik_ibu {
            let order = self.identifiers.birth_order.unwrap_or(1);
            keys.push(format!("ibu:{ibu}:{order}:{}", self.birth_date));
        }
        let name = name_key(&self.name);
        if !name.is_empty() {
            let window = EPOCH.days_until(self.birth_date).div_euclid(NEAR_DAYS);
            for w in [window - 1, window] {
                keys.push(format!("near:{name}:{}:{w}", self.address.village));
            }
        }
        if let Some(mother) = self.mother {
            keys.push(format!("mother:{mother}:{}:{}", self.birth_date, self.sex));
        }
        keys.push(format!("village:{}", self.address.village));
        // For search: each word of the name once, and the birth date. These sort
        // outside the identity and candidate keys ("born:" before "ibu:", "word:" after
        // "village:").
        keys.push(format!("born:{}", self.birth_date));
        let mut words: Vec<&str> = name.split(' ').filter(|w| !w.is_empty()).collect();
        words.sort_unstable();
        words.dedup();
        for word in words {
            keys.push(format!("word:{word}"));
        }
        keys
    }

    /// Puts what people type into the form the record keeps, as every interface must:
    /// the name trimmed, a dotted village code (`32.73.01.0001`) as ten digits, RT and
    /// RW zero-padded to three digits (`3` as `003`). A value that cannot be read is
    /// left as it is, for validation to name.
    pub fn normalise(&mut self) {
        let trimmed = self.name.trim();
        if trimmed.len() != self.name.len() {
            self.name = trimmed.to_string();
        }
        let address = &mut self.address;
        if let Ok(code) = crate::codes::VillageCode::parse(address.village.trim()) {
            address.village = code.to_string();
        }
        for part in [&mut address.rt, &mut address.rw].into_iter().flatten() {
            if let Ok(padded) = crate::codes::normalize_rt_rw(part.trim()) {
                *part = padded;
            }
        }
    }

    /// True when the person lived in the home facility's area on `date`: born by
    /// then, not yet dead, not moved out.
    pub fn resident_on(&self, date: Date) -> bool {
        self.birth_date <= date
            && self.died_on.is_none_or(|d| date < d)
            && self.moved_out_on.is_none_or(|d| date < d)
    }

    /// Age in whole months on `date`.
    pub fn age_months(&self, date: Date) -> i32 {
        self.birth_date.months_until(date)
    }
}

/// True for a [`Patient::lookup_keys`] key that identifies one person (two records
/// sharing it are the same person registered twice).
pub fn is_identity_key(key: &str) -> bool {
    key.starts_with("nik:") || key.starts_with("ibu:")
}

/// True for a [`Patient::lookup_keys`] key that two registrations of one person
/// probably share (a name typed alike with a birth date off by days, twins or a child
/// registered twice under its mother): a candidate for a bidan to look at.
pub fn is_candidate_key(key: &str) -> bool {
    key.starts_with("near:") || key.starts_with("mother:")
}

/// Birth dates closer than this many days fall in a shared `near:` window.
pub const NEAR_DAYS: i64 = 31;

/// The day the `near:` windows count from.
const EPOCH: Date = Date::EPOCH;

/// A name as people write it differently: lower case, letters and digits only, words
/// separated by one space (`Siti  Rahayu.` and `siti rahayu` are one name).
pub fn name_key(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}
