//! `Immunization`: one per dose given at a visit.

use serde_json::{Value, json};
use simpul_model::{Antigen, Immunisation};

use crate::encounter::VisitContext;
use crate::systems;

/// The CVX code and its CDC short description for an antigen of the Indonesian
/// programme. Where the programme's product has no CVX code of its own, the
/// "unspecified formulation" code of that vaccine is used.
///
/// | antigen    | CVX | CDC short description                  |
/// |------------|-----|----------------------------------------|
/// | HB0        | 08  | Hep B, adolescent or pediatric          |
/// | BCG        | 19  | BCG                                    |
/// | OPV        | 178 | OPV bivalent (bOPV, used since 2016)    |
/// | IPV        | 10  | IPV                                    |
/// | DPT-HB-Hib | 198 | DTP-hepB-Hib Pentavalent Non-US         |
/// | PCV        | 152 | Pneumococcal Conjugate, unspecified formulation |
/// | RV         | 122 | rotavirus, unspecified formulation      |
/// | MR         | 04  | M/R                                    |
/// | JE         | 129 | Japanese Encephalitis, unspecified formulation |
/// | HPV        | 137 | HPV, unspecified formulation            |
/// | Td         | 139 | Td(adult) unspecified formulation       |
/// | DT         | 28  | DT (pediatric)                         |
pub fn cvx(antigen: Antigen) -> (&'static str, &'static str) {
    match antigen {
        Antigen::Hb0 => ("08", "Hep B, adolescent or pediatric"),
        Antigen::Bcg => ("19", "BCG"),
        Antigen::Opv => ("178", "OPV bivalent"),
        Antigen::Ipv => ("10", "IPV"),
        Antigen::DptHbHib => ("198", "DTP-hepB-Hib Pentavalent Non-US"),
        Antigen::Pcv => ("152", "Pneumococcal Conjugate, unspecified formulation"),
        Antigen::Rv => ("122", "rotavirus, unspecified formulation"),
        Antigen::Mr => ("04", "M/R"),
        Antigen::Je => ("129", "Japanese Encephalitis, unspecified formulation"),
        Antigen::Hpv => ("137", "HPV, unspecified formulation"),
        Antigen::Td => ("139", "Td(adult) unspecified formulation"),
        Antigen::Dt => ("28", "DT (pediatric)"),
    }
}

/// Every `Immunization` given at a visit, id suffix `i<n>` (position in the visit;
/// visits never change once written, so positions are stable).
///
/// Status `completed`, or `entered-in-error` when the visit no longer counts; the
/// vaccine as CVX ([`cvx`]) with the antigen's programme name as text; the dose number
/// in `protocolApplied`; the lot when recorded; the visit's time as occurrence. The
/// record is the provider's own (`primarySource: true`), except for a visit
/// transcribed from the KIA book: `primarySource: false`, `reportOrigin` `record`
/// (a written record).
pub fn immunizations(v: &VisitContext<'_>) -> Vec<Value> {
    v.visit
        .immunisations
        .iter()
        .enumerate()
        .map(|(n, imm)| immunization(v, n, imm))
        .collect()
}

fn immunization(v: &VisitContext<'_>, n: usize, imm: &Immunisation) -> Value {
    let (code, display) = cvx(imm.antigen);
    let suffix = format!("i{n}");
    let mut out = json!({
        "resourceType": "Immunization",
        "id": v.child_id(&suffix),
        "identifier": [{
            "system": systems::sys_ids("immunization", &v.visit.facility),
            "value": format!("{}-{suffix}", v.key),
        }],
        "status": if v.in_error { "entered-in-error" } else { "completed" },
        "vaccineCode": {
            "coding": [{"system": systems::CVX, "code": code, "display": display}],
            "text": imm.antigen.as_str(),
        },
        "patient": v.subject(),
        "encounter": v.encounter_ref(),
        "occurrenceDateTime": v.time,
        "primarySource": !v.visit.transcribed,
    });
    if v.visit.transcribed {
        out["reportOrigin"] = json!({"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/immunization-origin",
            "code": "record",
            "display": "Written Record",
        }]});
    }
    // A dose number is 1 or more in a valid record; FHIR takes anything else as text.
    out["protocolApplied"] = if imm.dose >= 1 {
        json!([{"doseNumberPositiveInt": imm.dose}])
    } else {
        json!([{"doseNumberString": imm.dose.to_string()}])
    };
    if let Some(lot) = &imm.lot {
        out["lotNumber"] = json!(lot);
    }
    out
}
