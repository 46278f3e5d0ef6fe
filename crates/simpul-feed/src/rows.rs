//! Records flattened into the rows of the feed's tables.
//!
//! Each table is declared once ([`table!`]): its row struct, whose serde names are the
//! column names, and the column types the batch's JSON is read with. The tables'
//! definitions in the database are the migrations' ([`crate::schema`]); a test checks
//! that every column declared here exists there with this type.

use std::collections::BTreeSet;

use serde::Serialize;
use simpul_model::growth::at_visit;
use simpul_model::{AuditLog, FacilityPath, Patient, Record, RecordBody, RecordId, Visit};

/// A table the feed writes: its name, its key columns and its columns with their SQL
/// types, in the order of the row struct's fields.
pub trait Table: Serialize {
    /// The table's name.
    const NAME: &'static str;
    /// The columns of its primary key.
    const KEY: &'static [&'static str];
    /// Every column, with its SQL type.
    const COLUMNS: &'static [(&'static str, &'static str)];
}

macro_rules! table {
    (
        $(#[$meta:meta])*
        $row:ident => $name:literal, key($($key:literal),+) {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $sql:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct $row {
            $( $(#[$fmeta])* pub $field: $ty ),+
        }

        impl Table for $row {
            const NAME: &'static str = $name;
            const KEY: &'static [&'static str] = &[$($key),+];
            const COLUMNS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($field), $sql)),+];
        }
    };
}

table! {
    /// One person (`people`).
    Person => "people", key("id") {
        /// Record id, 32 hex digits.
        id: String = "text",
        /// Full name.
        name: String = "text",
        /// `F` or `M`.
        sex: String = "text",
        /// Date of birth.
        birth_date: String = "date",
        /// The birth date is an estimate.
        birth_date_estimated: bool = "boolean",
        /// NIK.
        nik: Option<String> = "text",
        /// Mother's NIK (a child registered by it).
        nik_ibu: Option<String> = "text",
        /// Birth order among the mother's children.
        birth_order: Option<u32> = "integer",
        /// Family card number.
        kk: Option<String> = "text",
        /// BPJS card number.
        bpjs: Option<String> = "text",
        /// Village (desa/kelurahan) code.
        village: String = "text",
        /// RT.
        rt: Option<String> = "text",
        /// RW.
        rw: Option<String> = "text",
        /// The facility whose area the person lives in (path).
        home_facility: String = "text",
        /// The mother's record id.
        mother: Option<String> = "text",
        /// Holds a KIA book.
        kia_book: bool = "boolean",
        /// Date of death.
        died_on: Option<String> = "date",
        /// Date the person moved out of the area.
        moved_out_on: Option<String> = "date",
        /// The record this one was merged into (a duplicate registration).
        merged_into: Option<String> = "text",
        /// The store's change sequence number this row was fed at.
        seq: u64 = "bigint",
    }
}

table! {
    /// One visit (`visits`), corrected and erroneous ones included.
    VisitRow => "visits", key("person_id", "visit_id") {
        /// The person.
        person_id: String = "text",
        /// The visit's id within the record.
        visit_id: String = "text",
        /// Date of the visit.
        date: String = "date",
        /// Facility (path) where it took place.
        facility: String = "text",
        /// ILP cluster.
        klaster: String = "text",
        /// Posyandu, home visit, puskesmas, ...
        setting: String = "text",
        /// Who recorded it.
        recorded_by: String = "text",
        /// Copied from a paper record (KIA book) afterwards.
        transcribed: bool = "boolean",
        /// Vitamin A given.
        vitamin_a: bool = "boolean",
        /// ANC visit number (K1..K6).
        anc_number: Option<u32> = "integer",
        /// Gestational age in weeks.
        gestational_weeks: Option<u32> = "integer",
        /// The visit this one corrects.
        supersedes: Option<String> = "text",
        /// Marked as entered in error.
        entered_in_error: bool = "boolean",
        /// Why it was marked.
        error_reason: Option<String> = "text",
        /// Counts in reports: neither corrected by a later visit nor entered in error.
        current: bool = "boolean",
    }
}

table! {
    /// A visit's measurements with the WHO growth z-scores (`measurements`).
    MeasurementRow => "measurements", key("person_id", "visit_id") {
        /// The person.
        person_id: String = "text",
        /// The visit.
        visit_id: String = "text",
        /// Weight (kg).
        weight_kg: Option<f64> = "double precision",
        /// Recumbent length (cm).
        length_cm: Option<f64> = "double precision",
        /// Standing height (cm).
        height_cm: Option<f64> = "double precision",
        /// Head circumference (cm).
        head_circumference_cm: Option<f64> = "double precision",
        /// Mid-upper arm circumference, LiLA (cm).
        muac_cm: Option<f64> = "double precision",
        /// Waist circumference (cm).
        waist_cm: Option<f64> = "double precision",
        /// Systolic blood pressure (mmHg).
        systolic_mmhg: Option<f64> = "double precision",
        /// Diastolic blood pressure (mmHg).
        diastolic_mmhg: Option<f64> = "double precision",
        /// Blood glucose (mg/dL).
        glucose_mg_dl: Option<f64> = "double precision",
        /// Haemoglobin (g/dL).
        hb_g_dl: Option<f64> = "double precision",
        /// Bilateral pitting oedema.
        oedema: bool = "boolean",
        /// Age in days on the visit's date (children under five).
        age_days: Option<i64> = "integer",
        /// Length or height after the WHO's 0.7 cm rule.
        length_height_cm: Option<f64> = "double precision",
        /// Weight-for-age z (BB/U), to 0.01.
        waz: Option<f64> = "double precision",
        /// Length/height-for-age z (PB/U, TB/U).
        haz: Option<f64> = "double precision",
        /// Weight-for-length/height z (BB/PB, BB/TB).
        whz: Option<f64> = "double precision",
        /// BMI-for-age z (IMT/U).
        bmiz: Option<f64> = "double precision",
        /// Head circumference-for-age z.
        hcz: Option<f64> = "double precision",
        /// Arm circumference-for-age z.
        acz: Option<f64> = "double precision",
        /// BB/U category (Permenkes 2/2020).
        underweight: Option<String> = "text",
        /// PB/U or TB/U category.
        stunting: Option<String> = "text",
        /// BB/PB or BB/TB category.
        wasting: Option<String> = "text",
        /// The month's weighing: N, T, O or B.
        weighing: Option<String> = "text",
        /// Two T in a row.
        two_t: Option<bool> = "boolean",
        /// Below the red line (BGM).
        bgm: Option<bool> = "boolean",
    }
}

table! {
    /// A dose given or transcribed (`immunisations`).
    ImmunisationRow => "immunisations", key("person_id", "visit_id", "antigen", "dose") {
        /// The person.
        person_id: String = "text",
        /// The visit.
        visit_id: String = "text",
        /// Antigen code.
        antigen: String = "text",
        /// Dose number.
        dose: u32 = "integer",
        /// Vaccine lot.
        lot: Option<String> = "text",
    }
}

table! {
    /// A screening result (`screenings`).
    ScreeningRow => "screenings", key("person_id", "visit_id", "n") {
        /// The person.
        person_id: String = "text",
        /// The visit.
        visit_id: String = "text",
        /// Its place among the visit's screenings, from 0.
        n: u32 = "integer",
        /// Instrument code.
        instrument: String = "text",
        /// Score.
        score: u32 = "integer",
        /// Result.
        result: String = "text",
    }
}

table! {
    /// One audit entry (`audit`).
    AuditRow => "audit", key("log_id", "entry_key") {
        /// The audit record (one per node, day and part).
        log_id: String = "text",
        /// The entry's key within it (time and sequence).
        entry_key: String = "text",
        /// The node (facility path) that kept it.
        node: String = "text",
        /// When (Unix ms); the column `at` holds it as a timestamp.
        at_ms: u64 = "bigint",
        /// Who acted.
        who: String = "text",
        /// Their role.
        role: String = "text",
        /// What was done.
        action: String = "text",
        /// The record it concerned.
        record: Option<String> = "text",
        /// Details.
        detail: Option<String> = "text",
        /// Through which interface.
        via: String = "text",
    }
}

table! {
    /// A facility of the hierarchy seen in the records (`facilities`).
    FacilityRow => "facilities", key("path") {
        /// Its path.
        path: String = "text",
        /// District, puskesmas, pustu or posyandu.
        level: String = "text",
        /// Its own code (the path's last segment).
        code: String = "text",
        /// Its parent's path.
        parent: Option<String> = "text",
    }
}

/// The rows of a batch of records, table by table.
#[derive(Debug, Default)]
pub struct Flattened {
    /// Patients stored or changed.
    pub people: Vec<Person>,
    /// Their visits (replacing every earlier row of those people).
    pub visits: Vec<VisitRow>,
    /// Their measurements.
    pub measurements: Vec<MeasurementRow>,
    /// Their doses.
    pub immunisations: Vec<ImmunisationRow>,
    /// Their screenings.
    pub screenings: Vec<ScreeningRow>,
    /// Audit entries (appended; never changed).
    pub audit: Vec<AuditRow>,
    /// Facilities named by these rows.
    pub facilities: BTreeSet<FacilityPath>,
    /// Records let go: their rows go.
    pub removed: Vec<String>,
}

impl Flattened {
    /// Adds the rows of `record`, fed at sequence number `seq`. Activities and
    /// registry entries have no table yet and add nothing.
    pub fn add(&mut self, record: &Record, seq: u64) {
        match &record.body {
            RecordBody::Patient(p) => self.add_patient(record.id, p, seq),
            RecordBody::Audit(log) => self.add_audit(record.id, log),
            RecordBody::Activity(_) | RecordBody::Facility(_) | RecordBody::Submission(_) => {}
        }
    }

    /// Marks record `id` as let go.
    pub fn remove(&mut self, id: RecordId) {
        self.removed.push(id.to_string());
    }

    /// Rows in the batch, all tables.
    pub fn rows(&self) -> usize {
        self.people.len()
            + self.visits.len()
            + self.measurements.len()
            + self.immunisations.len()
            + self.screenings.len()
            + self.audit.len()
    }

    /// The facilities as rows, with their ancestors.
    pub fn facility_rows(&self) -> Vec<FacilityRow> {
        let mut all = BTreeSet::new();
        for f in &self.facilities {
            let mut at = Some(f.clone());
            while let Some(p) = at {
                at = p.parent();
                all.insert(p);
            }
        }
        all.into_iter()
            .map(|p| FacilityRow {
                level: p.level().as_str().to_string(),
                code: p.code().to_string(),
                parent: p.parent().map(|q| q.to_string()),
                path: p.to_string(),
            })
            .collect()
    }

    fn add_patient(&mut self, id: RecordId, p: &Patient, seq: u64) {
        let person_id = id.to_string();
        let date = |d: Option<simpul_model::Date>| d.map(|d| d.to_string());
        self.facilities.insert(p.home_facility.clone());
        self.people.push(Person {
            id: person_id.clone(),
            name: p.name.clone(),
            sex: p.sex.to_string(),
            birth_date: p.birth_date.to_string(),
            birth_date_estimated: p.birth_date_estimated,
            nik: p.identifiers.nik.clone(),
            nik_ibu: p.identifiers.nik_ibu.clone(),
            birth_order: p.identifiers.birth_order,
            kk: p.identifiers.kk.clone(),
            bpjs: p.identifiers.bpjs.clone(),
            village: p.address.village.clone(),
            rt: p.address.rt.clone(),
            rw: p.address.rw.clone(),
            home_facility: p.home_facility.to_string(),
            mother: p.mother.map(|m| m.to_string()),
            kia_book: p.kia_book,
            died_on: date(p.died_on),
            moved_out_on: date(p.moved_out_on),
            merged_into: p.merged_into.map(|m| m.to_string()),
            seq,
        });
        let current: BTreeSet<&str> = p.current_visits().into_iter().map(|(k, _)| k).collect();
        for (key, visit) in &p.visits {
            self.add_visit(&person_id, p, key, visit, current.contains(key.as_str()));
        }
    }

    fn add_visit(&mut self, person_id: &str, p: &Patient, key: &str, v: &Visit, current: bool) {
        self.facilities.insert(v.facility.clone());
        let ids = || (person_id.to_string(), key.to_string());
        self.visits.push(VisitRow {
            person_id: person_id.to_string(),
            visit_id: key.to_string(),
            date: v.date.to_string(),
            facility: v.facility.to_string(),
            klaster: v.klaster.to_string(),
            setting: v.setting.to_string(),
            recorded_by: v.recorded_by.clone(),
            transcribed: v.transcribed,
            vitamin_a: v.vitamin_a,
            anc_number: v.anc_number,
            gestational_weeks: v.gestational_weeks,
            supersedes: v.supersedes.clone(),
            entered_in_error: v.entered_in_error.is_some(),
            error_reason: v.entered_in_error.as_ref().map(|e| e.reason.clone()),
            current,
        });
        if let Some(row) = measurement_row(ids(), p, v) {
            self.measurements.push(row);
        }
        for dose in &v.immunisations {
            let (person_id, visit_id) = ids();
            self.immunisations.push(ImmunisationRow {
                person_id,
                visit_id,
                antigen: dose.antigen.to_string(),
                dose: dose.dose,
                lot: dose.lot.clone(),
            });
        }
        for (n, s) in v.screenings.iter().enumerate() {
            let (person_id, visit_id) = ids();
            self.screenings.push(ScreeningRow {
                person_id,
                visit_id,
                n: n as u32,
                instrument: s.instrument.to_string(),
                score: s.score,
                result: s.result.to_string(),
            });
        }
    }

    fn add_audit(&mut self, id: RecordId, log: &AuditLog) {
        self.facilities.insert(log.facility.clone());
        for (key, e) in &log.entries {
            self.audit.push(AuditRow {
                log_id: id.to_string(),
                entry_key: key.clone(),
                node: log.facility.to_string(),
                at_ms: e.at_ms,
                who: e.who.clone(),
                role: e.role.to_string(),
                action: e.action.to_string(),
                record: e.record.map(|r| r.to_string()),
                detail: e.detail.clone(),
                via: e.via.clone(),
            });
        }
    }
}

/// A visit's measurements with the child's growth at it; `None` when nothing was
/// measured.
fn measurement_row(
    (person_id, visit_id): (String, String),
    p: &Patient,
    v: &Visit,
) -> Option<MeasurementRow> {
    let m = &v.measurements;
    let values = [
        m.weight_kg,
        m.length_cm,
        m.height_cm,
        m.head_circumference_cm,
        m.muac_cm,
        m.waist_cm,
        m.systolic_mmhg,
        m.diastolic_mmhg,
        m.glucose_mg_dl,
        m.hb_g_dl,
    ];
    if values.iter().all(Option::is_none) && !m.oedema {
        return None;
    }
    let growth = at_visit(p, v.date, m);
    let g = growth.as_ref();
    let z = |f: fn(&simpul_model::growth::AtVisit) -> Option<simpul_model::growth::Scored>| {
        g.and_then(f).map(|s| s.z)
    };
    let label = |s: Option<&'static str>| s.map(str::to_string);
    Some(MeasurementRow {
        person_id,
        visit_id,
        weight_kg: m.weight_kg,
        length_cm: m.length_cm,
        height_cm: m.height_cm,
        head_circumference_cm: m.head_circumference_cm,
        muac_cm: m.muac_cm,
        waist_cm: m.waist_cm,
        systolic_mmhg: m.systolic_mmhg,
        diastolic_mmhg: m.diastolic_mmhg,
        glucose_mg_dl: m.glucose_mg_dl,
        hb_g_dl: m.hb_g_dl,
        oedema: m.oedema,
        age_days: g.map(|g| g.age_days),
        length_height_cm: g.and_then(|g| g.length_height_cm),
        waz: z(|g| g.weight_for_age),
        haz: z(|g| g.length_height_for_age),
        whz: z(|g| g.weight_for_length_height),
        bmiz: z(|g| g.bmi_for_age),
        hcz: z(|g| g.head_circumference_for_age),
        acz: z(|g| g.arm_circumference_for_age),
        underweight: label(g.and_then(|g| g.status.underweight)),
        stunting: label(g.and_then(|g| g.status.stunting)),
        wasting: label(g.and_then(|g| g.status.wasting)),
        weighing: g.and_then(|g| g.weighing).map(|w| w.trend.to_string()),
        two_t: g.and_then(|g| g.weighing).map(|w| w.two_t),
        bgm: g.and_then(|g| g.weighing).map(|w| w.bgm),
    })
}
