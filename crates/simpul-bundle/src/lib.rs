//! Sync without a link: bundles a kader carries from a posyandu to its pustu and back.
//!
//! A bundle is a file for one addressee: the records the sender holds that the addressee
//! should hold and, as far as the sender knows, lacks, with their seals and certificates,
//! and a [`summary::Summary`] of everything the sender shares with the addressee, so that
//! the addressee's answer bundle carries exactly what the sender lacks. It is signed by
//! the sender's node key, encrypted to the addressee's certificate key (HPKE), and
//! compressed ([`format`]); applying one judges every record by the rules a live session
//! uses ([`exchange`]).

pub mod exchange;
pub mod format;
pub mod summary;

pub use exchange::{Applied, BundleError, Created, Shown, apply, create, show};
pub use format::MAGIC;
pub use summary::Summary;
