//! Report facts (schema 8): what the monthly reports need of each patient, kept beside
//! the record by the writer ([`simpul_model::pws::ReportFacts`]).

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use simpul_model::pws::ReportFacts;
use simpul_model::{Record, RecordBody, RecordId};

use crate::error::ReadError;
use crate::store::Store;
use crate::tables::{HOMES, REPORT_FACTS};

/// Files the report facts of `record` (patients only), and the patient under its home
/// facility.
pub(crate) fn file(
    txn: &WriteTransaction,
    id: RecordId,
    record: &Record,
) -> Result<(), redb::Error> {
    let RecordBody::Patient(p) = &record.body else {
        return Ok(());
    };
    let facts = ReportFacts::of(p);
    let old = txn
        .open_table(REPORT_FACTS)?
        .insert(id.as_bytes(), encode(&facts).as_slice())?
        .and_then(|v| postcard::from_bytes::<ReportFacts>(v.value()).ok());
    let mut homes = txn.open_table(HOMES)?;
    if let Some(old) = old {
        if old.home_facility == facts.home_facility {
            return Ok(());
        }
        homes.remove((old.home_facility.as_str(), id.as_bytes()))?;
    }
    homes.insert((facts.home_facility.as_str(), id.as_bytes()), ())?;
    Ok(())
}

/// Removes the report facts of record `id`, and its row under its home facility.
pub(crate) fn unfile(txn: &WriteTransaction, id: RecordId) -> Result<(), redb::Error> {
    let old = txn
        .open_table(REPORT_FACTS)?
        .remove(id.as_bytes())?
        .and_then(|v| postcard::from_bytes::<ReportFacts>(v.value()).ok());
    if let Some(old) = old {
        txn.open_table(HOMES)?
            .remove((old.home_facility.as_str(), id.as_bytes()))?;
    }
    Ok(())
}

pub(crate) fn encode(facts: &ReportFacts) -> Vec<u8> {
    postcard::to_stdvec(facts).unwrap_or_else(|e| unreachable!("postcard encodes ReportFacts: {e}"))
}

fn decode(id: RecordId, bytes: &[u8]) -> Result<ReportFacts, ReadError> {
    postcard::from_bytes(bytes).map_err(|e| ReadError::Corrupt {
        id,
        reason: format!("report facts do not decode: {e}"),
    })
}

impl Store {
    /// Calls `each` with the report facts of every patient held, in id order, from one
    /// read snapshot; returns how many. Reads no document.
    pub fn each_report_facts(
        &self,
        mut each: impl FnMut(RecordId, ReportFacts),
    ) -> Result<u64, ReadError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(REPORT_FACTS)?;
        let mut n = 0;
        for row in table.iter()? {
            let (key, value) = row?;
            let id = RecordId::from_bytes(*key.value());
            each(id, decode(id, value.value())?);
            n += 1;
        }
        Ok(n)
    }

    /// Calls `each` with the report facts of every patient whose home facility is
    /// `facility` or below it, in (home, id) order; returns how many. Reads the
    /// facility's people only.
    pub fn each_report_facts_below(
        &self,
        facility: &simpul_model::FacilityPath,
        mut each: impl FnMut(RecordId, ReportFacts),
    ) -> Result<u64, ReadError> {
        let txn = self.db().begin_read()?;
        let homes = txn.open_table(HOMES)?;
        let facts = txn.open_table(REPORT_FACTS)?;
        // The facility's path, then every path starting with it ("…/…" sorts before
        // "…0"); anything else in the range (a sibling whose code extends this one's)
        // is passed over.
        let start = facility.as_str();
        let end = format!("{start}0");
        let mut n = 0;
        for row in homes.range((start, &[0u8; 16])..(end.as_str(), &[0u8; 16]))? {
            let (key, _) = row?;
            let (home, id) = key.value();
            let below = simpul_model::FacilityPath::parse(home)
                .is_ok_and(|h| facility.is_ancestor_or_self(&h));
            if !below {
                continue;
            }
            let id = RecordId::from_bytes(*id);
            if let Some(bytes) = facts.get(id.as_bytes())? {
                each(id, decode(id, bytes.value())?);
                n += 1;
            }
        }
        Ok(n)
    }

    /// The report facts kept for record `id` (none for other kinds).
    pub fn report_facts(&self, id: RecordId) -> Result<Option<ReportFacts>, ReadError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(REPORT_FACTS)?;
        let row = table.get(id.as_bytes())?;
        row.map(|v| decode(id, v.value())).transpose()
    }
}

/// Schema 8: files the report facts of every patient held (loads each document once:
/// minutes for a million, once per store).
pub(crate) fn backfill(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.delete_table(REPORT_FACTS)?;
    txn.open_table(REPORT_FACTS)?;
    crate::migrate::each_record(txn, simpul_model::RecordKind::Patient, |id, record| {
        file(txn, id, record)
    })
}

/// Schema 11: files every patient under its home facility, from its report facts.
pub(crate) fn backfill_homes(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.delete_table(HOMES)?;
    let mut homes = txn.open_table(HOMES)?;
    let facts = txn.open_table(REPORT_FACTS)?;
    for row in facts.iter()? {
        let (key, value) = row?;
        if let Ok(f) = postcard::from_bytes::<ReportFacts>(value.value()) {
            homes.insert((f.home_facility.as_str(), key.value()), ())?;
        }
    }
    Ok(())
}
