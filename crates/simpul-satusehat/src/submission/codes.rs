//! The codes a submission needs that SATUSEHAT's published sources do not settle:
//! configuration (the node's `[satusehat]` section), never a guess in code.

use std::collections::BTreeMap;

use simpul_model::Antigen;

/// Where the Ministry's vaccine product codes (KFA) live, as its immunization guide
/// writes them.
pub const KFA: &str = "http://sys-ids.kemkes.go.id/kfa";

/// The ANC contact (K1-K6) identifier system the ANC guide publishes. A secondary
/// report says the live sandbox refused it: configurable.
pub const ANC_K_CODES: &str = "http://terminology.kemkes.go.id/CodeSystem/episodeofcare/ANC";

/// Codes for submissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionCodes {
    /// The vaccine code system ([`KFA`] unless configured otherwise).
    pub vaccine_system: String,
    /// Each antigen's vaccine code in it: the product the programme uses, which the
    /// district knows and the code cannot. A dose of an antigen missing here waits,
    /// naming the key to set.
    pub vaccines: BTreeMap<Antigen, String>,
    /// The system of the ANC contact identifier ([`ANC_K_CODES`] unless configured).
    pub anc_system: String,
}

impl Default for SubmissionCodes {
    fn default() -> Self {
        Self {
            vaccine_system: KFA.into(),
            vaccines: BTreeMap::new(),
            anc_system: ANC_K_CODES.into(),
        }
    }
}
