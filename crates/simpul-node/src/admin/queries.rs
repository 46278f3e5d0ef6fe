//! The questions facility apps and technicians ask of the records (search, due lists,
//! duplicates, the audit trail) and the rows they get back.

use serde::{Deserialize, Serialize};
use simpul_model::{AuditEntry, Date, FacilityPath, RecordId};

/// Patients matching every given term; at least one term is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Exact NIK.
    #[serde(default)]
    pub nik: Option<String>,
    /// The mother's NIK (finds her children registered by it).
    #[serde(default)]
    pub nik_ibu: Option<String>,
    /// Part of the name, any case.
    #[serde(default)]
    pub name: Option<String>,
    /// Exact birth date.
    #[serde(default)]
    pub birth_date: Option<Date>,
    /// Village code.
    #[serde(default)]
    pub village: Option<String>,
    /// RT (with `village`).
    #[serde(default)]
    pub rt: Option<String>,
    /// RW (with `village`).
    #[serde(default)]
    pub rw: Option<String>,
    /// At most this many rows (default 100, at most 1,000).
    #[serde(default)]
    pub limit: Option<u32>,
    /// People after this record id (the `next` of the page before).
    #[serde(default)]
    pub after: Option<RecordId>,
}

impl SearchQuery {
    /// True when no term is given.
    pub fn is_empty(&self) -> bool {
        let Self {
            nik,
            nik_ibu,
            name,
            birth_date,
            village,
            rt,
            rw,
            limit: _,
            after: _,
        } = self;
        nik.is_none()
            && nik_ibu.is_none()
            && name.is_none()
            && birth_date.is_none()
            && village.is_none()
            && rt.is_none()
            && rw.is_none()
    }
}

/// What a due list is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Monthly weighing of every under-five.
    Weighing,
    /// Vitamin A for children 6–59 months (given in February and August).
    VitaminA,
    /// Under-fives the bidan should see: two not-gained weighings in a row (2T),
    /// below the red line (BGM), stunted or severely wasted.
    GrowthFollowUp,
}

/// Under-fives registered at `facility` (or below it) due for `service` in `month`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DueQuery {
    /// The posyandu (or any facility: everyone registered at or below it).
    pub facility: FacilityPath,
    /// `YYYY-MM`.
    pub month: String,
    /// Which service.
    pub service: Service,
    /// At most this many rows (default and most 1,000).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Rows after this person (the `next` of the page before).
    #[serde(default)]
    pub after: Option<RecordId>,
}

/// One person, as search and due lists show them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonRow {
    /// The record.
    pub id: RecordId,
    /// Full name.
    pub name: String,
    /// `F` or `M`.
    pub sex: String,
    /// Date of birth.
    pub birth_date: Date,
    /// NIK, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nik: Option<String>,
    /// The mother's NIK, if registered by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nik_ibu: Option<String>,
    /// Village code.
    pub village: String,
    /// Where the person is registered.
    pub home_facility: FacilityPath,
    /// Visits that count.
    pub visits: u32,
    /// Date of the latest visit that counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_visit: Option<Date>,
    /// Set when this record was merged into another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<RecordId>,
    /// Why the person is on a due list, where the list says (`2T`, `BGM`, `stunted`,
    /// …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// One person registered more than once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateView {
    /// The identifier they share (`nik:…` or `ibu:…`; candidates `near:…`, `mother:…`).
    pub key: String,
    /// The records not yet merged, in id order: the first
    /// [`MAX_SHOWN_PER_GROUP`] of them.
    pub people: Vec<PersonRow>,
    /// How many records share the key (more than `people` holds when the group is
    /// larger than is shown).
    #[serde(default)]
    pub records: usize,
}

/// The most records of one duplicate group a page loads and shows: a key shared by
/// hundreds of records (planted by a hostile peer, or a common name typed alike) must
/// not make every page load them all.
pub const MAX_SHOWN_PER_GROUP: usize = 20;

/// A page of a list read in key order (duplicates).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Start after this key (the `next` of the page before).
    #[serde(default)]
    pub after: Option<String>,
    /// Most rows in the page (1 to 1,000; 100 when absent).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries about this record.
    #[serde(default)]
    pub record: Option<RecordId>,
    /// Entries by this person (exact name).
    #[serde(default)]
    pub who: Option<String>,
    /// Entries kept by this facility or below it.
    #[serde(default)]
    pub facility: Option<FacilityPath>,
    /// From this day (UTC), inclusive.
    #[serde(default)]
    pub since: Option<Date>,
    /// At most this many, the latest (default 1,000, at most 10,000).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Entries older than this place in the trail (the `next` of the page before).
    #[serde(default)]
    pub after: Option<String>,
}

/// One audit entry and the node that kept it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// The node where it happened.
    pub node: FacilityPath,
    /// What happened.
    #[serde(flatten)]
    pub entry: AuditEntry,
}
