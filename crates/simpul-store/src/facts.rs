//! Report facts (schema 8): what the monthly reports need of each patient, kept beside
//! the record by the writer ([`simpul_model::pws::ReportFacts`]).

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use simpul_model::pws::ReportFacts;
use simpul_model::{Record, RecordBody, RecordId};

use crate::error::ReadError;
use crate::store::Store;
use crate::tables::REPORT_FACTS;

/// Files the report facts of `record` (patients only).
pub(crate) fn file(
    txn: &WriteTransaction,
    id: RecordId,
    record: &Record,
) -> Result<(), redb::Error> {
    if let RecordBody::Patient(p) = &record.body {
        txn.open_table(REPORT_FACTS)?
            .insert(id.as_bytes(), encode(&ReportFacts::of(p)).as_slice())?;
    }
    Ok(())
}

/// Removes the report facts of record `id`.
pub(crate) fn unfile(txn: &WriteTransaction, id: RecordId) -> Result<(), redb::Error> {
    txn.open_table(REPORT_FACTS)?.remove(id.as_bytes())?;
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
