//! A disk that fails on demand, for tests and the simulator: reads or writes that return
//! I/O errors (a failing disk, a full one), and power cuts that keep only what the last
//! completed `fsync` made durable, or what an earlier one did (a disk image frozen at a
//! chosen `fsync`, as redb's own crash tests do).
//!
//! ```
//! # use simpul_store::faults::Disk;
//! let disk = Disk::new();
//! // Store::create_with_backend(disk.backend(), ...), write, then:
//! disk.power_cut(); // what was not synced is gone; open a store on disk.backend() again
//! ```

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The shared state of one simulated disk: what the store sees, what survives a power
/// cut, and the faults switched on.
#[derive(Debug, Clone, Default)]
pub struct Disk(Arc<DiskState>);

#[derive(Debug, Default)]
struct DiskState {
    images: Mutex<Images>,
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
    syncs: AtomicU64,
    /// Syncs after this many no longer reach the durable image (`u64::MAX`: never).
    freeze_after: AtomicU64,
}

#[derive(Debug, Default)]
struct Images {
    /// What reads see: every write so far.
    live: Vec<u8>,
    /// What a power cut leaves.
    durable: Vec<u8>,
}

impl Disk {
    /// An empty disk with no faults.
    pub fn new() -> Self {
        let disk = Disk::default();
        disk.0.freeze_after.store(u64::MAX, Ordering::SeqCst);
        disk
    }

    /// A redb backend on this disk (one at a time: open the next after the store on the
    /// previous one is dropped).
    pub fn backend(&self) -> DiskBackend {
        DiskBackend(self.clone())
    }

    /// Every read fails from now on (or works again).
    pub fn fail_reads(&self, on: bool) {
        self.0.fail_reads.store(on, Ordering::SeqCst);
    }

    /// Every write, resize and sync fails as a full disk does (or works again).
    pub fn fail_writes(&self, on: bool) {
        self.0.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Completed syncs so far.
    pub fn syncs(&self) -> u64 {
        self.0.syncs.load(Ordering::SeqCst)
    }

    /// The durable image stops changing after `syncs` completed syncs: a power cut then
    /// leaves the disk as it was at that sync, whatever was synced after.
    pub fn freeze_after(&self, syncs: u64) {
        self.0.freeze_after.store(syncs, Ordering::SeqCst);
    }

    /// The power goes: the disk keeps its durable image only, and works again.
    pub fn power_cut(&self) {
        let mut images = self.images();
        images.live = images.durable.clone();
        self.0.freeze_after.store(u64::MAX, Ordering::SeqCst);
        self.0.fail_reads.store(false, Ordering::SeqCst);
        self.0.fail_writes.store(false, Ordering::SeqCst);
    }

    fn images(&self) -> MutexGuard<'_, Images> {
        self.0
            .images
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The redb side of a [`Disk`].
#[derive(Debug)]
pub struct DiskBackend(Disk);

fn injected(kind: io::ErrorKind, what: &str) -> io::Error {
    io::Error::new(kind, format!("injected fault: {what}"))
}

impl DiskBackend {
    fn writable(&self) -> io::Result<()> {
        if self.0.0.fail_writes.load(Ordering::SeqCst) {
            return Err(injected(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        Ok(())
    }
}

impl redb::StorageBackend for DiskBackend {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.images().live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        if self.0.0.fail_reads.load(Ordering::SeqCst) {
            return Err(injected(io::ErrorKind::Other, "read error"));
        }
        let images = self.0.images();
        let start =
            usize::try_from(offset).map_err(|_| injected(io::ErrorKind::InvalidInput, "offset"))?;
        let source = images
            .live
            .get(start..start + out.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "read past the end"))?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.writable()?;
        let len =
            usize::try_from(len).map_err(|_| injected(io::ErrorKind::InvalidInput, "length"))?;
        self.0.images().live.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.writable()?;
        let state = &self.0.0;
        let done = state.syncs.fetch_add(1, Ordering::SeqCst) + 1;
        if done <= state.freeze_after.load(Ordering::SeqCst) {
            let mut images = self.0.images();
            images.durable = images.live.clone();
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.writable()?;
        let start =
            usize::try_from(offset).map_err(|_| injected(io::ErrorKind::InvalidInput, "offset"))?;
        let mut images = self.0.images();
        let end = start + data.len();
        if images.live.len() < end {
            images.live.resize(end, 0);
        }
        images.live[start..end].copy_from_slice(data);
        Ok(())
    }
}
