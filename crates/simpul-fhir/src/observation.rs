//! `Observation`: one per measurement taken at a visit, and one per screening.
//!
//! | measurement          | LOINC   | display                                      | unit     | category    | id suffix |
//! |----------------------|---------|----------------------------------------------|----------|-------------|-----------|
//! | weight               | 29463-7 | Body weight                                  | kg       | vital-signs | `wt`      |
//! | height (standing)    | 8302-2  | Body height                                  | cm       | vital-signs | `ht`      |
//! | length (recumbent)   | 8306-3  | Body height --lying                          | cm       | vital-signs | `len`     |
//! | head circumference   | 9843-4  | Head Occipital-frontal circumference         | cm       | vital-signs | `hc`      |
//! | MUAC (LiLA)          | 56072-2 | Mid upper arm circumference                  | cm       | vital-signs | `muac`    |
//! | waist                | 8280-0  | Waist Circumference at umbilicus by Tape measure | cm   | vital-signs | `waist`   |
//! | blood pressure panel | 85354-9 | Blood pressure panel with all children optional | —     | vital-signs | `bp`      |
//! | · systolic component | 8480-6  | Systolic blood pressure                      | mm\[Hg\] |             |           |
//! | · diastolic component| 8462-4  | Diastolic blood pressure                     | mm\[Hg\] |             |           |
//! | blood glucose        | 2339-0  | Glucose \[Mass/volume\] in Blood             | mg/dL    | laboratory  | `glu`     |
//! | haemoglobin          | 718-7   | Hemoglobin \[Mass/volume\] in Blood          | g/dL     | laboratory  | `hb`      |
//!
//! Blood pressure is one panel with a component for each pressure recorded; there is
//! one panel when either is. A value that is not a finite number is left out.
//!
//! A screening becomes an `Observation` of category `survey` with id suffix `s<n>` (its
//! position in the visit): the instrument as code in
//! [`systems::SCREENING_INSTRUMENT`] (none of them has a LOINC code we could confirm),
//! the score as `valueInteger`, and the result as interpretation: `normal` → `N`,
//! `positive` → `POS`, `referred` → `POS` with text "referred" (a referral follows a
//! positive screen).
//!
//! Status is `final`, or `entered-in-error` when the visit no longer counts; the time is
//! the visit's ([`crate::datetime`]).

use serde_json::{Value, json};
use simpul_model::{Instrument, Screening, ScreeningResult};

use crate::encounter::VisitContext;
use crate::systems;

/// A measured quantity: its LOINC code and UCUM unit.
struct Spec {
    suffix: &'static str,
    loinc: &'static str,
    display: &'static str,
    unit: &'static str,
    laboratory: bool,
}

const fn vital(
    suffix: &'static str,
    loinc: &'static str,
    display: &'static str,
    unit: &'static str,
) -> Spec {
    Spec {
        suffix,
        loinc,
        display,
        unit,
        laboratory: false,
    }
}

const WEIGHT: Spec = vital("wt", "29463-7", "Body weight", "kg");
const HEIGHT: Spec = vital("ht", "8302-2", "Body height", "cm");
const LENGTH: Spec = vital("len", "8306-3", "Body height --lying", "cm");
const HEAD: Spec = vital("hc", "9843-4", "Head Occipital-frontal circumference", "cm");
const MUAC: Spec = vital("muac", "56072-2", "Mid upper arm circumference", "cm");
const WAIST: Spec = vital(
    "waist",
    "8280-0",
    "Waist Circumference at umbilicus by Tape measure",
    "cm",
);
const GLUCOSE: Spec = Spec {
    laboratory: true,
    ..vital("glu", "2339-0", "Glucose [Mass/volume] in Blood", "mg/dL")
};
const HAEMOGLOBIN: Spec = Spec {
    laboratory: true,
    ..vital("hb", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL")
};

/// Every `Observation` recorded at a visit: measurements in the order of the table
/// above (blood pressure after waist), then screenings.
pub fn observations(v: &VisitContext<'_>) -> Vec<Value> {
    let m = &v.visit.measurements;
    let mut out = Vec::new();
    let simple = [
        (m.weight_kg, &WEIGHT),
        (m.height_cm, &HEIGHT),
        (m.length_cm, &LENGTH),
        (m.head_circumference_cm, &HEAD),
        (m.muac_cm, &MUAC),
        (m.waist_cm, &WAIST),
    ];
    for (value, spec) in simple {
        if let Some(value) = finite(value) {
            out.push(quantity(v, spec, value));
        }
    }
    if let Some(bp) = blood_pressure(v) {
        out.push(bp);
    }
    for (value, spec) in [(m.glucose_mg_dl, &GLUCOSE), (m.hb_g_dl, &HAEMOGLOBIN)] {
        if let Some(value) = finite(value) {
            out.push(quantity(v, spec, value));
        }
    }
    for (n, s) in v.visit.screenings.iter().enumerate() {
        out.push(screening(v, n, s));
    }
    out
}

fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

fn status(v: &VisitContext<'_>) -> &'static str {
    if v.in_error {
        "entered-in-error"
    } else {
        "final"
    }
}

fn category(code: &str, display: &str) -> Value {
    json!([{"coding": [{"system": systems::OBSERVATION_CATEGORY, "code": code, "display": display}]}])
}

fn loinc(code: &str, display: &str) -> Value {
    json!({"coding": [{"system": systems::LOINC, "code": code, "display": display}], "text": display})
}

fn ucum(value: f64, unit: &str, code: &str) -> Value {
    json!({"value": value, "unit": unit, "system": systems::UCUM, "code": code})
}

/// The fields every observation of a visit shares.
fn base(v: &VisitContext<'_>, suffix: &str, category: Value, code: Value) -> Value {
    json!({
        "resourceType": "Observation",
        "id": v.child_id(suffix),
        "identifier": [{
            "system": systems::sys_ids("observation", &v.visit.facility),
            "value": format!("{}-{suffix}", v.key),
        }],
        "status": status(v),
        "category": category,
        "code": code,
        "subject": v.subject(),
        "encounter": v.encounter_ref(),
        "effectiveDateTime": v.time,
    })
}

fn quantity(v: &VisitContext<'_>, spec: &Spec, value: f64) -> Value {
    let category = if spec.laboratory {
        category("laboratory", "Laboratory")
    } else {
        category("vital-signs", "Vital Signs")
    };
    let mut out = base(v, spec.suffix, category, loinc(spec.loinc, spec.display));
    out["valueQuantity"] = ucum(value, spec.unit, spec.unit);
    out
}

fn blood_pressure(v: &VisitContext<'_>) -> Option<Value> {
    let m = &v.visit.measurements;
    let components: Vec<Value> = [
        (m.systolic_mmhg, "8480-6", "Systolic blood pressure"),
        (m.diastolic_mmhg, "8462-4", "Diastolic blood pressure"),
    ]
    .into_iter()
    .filter_map(|(value, code, display)| {
        finite(value).map(|value| {
            json!({"code": loinc(code, display), "valueQuantity": ucum(value, "mmHg", "mm[Hg]")})
        })
    })
    .collect();
    if components.is_empty() {
        return None;
    }
    let code = loinc("85354-9", "Blood pressure panel with all children optional");
    let mut out = base(v, "bp", category("vital-signs", "Vital Signs"), code);
    out["component"] = json!(components);
    Some(out)
}

/// The instrument's name as health workers write it.
fn instrument_name(i: Instrument) -> &'static str {
    match i {
        Instrument::Srq20 => "SRQ-20 (Self-Reporting Questionnaire) score",
        Instrument::Puma => "PUMA (COPD screening) score",
        Instrument::Skilas => "SKILAS (elderly screening) score",
        Instrument::TbSymptoms => "TB symptom screening: number of symptoms",
        Instrument::Kpsp => "KPSP (child development screening) score",
    }
}

fn screening(v: &VisitContext<'_>, n: usize, s: &Screening) -> Value {
    let name = instrument_name(s.instrument);
    let code = json!({
        "coding": [{"system": systems::SCREENING_INSTRUMENT, "code": s.instrument.as_str(), "display": name}],
        "text": name,
    });
    let mut out = base(v, &format!("s{n}"), category("survey", "Survey"), code);
    out["valueInteger"] = json!(s.score);
    let (flag, flag_name) = match s.result {
        ScreeningResult::Normal => ("N", "Normal"),
        ScreeningResult::Positive | ScreeningResult::Referred => ("POS", "Positive"),
    };
    out["interpretation"] = json!([{
        "coding": [{"system": systems::V3_OBSERVATION_INTERPRETATION, "code": flag, "display": flag_name}],
        "text": s.result.as_str(),
    }]);
    out
}
