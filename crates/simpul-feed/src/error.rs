//! What can stop a feed.

/// Why a feed stopped. Nothing it wrote is left half done: the batch in hand is rolled
/// back and the next run repeats it.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The database refused or the connection failed.
    #[error("PostgreSQL: {}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The store could not be read.
    #[error("store: {0}")]
    Store(simpul_store::ReadError),
    /// The database's feed tables are newer than this code.
    #[error(
        "the database's feed tables are schema {found}, newer than this simpul knows ({supported}): upgrade simpul"
    )]
    TooNew {
        /// The version found.
        found: i32,
        /// The newest this code knows.
        supported: i32,
    },
    /// The database's feed tables are not what the feed made.
    #[error("feed schema: {0}")]
    Schema(String),
    /// A row did not encode (a bug).
    #[error("encoding a batch: {0}")]
    Encode(#[from] serde_json::Error),
    /// A store read panicked or was cancelled.
    #[error("reading the store: {0}")]
    Task(String),
}

/// The server's message when it sent one (the error's own text is only its kind).
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.to_string(),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}
