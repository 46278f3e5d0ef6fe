//! Deterministic ILP datasets: a district tree below a node and its people, with the
//! histories an ILP posyandu records (under-fives weighed monthly and immunised on
//! schedule, pregnant women with ANC contacts, adults and elderly screened yearly).
//!
//! Every patient is a pure function of the seed and its index, so generation can run on
//! any number of threads and any patient can be regenerated alone. Does no IO.

mod document;
mod growth;
mod names;
mod tree;

use std::collections::BTreeMap;

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simpul_model::{
    Activity, ActivityKind, Address, Antigen, Date, ErrorMark, FacilityPath, Identifiers,
    Immunisation, Instrument, Klaster, Nik, Patient, Record, RecordBody, RecordId, Scope,
    Screening, ScreeningResult, Setting, Sex, Visit, VisitId,
};

pub use document::{Written, write_history};
pub use tree::{Posyandu, posyandu_below};

/// One write in a generated record's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The record as it stood after the write.
    pub record: Record,
    /// The facility that wrote it.
    pub author: FacilityPath,
    /// When (Unix milliseconds).
    pub at_ms: u64,
}

/// What a step after the registration does.
enum Event {
    Add(String, Box<Visit>),
    Mark(String, ErrorMark),
}

/// Share of visits corrected the next day by a correcting visit (a mistyped weight).
const CORRECTED_SHARE: f64 = 0.02;

/// Share of visits marked entered in error a few days later (the wrong person).
const MARKED_SHARE: f64 = 0.01;

/// `date` at `minutes` past 07:00 in Indonesia (UTC+7), as Unix milliseconds.
fn at_ms(date: Date, minutes: u64) -> u64 {
    u64::try_from(date.unix_days()).unwrap_or(0) * 86_400_000 + minutes * 60_000
}

/// The default reference date: generated histories end here, so that a seed always
/// yields the same records whatever day it runs.
pub const DEFAULT_AS_OF: (i32, u8, u8) = (2026, 10, 31);

/// Entries in each generated day of a node's audit trail.
pub const AUDIT_ENTRIES_PER_DAY: u32 = 4;

/// People per posyandu the generator aims for.
pub const PEOPLE_PER_POSYANDU: u64 = 150;

/// Generates one dataset.
#[derive(Debug, Clone)]
pub struct Generator {
    seed: u64,
    as_of: Date,
    posyandu: Vec<Posyandu>,
}

/// The immunisation schedule: (age in months, antigen, dose).
const SCHEDULE: &[(i32, Antigen, u32)] = &[
    (0, Antigen::Hb0, 1),
    (1, Antigen::Bcg, 1),
    (1, Antigen::Opv, 1),
    (2, Antigen::DptHbHib, 1),
    (2, Antigen::Opv, 2),
    (2, Antigen::Pcv, 1),
    (2, Antigen::Rv, 1),
    (3, Antigen::DptHbHib, 2),
    (3, Antigen::Opv, 3),
    (3, Antigen::Pcv, 2),
    (3, Antigen::Rv, 2),
    (4, Antigen::DptHbHib, 3),
    (4, Antigen::Opv, 4),
    (4, Antigen::Ipv, 1),
    (4, Antigen::Rv, 3),
    (9, Antigen::Mr, 1),
    (9, Antigen::Ipv, 2),
    (12, Antigen::Pcv, 3),
    (18, Antigen::DptHbHib, 4),
    (18, Antigen::Mr, 2),
];

impl Generator {
    /// A generator for `patients` people below `node`, histories ending on `as_of`.
    pub fn new(seed: u64, node: &FacilityPath, patients: u64, as_of: Date) -> Self {
        let count = patients.div_ceil(PEOPLE_PER_POSYANDU).max(1);
        Self {
            seed,
            as_of,
            posyandu: posyandu_below(node, count),
        }
    }

    /// The posyandu the people are registered at.
    pub fn posyandu(&self) -> &[Posyandu] {
        &self.posyandu
    }

    /// The reference date.
    pub fn as_of(&self) -> Date {
        self.as_of
    }

    fn rng(&self, stream: u64, index: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream);
        rng.set_word_pos(u128::from(index) << 20);
        rng
    }

    /// Patient number `index` as it stands on the reference date: identity, address and
    /// history, corrections and error marks included. Always valid.
    pub fn patient(&self, index: u64) -> Record {
        match self.history(index).pop() {
            Some(step) => step.record,
            None => unreachable!("a history has at least its registration"),
        }
    }

    /// How patient number `index` came to be, one step per write as the facilities that
    /// saw the person wrote it: the registration (by the home posyandu, on the day of the
    /// first visit), then each visit on its date by the facility that recorded it, and
    /// now and then a correcting visit the next day or an entered-in-error mark a few
    /// days later. The last step's record is [`Generator::patient`].
    pub fn history(&self, index: u64) -> Vec<Step> {
        let whole = self.patient_visits(index);
        let RecordBody::Patient(p) = &whole.body else {
            unreachable!("a generated patient is a patient")
        };
        let mut rng = self.rng(4, index);
        let mut events: Vec<(u64, FacilityPath, Event)> = Vec::new();
        for (id, visit) in &p.visits {
            let at = at_ms(visit.date, 60 + rng.random_range(0..420));
            events.push((
                at,
                visit.facility.clone(),
                Event::Add(id.clone(), Box::new(visit.clone())),
            ));
            let roll: f64 = rng.random();
            if roll < CORRECTED_SHARE {
                let next = visit.date.add_days(1);
                if next <= self.as_of {
                    let mut fixed = visit.clone();
                    fixed.supersedes = Some(id.clone());
                    let m = &mut fixed.measurements;
                    m.weight_kg = m.weight_kg.map(|w| round1(w + 0.5));
                    m.systolic_mmhg = m.systolic_mmhg.map(|s| s - 5.0);
                    let new_id = VisitId::from_bytes(rng.random()).to_string();
                    let at = at_ms(next, 60 + rng.random_range(0..420));
                    events.push((
                        at,
                        visit.facility.clone(),
                        Event::Add(new_id, Box::new(fixed)),
                    ));
                }
            } else if roll < CORRECTED_SHARE + MARKED_SHARE {
                let on = visit.date.add_days(rng.random_range(1..7));
                if on <= self.as_of {
                    let at = at_ms(on, 60 + rng.random_range(0..420));
                    let mark = ErrorMark {
                        reason: "dicatat pada orang yang salah".into(),
                        by: visit.recorded_by.clone(),
                        at_ms: at,
                    };
                    events.push((at, visit.facility.clone(), Event::Mark(id.clone(), mark)));
                }
            }
        }
        events.sort_by_key(|e| e.0);
        let registered = match events.first() {
            // Registered on the day of the first visit, just before it.
            Some((first, _, _)) => first.saturating_sub(10 * 60_000),
            None => {
                let earliest = p.birth_date.max(self.as_of.add_days(-3 * 365));
                let days = (self.as_of.unix_days() - earliest.unix_days()).max(0);
                at_ms(earliest.add_days(rng.random_range(0..=days)), 60)
            }
        };
        let mut record = Record {
            body: RecordBody::Patient(Patient {
                visits: BTreeMap::new(),
                ..p.clone()
            }),
            ..whole.clone()
        };
        let mut steps = vec![Step {
            record: record.clone(),
            author: p.home_facility.clone(),
            at_ms: registered,
        }];
        for (at, author, event) in events {
            let RecordBody::Patient(patient) = &mut record.body else {
                unreachable!("a generated patient is a patient")
            };
            match event {
                Event::Add(id, visit) => {
                    patient.visits.insert(id, *visit);
                }
                Event::Mark(id, mark) => {
                    if let Some(v) = patient.visits.get_mut(&id) {
                        v.entered_in_error = Some(mark);
                    }
                }
            }
            steps.push(Step {
                record: record.clone(),
                author,
                at_ms: at,
            });
        }
        steps
    }

    /// Patient number `index` with every visit as first recorded.
    fn patient_visits(&self, index: u64) -> Record {
        let mut rng = self.rng(1, index);
        let home = &self.posyandu[(index % self.posyandu.len() as u64) as usize];
        let id = RecordId::from_bytes(rng.random());
        let sex = if rng.random_bool(0.5) {
            Sex::Female
        } else {
            Sex::Male
        };
        let age_days: i64 = match rng.random_range(0..100) {
            0..12 => rng.random_range(0..5 * 365),
            12..27 => rng.random_range(5 * 365..18 * 365),
            27..85 => rng.random_range(18 * 365..60 * 365),
            _ => rng.random_range(60 * 365..90 * 365),
        };
        let birth_date = self.as_of.add_days(-age_days);
        let name = names::full_name(&mut rng, sex);
        let identifiers = identifiers(&mut rng, home, sex, birth_date, age_days < 5 * 365);
        let mut patient = Patient {
            identifiers,
            name,
            sex,
            birth_date,
            address: Address {
                village: home.village.clone(),
                rt: Some(format!("{:03}", rng.random_range(1..=15))),
                rw: Some(format!("{:03}", rng.random_range(1..=8))),
                line: Some(format!(
                    "Jl. {} No. {}",
                    names::street(&mut rng),
                    rng.random_range(1..200)
                )),
            },
            home_facility: home.path.clone(),
            mother: None,
            birth_date_estimated: false,
            kia_book: false,
            died_on: None,
            moved_out_on: None,
            merged_into: None,
            visits: BTreeMap::new(),
        };
        let age_months = patient.age_months(self.as_of);
        if age_months < 60 {
            self.child_history(&mut rng, &mut patient, home);
        } else if sex == Sex::Female
            && (15 * 12..45 * 12).contains(&age_months)
            && rng.random_bool(0.08)
        {
            self.pregnancy_history(&mut rng, &mut patient, home);
        } else if age_months >= 15 * 12 {
            self.screening_history(&mut rng, &mut patient, home);
        }
        Record {
            id,
            scope: Scope::up(home.path.clone()),
            body: RecordBody::Patient(patient),
        }
    }

    fn visit(
        &self,
        rng: &mut impl Rng,
        date: Date,
        home: &Posyandu,
        klaster: Klaster,
    ) -> (String, Visit) {
        let id = VisitId::from_bytes(rng.random()).to_string();
        let kader = format!("kader-{:02}", rng.random_range(1..=5));
        (
            id,
            Visit::new(date, home.path.clone(), klaster, Setting::Posyandu, kader),
        )
    }

    fn child_history(&self, rng: &mut impl Rng, p: &mut Patient, home: &Posyandu) {
        let size = rng.random_range(0.88..1.12);
        let first = p.birth_date.max(self.as_of.add_months(-12));
        let mut date = Date::from_ymd(first.year(), first.month(), home.open_day).unwrap_or(first);
        if date < p.birth_date {
            date = date.add_months(1);
        }
        let mut given: Vec<(Antigen, u32)> = Vec::new();
        while date <= self.as_of {
            if rng.random_bool(0.85) {
                let months = p.age_months(date);
                let (id, mut v) = self.visit(rng, date, home, Klaster::IbuAnak);
                if months == 0 {
                    // The birth doses are given at the puskesmas.
                    seen_above(&mut v, 2, Setting::Puskesmas);
                }
                let m = &mut v.measurements;
                m.weight_kg = Some(round1(
                    growth::weight_kg(months, p.sex) * size * rng.random_range(0.97..1.03),
                ));
                let stature = round1(growth::stature_cm(months, p.sex) * (0.5 + size / 2.0));
                if months < 24 {
                    m.length_cm = Some(stature);
                    m.head_circumference_cm = Some(round1(growth::head_cm(months)));
                } else {
                    m.height_cm = Some(stature);
                }
                if months >= 6 && rng.random_bool(0.3) {
                    m.muac_cm = Some(round1(rng.random_range(12.5..16.0)));
                }
                for &(at, antigen, dose) in SCHEDULE {
                    let due = months >= at && !given.contains(&(antigen, dose));
                    if due && rng.random_bool(0.9) {
                        given.push((antigen, dose));
                        let lot = format!(
                            "{}{}",
                            antigen.as_str().chars().next().unwrap_or('X'),
                            rng.random_range(1000..9999)
                        );
                        v.immunisations.push(Immunisation {
                            antigen,
                            dose,
                            lot: Some(lot),
                        });
                    }
                }
                v.vitamin_a = (6..60).contains(&months) && matches!(date.month(), 2 | 8);
                p.visits.insert(id, v);
            }
            date = date.add_months(1);
        }
    }

    fn pregnancy_history(&self, rng: &mut impl Rng, p: &mut Patient, home: &Posyandu) {
        let weeks_now: u32 = rng.random_range(8..40);
        let contacts = (weeks_now / 6).clamp(1, 6);
        for k in 1..=contacts {
            let weeks_ago = i64::from((contacts - k) * 5);
            let date = self.as_of.add_days(-7 * weeks_ago - rng.random_range(0..5));
            let (id, mut v) = self.visit(rng, date, home, Klaster::IbuAnak);
            if k == 1 || k == 5 {
                // K1 and K5 are the doctor's contacts, at the puskesmas.
                seen_above(&mut v, 2, Setting::Puskesmas);
            }
            v.anc_number = Some(k);
            v.gestational_weeks = Some(weeks_now.saturating_sub((contacts - k) * 5).max(4));
            let m = &mut v.measurements;
            m.weight_kg = Some(round1(rng.random_range(45.0..75.0)));
            m.muac_cm = Some(round1(rng.random_range(21.0..31.0)));
            m.systolic_mmhg = Some(f64::from(rng.random_range(95..145)));
            m.diastolic_mmhg = Some(f64::from(rng.random_range(60..92)));
            m.hb_g_dl = Some(round1(rng.random_range(9.0..13.5)));
            p.visits.insert(id, v);
        }
    }

    fn screening_history(&self, rng: &mut impl Rng, p: &mut Patient, home: &Posyandu) {
        let years = rng.random_range(0..=2);
        let elderly = p.age_months(self.as_of) >= 60 * 12;
        let height = round1(if p.sex == Sex::Female {
            rng.random_range(145.0..165.0)
        } else {
            rng.random_range(155.0..178.0)
        });
        let bmi: f64 = rng.random_range(18.0..33.0);
        for y in 0..years {
            let date = self
                .as_of
                .add_days(-365 * i64::from(y) - rng.random_range(0..300));
            if date <= p.birth_date {
                continue;
            }
            let (id, mut v) = self.visit(rng, date, home, Klaster::DewasaLansia);
            if y == 1 {
                // Every other year's screening at the pustu.
                seen_above(&mut v, 1, Setting::Pustu);
            }
            let m = &mut v.measurements;
            m.height_cm = Some(height);
            m.weight_kg = Some(round1(bmi * (height / 100.0).powi(2)));
            m.waist_cm = Some(round1(bmi * 2.9 + rng.random_range(-4.0..4.0)));
            let systolic = rng.random_range(100..170);
            m.systolic_mmhg = Some(f64::from(systolic));
            m.diastolic_mmhg = Some(f64::from(rng.random_range(60..systolic.min(105) - 5)));
            m.glucose_mg_dl = Some(f64::from(rng.random_range(70..260)));
            if elderly {
                let score = rng.random_range(0..=10);
                let result = if score > 3 {
                    ScreeningResult::Positive
                } else {
                    ScreeningResult::Normal
                };
                v.screenings.push(Screening {
                    instrument: Instrument::Skilas,
                    score,
                    result,
                });
            } else if rng.random_bool(0.3) {
                let score = rng.random_range(0..=20);
                let result = if score >= 6 {
                    ScreeningResult::Referred
                } else {
                    ScreeningResult::Normal
                };
                v.screenings.push(Screening {
                    instrument: Instrument::Srq20,
                    score,
                    result,
                });
            }
            p.visits.insert(id, v);
        }
    }

    /// The pustu above the posyandu, each once, in order: the nodes whose audit trail
    /// [`Generator::audit_day`] makes.
    pub fn pustu(&self) -> Vec<FacilityPath> {
        let mut out: Vec<FacilityPath> = Vec::new();
        for p in &self.posyandu {
            let pustu = p.path.parent().unwrap_or_else(|| p.path.clone());
            if out.last() != Some(&pustu) {
                out.push(pustu);
            }
        }
        out.dedup();
        out
    }

    /// The audit record a node at `facility` keeps for the day `days_back` days before
    /// the reference date: [`AUDIT_ENTRIES_PER_DAY`] entries (bidan and kader reading,
    /// registering and adding visits to people among `people`), as a year of use
    /// leaves them.
    pub fn audit_day(
        &self,
        facility: &FacilityPath,
        days_back: u32,
        people: &[RecordId],
    ) -> Record {
        use simpul_model::audit::audit_log_id;
        use simpul_model::{AuditAction, AuditEntry, AuditLog, Role};
        let date = self.as_of.add_days(-i64::from(days_back));
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(facility.as_str(), &mut hasher);
        let index = std::hash::Hasher::finish(&hasher) ^ u64::from(days_back);
        let mut rng = self.rng(3, index);
        let day_ms = u64::try_from(date.unix_days()).unwrap_or(0) * 86_400_000;
        let mut log = AuditLog {
            facility: facility.clone(),
            date,
            part: 0,
            entries: BTreeMap::new(),
        };
        for _ in 0..AUDIT_ENTRIES_PER_DAY {
            let (who, role) = [
                ("Bidan Sri", Role::Bidan),
                ("Bidan Rina", Role::Bidan),
                ("Kader Ani", Role::Kader),
                ("Kader Wati", Role::Kader),
            ][rng.random_range(0..4)];
            let action = [
                AuditAction::Read,
                AuditAction::Create,
                AuditAction::AddVisit,
            ][rng.random_range(0..3)];
            log.append(AuditEntry {
                // Office hours, 07:00 to 15:00 UTC+7.
                at_ms: day_ms + rng.random_range(0..8 * 3_600_000),
                who: who.into(),
                role,
                action,
                record: (!people.is_empty()).then(|| people[rng.random_range(0..people.len())]),
                detail: None,
                via: "api".into(),
            });
        }
        Record {
            id: audit_log_id(facility, None, date, 0),
            scope: Scope::up(facility.clone()),
            body: RecordBody::Audit(log),
        }
    }

    /// The posyandu opening day (hari buka) of `posyandu` in the month `months_back`
    /// before the reference date, attended by `attendees` (registered by kader).
    pub fn hari_buka(&self, posyandu: usize, months_back: i32, attendees: &[RecordId]) -> Record {
        let mut rng = self.rng(2, (posyandu as u64) << 8 | months_back as u64);
        let home = &self.posyandu[posyandu];
        let month = self.as_of.add_months(-months_back);
        let date = Date::from_ymd(month.year(), month.month(), home.open_day).unwrap_or(month);
        let attendance = attendees
            .iter()
            .map(|id| {
                (
                    id.to_string(),
                    format!("kader-{:02}", rng.random_range(1..=5)),
                )
            })
            .collect();
        Record {
            id: RecordId::from_bytes(rng.random()),
            scope: Scope::up(home.path.clone()),
            body: RecordBody::Activity(Activity {
                kind: ActivityKind::HariBuka,
                facility: home.path.clone(),
                date: date.min(self.as_of),
                attendance,
                note: None,
            }),
        }
    }
}

fn identifiers(
    rng: &mut impl Rng,
    home: &Posyandu,
    sex: Sex,
    birth: Date,
    under_five: bool,
) -> Identifiers {
    let area = &home.village[..6];
    let nik = |rng: &mut dyn rand::Rng, sex: Sex, birth: Date| {
        let serial: u16 = rng.random_range(1..=9999);
        format!("{area}{}{serial:04}", Nik::date_part(sex, birth))
    };
    let mut ids = Identifiers {
        kk: Some(format!(
            "{area}{:010}",
            rng.random_range(1..10_000_000_000u64)
        )),
        ..Identifiers::default()
    };
    if under_five && rng.random_bool(0.4) {
        // Not yet issued a NIK: registered with the mother's.
        let mother_birth = birth.add_days(-rng.random_range(18 * 365..40 * 365));
        ids.nik_ibu = Some(nik(rng, Sex::Female, mother_birth));
        ids.birth_order = Some(1);
    } else {
        ids.nik = Some(nik(rng, sex, birth));
    }
    if rng.random_bool(0.7) {
        ids.bpjs = Some(format!(
            "{:013}",
            rng.random_range(1..10_000_000_000_000u64)
        ));
    }
    ids
}

/// Moves `v` to the facility `levels` above its posyandu (1: the pustu, 2: the
/// puskesmas), recorded there by a bidan.
fn seen_above(v: &mut Visit, levels: usize, setting: Setting) {
    let mut facility = v.facility.clone();
    for _ in 0..levels {
        facility = facility.parent().unwrap_or(facility);
    }
    v.facility = facility;
    v.setting = setting;
    v.recorded_by = v.recorded_by.replace("kader", "bidan");
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(node: &str, n: u64) -> Generator {
        let as_of = Date::from_ymd(2026, 10, 31).expect("date");
        Generator::new(42, &FacilityPath::parse(node).expect("path"), n, as_of)
    }

    #[test]
    fn same_seed_same_people() {
        let a = generator("3273", 1000);
        let b = generator("3273", 1000);
        for i in [0, 1, 500, 999] {
            assert_eq!(a.patient(i), b.patient(i));
        }
        assert_ne!(a.patient(0).id, a.patient(1).id);
    }

    #[test]
    fn every_generated_record_is_valid_and_in_scope() {
        let node = FacilityPath::parse("3273/P3273010201").expect("path");
        let g = Generator::new(7, &node, 2000, g_as_of());
        let today = g.as_of();
        let mut visits = 0;
        for i in 0..2000 {
            let r = g.patient(i);
            r.validate(today)
                .unwrap_or_else(|e| panic!("patient {i}: {e}"));
            simpul_model::validate::check_nik_agreement(r.patient().expect("patient"))
                .unwrap_or_else(|e| panic!("patient {i}: {e}"));
            assert!(r.scope.held_by(&node));
            visits += r.patient().expect("patient").visits.len();
        }
        assert!(visits > 2000, "histories are not empty ({visits} visits)");
        let act = g.hari_buka(0, 1, &[g.patient(0).id]);
        act.validate(today).expect("activity valid");
    }

    #[test]
    fn histories_grow_a_visit_at_a_time_by_those_who_saw_the_person() {
        let node = FacilityPath::parse("3273/P3273010201").expect("path");
        let g = Generator::new(7, &node, 2000, g_as_of());
        let (mut corrected, mut marked, mut above, mut steps) = (0, 0, 0, 0);
        for i in 0..2000 {
            let history = g.history(i);
            assert_eq!(history.last().map(|s| &s.record), Some(&g.patient(i)));
            let first = &history[0];
            let home = &first.record.patient().expect("patient").home_facility;
            assert_eq!(&first.author, home, "patient {i}: registered at home");
            assert!(first.record.patient().expect("patient").visits.is_empty());
            for pair in history.windows(2) {
                let (before, after) = (&pair[0], &pair[1]);
                assert!(
                    before.at_ms <= after.at_ms,
                    "patient {i}: steps in time order"
                );
                simpul_model::check_history(&before.record, &after.record)
                    .unwrap_or_else(|e| panic!("patient {i}: {e}"));
                after
                    .record
                    .validate(g.as_of())
                    .unwrap_or_else(|e| panic!("patient {i}: {e}"));
                let (b, a) = (
                    before.record.patient().expect("patient"),
                    after.record.patient().expect("patient"),
                );
                // One write per step: a visit added, or one marked.
                let added: Vec<_> = a
                    .visits
                    .iter()
                    .filter(|(k, _)| !b.visits.contains_key(*k))
                    .collect();
                let changed = a
                    .visits
                    .iter()
                    .filter(|(k, v)| b.visits.get(*k).is_some_and(|o| o != *v))
                    .count();
                assert_eq!(added.len() + changed, 1, "patient {i}: one write per step");
                if let Some((_, v)) = added.first() {
                    assert_eq!(v.facility, after.author, "patient {i}: written where seen");
                    corrected += usize::from(v.supersedes.is_some());
                    above += usize::from(v.facility != *home);
                } else {
                    marked += 1;
                }
                steps += 1;
            }
        }
        assert!(steps > 4000, "{steps} visits");
        assert!(
            corrected > 20 && marked > 10,
            "{corrected} corrections, {marked} marks"
        );
        assert!(above > 100, "{above} visits at the pustu or puskesmas");
    }

    fn g_as_of() -> Date {
        Date::from_ymd(2026, 10, 31).expect("date")
    }
}
