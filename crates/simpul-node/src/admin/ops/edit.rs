//! Corrections a bidan makes to a person's details: identity (NIK, sex, birth date,
//! mother), status (died, moved out), and the home facility, which moves the record.

use simpul_model::validate::{Check, check_nik_agreement, validate_details};
use simpul_model::{Date, FacilityPath, Record, RecordError, Scope};
use simpul_store::WriteError;

use super::{patient, plausibility, shape};
use crate::admin::protocol::PatientEdit;

/// Applies `edit` to the patient record `r` at the node `node`. A change of NIK, sex or
/// birth date has the NIK checked against sex and birth date again (unless
/// `confirm_nik_mismatch`); a new home facility moves the record's scope with it,
/// which only a node above both the old and the new facility may do.
pub(super) fn correct(
    r: &mut Record,
    edit: PatientEdit,
    node: &FacilityPath,
    today: Date,
) -> Result<(), WriteError> {
    let recheck_nik = !edit.confirm_nik_mismatch
        && (edit.nik.is_some()
            || edit.sex.is_some()
            || edit.birth_date.is_some()
            || edit.birth_date_estimated.is_some());
    let new_home = edit.home_facility.clone();
    let confirmed = edit.confirm_implausible;
    let p = patient(r)?;
    apply(p, edit);
    p.normalise();
    if !confirmed {
        validate_details(p, today, Check::Plausible).map_err(plausibility)?;
    }
    if recheck_nik {
        check_nik_agreement(p).map_err(|e| WriteError::Rejected(RecordError::from(e)))?;
    }
    if let Some(home) = new_home
        && Scope::up(home.clone()) != r.scope
    {
        let to = Scope::up(home.clone());
        if !r.scope.movable_by(node) || !to.movable_by(node) {
            return Err(shape(format!(
                "{node} cannot move a person from {} to {home}: only a facility above both \
                 (their pustu or puskesmas) can",
                r.scope
                    .paths
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )));
        }
        r.scope = to;
    }
    Ok(())
}

fn apply(p: &mut simpul_model::Patient, edit: PatientEdit) {
    let PatientEdit {
        name,
        nik,
        kk,
        bpjs,
        village,
        rt,
        rw,
        address,
        sex,
        birth_date,
        birth_date_estimated,
        nik_ibu,
        birth_order,
        mother,
        home_facility,
        kia_book,
        died_on,
        moved_out_on,
        confirm_nik_mismatch: _,
        confirm_implausible: _,
    } = edit;
    fn set<T>(field: &mut T, value: Option<T>) {
        if let Some(value) = value {
            *field = value;
        }
    }
    set(&mut p.name, name);
    // The IHS number was found by the identifiers a correction replaces: the bridge
    // looks the person up again.
    let before = (p.identifiers.nik.clone(), p.identifiers.nik_ibu.clone());
    set(&mut p.identifiers.nik, nik.map(Some));
    set(&mut p.identifiers.kk, kk.map(Some));
    set(&mut p.identifiers.bpjs, bpjs.map(Some));
    set(&mut p.identifiers.nik_ibu, nik_ibu.map(Some));
    set(&mut p.identifiers.birth_order, birth_order.map(Some));
    if (p.identifiers.nik.clone(), p.identifiers.nik_ibu.clone()) != before {
        p.identifiers.ihs = None;
    }
    set(&mut p.address.village, village);
    set(&mut p.address.rt, rt.map(Some));
    set(&mut p.address.rw, rw.map(Some));
    set(&mut p.address.line, address.map(Some));
    set(&mut p.sex, sex);
    set(&mut p.birth_date, birth_date);
    set(&mut p.birth_date_estimated, birth_date_estimated);
    set(&mut p.mother, mother.map(Some));
    set(&mut p.home_facility, home_facility);
    set(&mut p.kia_book, kia_book);
    set(&mut p.died_on, died_on);
    set(&mut p.moved_out_on, moved_out_on);
}
