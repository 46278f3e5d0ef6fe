//! The national immunisation schedule as PWS counts it: each dose, the age it is
//! counted in ("in the target age"), and the doses that make basic immunisation
//! complete (IDL, imunisasi dasar lengkap).
//!
//! Source: the schedule of the buku KIA 2024 (pages 124–125): HB0 under 24 hours;
//! BCG and OPV1 at 1 month; DPT-HB-Hib1, OPV2, PCV1, RV1 at 2; DPT-HB-Hib2, OPV3,
//! PCV2, RV2 at 3; DPT-HB-Hib3, OPV4, IPV1, RV3 at 4; MR1 and IPV2 at 9; JE at 10
//! (endemic areas); PCV3 at 12; DPT-HB-Hib4 and MR2 at 18 months. Infant doses count
//! when given before the first birthday (HB0 within 7 days, as reports count it, MR1
//! from 9 months), PCV3 at 12–23 months, the booster doses at 18–23 months. Td, DT
//! and HPV (school and women of child-bearing age) have no target age here.
//!
//! IDL is HB0, BCG, OPV 1–4, DPT-HB-Hib 1–3, IPV 1 and MR 1, all before the first
//! birthday (Permenkes 12/2017). The newer "imunisasi rutin lengkap" (with PCV and RV)
//! could not be confirmed from a Kemenkes text and is not counted; docs/growth.md says so.

use crate::visit::Antigen;

/// The age in which a dose counts as given on time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetAge {
    /// From birth to this many days.
    DaysUpTo(i64),
    /// From the first to the second age, in completed months, both included.
    Months(i32, i32),
    /// Any age.
    Any,
}

impl TargetAge {
    /// True when a person aged `days` (`months` completed) is in the target age.
    pub fn contains(self, days: i64, months: i32) -> bool {
        match self {
            TargetAge::DaysUpTo(last) => (0..=last).contains(&days),
            TargetAge::Months(first, last) => (first..=last).contains(&months),
            TargetAge::Any => days >= 0,
        }
    }
}

/// One dose of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dose {
    /// The antigen.
    pub antigen: Antigen,
    /// Its dose number, from 1.
    pub number: u32,
}

impl Dose {
    /// The PWS column name: `DPT-HB-Hib-1`, `MR-2`, ….
    pub fn column(self) -> String {
        format!("{}-{}", self.antigen, self.number)
    }
}

const fn dose(antigen: Antigen, number: u32) -> Dose {
    Dose { antigen, number }
}

const INFANT: TargetAge = TargetAge::Months(0, 11);
const BOOSTER: TargetAge = TargetAge::Months(18, 23);

/// Every dose PWS counts, in the order of its columns, with its target age.
pub const SCHEDULE: [(Dose, TargetAge); 27] = [
    (dose(Antigen::Hb0, 1), TargetAge::DaysUpTo(7)),
    (dose(Antigen::Bcg, 1), INFANT),
    (dose(Antigen::Opv, 1), INFANT),
    (dose(Antigen::Opv, 2), INFANT),
    (dose(Antigen::Opv, 3), INFANT),
    (dose(Antigen::Opv, 4), INFANT),
    (dose(Antigen::DptHbHib, 1), INFANT),
    (dose(Antigen::DptHbHib, 2), INFANT),
    (dose(Antigen::DptHbHib, 3), INFANT),
    (dose(Antigen::DptHbHib, 4), BOOSTER),
    (dose(Antigen::Ipv, 1), INFANT),
    (dose(Antigen::Ipv, 2), INFANT),
    (dose(Antigen::Pcv, 1), INFANT),
    (dose(Antigen::Pcv, 2), INFANT),
    (dose(Antigen::Pcv, 3), TargetAge::Months(12, 23)),
    (dose(Antigen::Rv, 1), INFANT),
    (dose(Antigen::Rv, 2), INFANT),
    (dose(Antigen::Rv, 3), INFANT),
    (dose(Antigen::Mr, 1), TargetAge::Months(9, 11)),
    (dose(Antigen::Mr, 2), BOOSTER),
    (dose(Antigen::Je, 1), INFANT),
    (dose(Antigen::Td, 1), TargetAge::Any),
    (dose(Antigen::Td, 2), TargetAge::Any),
    (dose(Antigen::Td, 3), TargetAge::Any),
    (dose(Antigen::Dt, 1), TargetAge::Any),
    (dose(Antigen::Hpv, 1), TargetAge::Any),
    (dose(Antigen::Hpv, 2), TargetAge::Any),
];

/// The doses of complete basic immunisation (IDL), each due before the first birthday.
pub const COMPLETE_BASIC: [Dose; 11] = [
    dose(Antigen::Hb0, 1),
    dose(Antigen::Bcg, 1),
    dose(Antigen::Opv, 1),
    dose(Antigen::Opv, 2),
    dose(Antigen::Opv, 3),
    dose(Antigen::Opv, 4),
    dose(Antigen::DptHbHib, 1),
    dose(Antigen::DptHbHib, 2),
    dose(Antigen::DptHbHib, 3),
    dose(Antigen::Ipv, 1),
    dose(Antigen::Mr, 1),
];

/// The target age of `dose`, or `None` for a dose outside the schedule (OPV 5, say).
pub fn target_age(dose: Dose) -> Option<TargetAge> {
    SCHEDULE
        .iter()
        .find(|(d, _)| *d == dose)
        .map(|(_, target)| *target)
}
