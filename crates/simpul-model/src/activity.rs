//! Activity records: a posyandu opening day, a home-visit round, a follow-up task.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::facility::FacilityPath;

crate::string_enum! {
    /// What kind of activity.
    pub enum ActivityKind {
        /// A posyandu opening day (hari buka).
        HariBuka => "hari-buka",
        /// A round of home visits.
        HomeVisitRound => "home-visit-round",
        /// A follow-up task from local area monitoring (PWS).
        FollowUp => "follow-up",
    }
}

/// An activity record's content.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// What kind of activity.
    pub kind: ActivityKind,
    /// The facility that ran it.
    pub facility: FacilityPath,
    /// The day.
    pub date: Date,
    /// People who attended, keyed by their record id (hex), with the kader who
    /// registered them. A map, so concurrent registrations merge.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub attendance: BTreeMap<String, String>,
    /// Free-text note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub note: Option<String>,
}
