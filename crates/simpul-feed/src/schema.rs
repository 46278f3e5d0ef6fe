//! The feed's tables in PostgreSQL, and the migrations that make them.
//!
//! `MIGRATIONS[i]` takes the database from schema version `i` to `i + 1`. Each runs in
//! its own transaction under an advisory lock, so two feeds starting at once migrate
//! once. A database newer than this code is refused. A migration that changes what a
//! row holds sets every cursor back to 0: the next run feeds everything again, and
//! since every write replaces, that refeed leaves no stale row.
//! `docs/feed.md` documents every table and column.

use tokio_postgres::Client;

use crate::FeedError;

/// The schema version this code writes.
pub const SCHEMA_VERSION: i32 = 2;

/// The advisory lock migrations run under (an arbitrary number: "simpul" in ASCII).
const MIGRATION_LOCK: i64 = 0x73_69_6d_70_75_6c;

/// Each migration's SQL.
const MIGRATIONS: &[&str] = &[V1, V2];

const V1: &str = r#"
CREATE TABLE simpul_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE simpul_cursor (
    node text PRIMARY KEY,
    epoch text NOT NULL,
    seq bigint NOT NULL,
    fed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE facilities (
    path text PRIMARY KEY,
    level text NOT NULL,
    code text NOT NULL,
    parent text
);
CREATE TABLE people (
    id text PRIMARY KEY,
    name text NOT NULL,
    sex text NOT NULL,
    birth_date date NOT NULL,
    birth_date_estimated boolean NOT NULL,
    nik text,
    nik_ibu text,
    birth_order integer,
    kk text,
    bpjs text,
    village text NOT NULL,
    rt text,
    rw text,
    home_facility text NOT NULL,
    mother text,
    kia_book boolean NOT NULL,
    died_on date,
    moved_out_on date,
    merged_into text,
    seq bigint NOT NULL
);
CREATE INDEX people_home_facility ON people (home_facility);
CREATE INDEX people_village ON people (village);
CREATE TABLE visits (
    person_id text NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    visit_id text NOT NULL,
    date date NOT NULL,
    facility text NOT NULL,
    klaster text NOT NULL,
    setting text NOT NULL,
    recorded_by text NOT NULL,
    transcribed boolean NOT NULL,
    vitamin_a boolean NOT NULL,
    anc_number integer,
    gestational_weeks integer,
    supersedes text,
    entered_in_error boolean NOT NULL,
    error_reason text,
    current boolean NOT NULL,
    PRIMARY KEY (person_id, visit_id)
);
CREATE INDEX visits_date ON visits (date);
CREATE INDEX visits_facility ON visits (facility);
CREATE TABLE measurements (
    person_id text NOT NULL,
    visit_id text NOT NULL,
    weight_kg double precision,
    length_cm double precision,
    height_cm double precision,
    head_circumference_cm double precision,
    muac_cm double precision,
    waist_cm double precision,
    systolic_mmhg double precision,
    diastolic_mmhg double precision,
    glucose_mg_dl double precision,
    hb_g_dl double precision,
    oedema boolean NOT NULL,
    age_days integer,
    length_height_cm double precision,
    waz double precision,
    haz double precision,
    whz double precision,
    bmiz double precision,
    hcz double precision,
    acz double precision,
    underweight text,
    stunting text,
    wasting text,
    weighing text,
    two_t boolean,
    bgm boolean,
    PRIMARY KEY (person_id, visit_id),
    FOREIGN KEY (person_id, visit_id) REFERENCES visits ON DELETE CASCADE
);
CREATE TABLE immunisations (
    person_id text NOT NULL,
    visit_id text NOT NULL,
    antigen text NOT NULL,
    dose integer NOT NULL,
    lot text,
    PRIMARY KEY (person_id, visit_id, antigen, dose),
    FOREIGN KEY (person_id, visit_id) REFERENCES visits ON DELETE CASCADE
);
CREATE TABLE screenings (
    person_id text NOT NULL,
    visit_id text NOT NULL,
    n integer NOT NULL,
    instrument text NOT NULL,
    score integer NOT NULL,
    result text NOT NULL,
    PRIMARY KEY (person_id, visit_id, n),
    FOREIGN KEY (person_id, visit_id) REFERENCES visits ON DELETE CASCADE
);
CREATE TABLE audit (
    log_id text NOT NULL,
    entry_key text NOT NULL,
    node text NOT NULL,
    at_ms bigint NOT NULL,
    at timestamptz GENERATED ALWAYS AS (to_timestamp(at_ms / 1000.0)) STORED,
    who text NOT NULL,
    role text NOT NULL,
    action text NOT NULL,
    record text,
    detail text,
    via text NOT NULL,
    PRIMARY KEY (log_id, entry_key)
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_record ON audit (record);
"#;

/// PWS by month (schema 2): the counts of `simpul report pws` per home facility and
/// month, for the months the feed keeps up to date, and the doses given in their
/// target age; and where the cursor's PWS was computed.
const V2: &str = r#"
ALTER TABLE simpul_cursor ADD COLUMN pws_seq bigint, ADD COLUMN pws_until date;
CREATE TABLE pws_month (
    month date NOT NULL,
    facility text NOT NULL,
    s integer NOT NULL,
    k integer NOT NULL,
    d integer NOT NULL,
    n integer NOT NULL,
    t integer NOT NULL,
    o integer NOT NULL,
    b integer NOT NULL,
    bgm integer NOT NULL,
    two_t integer NOT NULL,
    measured_0_5 integer NOT NULL,
    stunted_0_5 integer NOT NULL,
    wasted_0_5 integer NOT NULL,
    underweight_0_5 integer NOT NULL,
    measured_6_11 integer NOT NULL,
    stunted_6_11 integer NOT NULL,
    wasted_6_11 integer NOT NULL,
    underweight_6_11 integer NOT NULL,
    measured_12_23 integer NOT NULL,
    stunted_12_23 integer NOT NULL,
    wasted_12_23 integer NOT NULL,
    underweight_12_23 integer NOT NULL,
    measured_24_59 integer NOT NULL,
    stunted_24_59 integer NOT NULL,
    wasted_24_59 integer NOT NULL,
    underweight_24_59 integer NOT NULL,
    aged_6_11 integer NOT NULL,
    vitamin_a_6_11 integer NOT NULL,
    aged_12_59 integer NOT NULL,
    vitamin_a_12_59 integer NOT NULL,
    vitamin_a_nifas integer NOT NULL,
    infants integer NOT NULL,
    complete_basic integer NOT NULL,
    doses_outside_target integer NOT NULL,
    residents_15_59 integer NOT NULL,
    screened_15_59 integer NOT NULL,
    residents_60_plus integer NOT NULL,
    screened_60_plus integer NOT NULL,
    PRIMARY KEY (month, facility)
);
CREATE TABLE pws_doses (
    month date NOT NULL,
    facility text NOT NULL,
    antigen text NOT NULL,
    dose integer NOT NULL,
    given integer NOT NULL,
    PRIMARY KEY (month, facility, antigen, dose)
);
"#;

/// Brings the database to [`SCHEMA_VERSION`]; returns the version found.
pub async fn migrate(client: &mut Client) -> Result<i32, FeedError> {
    let found = {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let version = stored_version(&tx).await?;
        tx.commit().await?;
        version
    };
    if found > SCHEMA_VERSION {
        return Err(FeedError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        // Another feed may have run this step while this one waited for the lock.
        if stored_version(&tx).await? > from as i32 {
            continue;
        }
        tx.batch_execute(sql).await?;
        let to = (from + 1).to_string();
        tx.execute(
            "INSERT INTO simpul_meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&to],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(found)
}

/// The version recorded in `simpul_meta` (0 for a database the feed never wrote).
async fn stored_version(tx: &tokio_postgres::Transaction<'_>) -> Result<i32, FeedError> {
    let exists: bool = tx
        .query_one("SELECT to_regclass('simpul_meta') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = tx
        .query_opt(
            "SELECT value FROM simpul_meta WHERE key = 'schema_version'",
            &[],
        )
        .await?;
    match row {
        None => Ok(0),
        Some(row) => {
            let text: String = row.get(0);
            text.parse().map_err(|_| {
                FeedError::Schema(format!(
                    "simpul_meta.schema_version is {text:?}, not a number"
                ))
            })
        }
    }
}
