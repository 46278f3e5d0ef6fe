//! Shared fixtures for the model's integration tests.
#![allow(dead_code, missing_docs, unreachable_pub)]

use simpul_model::*;

pub const POSYANDU: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

pub fn date(s: &str) -> Date {
    Date::parse(s).expect("test date")
}

pub fn today() -> Date {
    date("2026-11-23")
}

pub fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("test path")
}

/// A valid adult woman registered at [`POSYANDU`].
pub fn patient() -> Patient {
    Patient {
        identifiers: Identifiers {
            nik: Some("3273015208900003".into()),
            kk: Some("3273010101100007".into()),
            ..Identifiers::default()
        },
        name: "Siti Rahayu".into(),
        sex: Sex::Female,
        birth_date: date("1990-08-12"),
        address: Address {
            village: "3273010001".into(),
            rt: Some("003".into()),
            rw: Some("007".into()),
            line: None,
        },
        home_facility: path(POSYANDU),
        mother: None,
        birth_date_estimated: false,
        kia_book: false,
        died_on: None,
        moved_out_on: None,
        merged_into: None,
        visits: Default::default(),
    }
}

pub fn visit(d: &str) -> Visit {
    let mut v = Visit::new(
        date(d),
        path(POSYANDU),
        Klaster::DewasaLansia,
        Setting::Posyandu,
        "kader-01",
    );
    v.measurements.weight_kg = Some(61.5);
    v
}

pub fn record(id: u8, patient: Patient) -> Record {
    Record {
        id: RecordId::from_bytes([id; 16]),
        scope: Scope::up(path(POSYANDU)),
        body: RecordBody::Patient(patient),
    }
}

/// A person born on `born` living at `home`, with no visits.
pub fn person(name: &str, born: &str, home: &str) -> Patient {
    Patient {
        name: name.into(),
        birth_date: date(born),
        home_facility: path(home),
        identifiers: Identifiers::default(),
        ..patient()
    }
}

/// A posyandu visit on `d` with nothing recorded.
pub fn bare(d: &str) -> Visit {
    Visit::new(
        date(d),
        path(POSYANDU),
        Klaster::IbuAnak,
        Setting::Posyandu,
        "kader-01",
    )
}

pub fn weighing(d: &str, kg: f64) -> Visit {
    let mut v = bare(d);
    v.measurements.weight_kg = Some(kg);
    v
}

pub fn jab(mut v: Visit, antigen: Antigen, dose: u32) -> Visit {
    v.immunisations.push(Immunisation {
        antigen,
        dose,
        lot: None,
    });
    v
}

pub fn vit_a(mut v: Visit) -> Visit {
    v.vitamin_a = true;
    v
}

pub fn with_visits<'a>(
    mut p: Patient,
    visits: impl IntoIterator<Item = (&'a str, Visit)>,
) -> Patient {
    p.visits = visits
        .into_iter()
        .map(|(id, v)| (id.to_string(), v))
        .collect();
    p
}
