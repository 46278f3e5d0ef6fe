//! Kader trips: with [`crate::SimConfig::bundle_only`], one posyandu has no link at all
//! and syncs with its pustu only by bundles carried between them (the real
//! `simpul_bundle` create and apply on both real stores): a bundle goes to the pustu,
//! which applies it and answers, and the answer comes back. Some trips lose the answer on
//! the way, or bring an old bundle a second time (refused as a replay). The checkers then
//! hold the posyandu to what they hold every node to.

use rand::RngExt;
use simpul_model::FacilityPath;

use crate::storage::Storage;
use crate::world::Sim;

/// The posyandu that only ever exchanges bundles (not the Byzantine one).
pub(crate) const BUNDLE_ONLY: &str = "3273/P3273020201/3273020201-PU2/3273020201-PY04";

impl Sim {
    /// The bundle-only posyandu and its pustu, when the run has one.
    pub(crate) fn bundle_pair(&self) -> Option<(usize, usize)> {
        if !self.cfg.bundle_only {
            return None;
        }
        let py = self
            .nodes
            .iter()
            .position(|n| n.path.as_str() == BUNDLE_ONLY)?;
        let parent: FacilityPath = self.nodes[py].path.parent()?;
        let pu = self.nodes.iter().position(|n| n.path == parent)?;
        Some((py, pu))
    }

    /// One trip, if both ends are up and keep the real store. A `careful` kader (while
    /// the district settles) loses no answer.
    pub(crate) fn kader_trip(&mut self, careful: bool) {
        let Some((py, pu)) = self.bundle_pair() else {
            return;
        };
        if !(self.nodes[py].up && self.nodes[pu].up) {
            return;
        }
        let (Storage::Disk(py_store), Storage::Disk(pu_store)) =
            (&self.nodes[py].store, &self.nodes[pu].store)
        else {
            return;
        };
        let (py_path, pu_path) = (self.nodes[py].path.clone(), self.nodes[pu].path.clone());
        let pu_cert = pu_store
            .store_ref()
            .signer()
            .map(|s| s.certified().der.to_vec());
        let now = py_store.now_ms().max(pu_store.now_ms());
        let today = self.today;
        let bundle = match simpul_bundle::create(
            py_store.store_ref(),
            &pu_path,
            pu_cert.as_deref(),
            None,
            None,
            now,
        ) {
            Ok(created) => created.files,
            Err(e) => {
                self.violations
                    .push(format!("seed {}: bundle for {pu_path}: {e}", self.cfg.seed));
                return;
            }
        };
        let mut answers = Vec::new();
        for file in &bundle {
            match simpul_bundle::apply(pu_store.store_ref(), file, today, now) {
                Ok((applied, _)) => answers.push(applied.raw_id),
                Err(e) => {
                    self.violations.push(format!(
                        "seed {}: applying {py_path}'s bundle: {e}",
                        self.cfg.seed
                    ));
                    return;
                }
            }
        }
        // The kader also brings last trip's bundle again: refused as a replay.
        if let Some(old) = self.last_bundle.replace(bundle[0].clone())
            && !careful
            && self.rng.random_bool(0.2)
            && !matches!(
                simpul_bundle::apply(pu_store.store_ref(), &old, today, now),
                Err(simpul_bundle::BundleError::Replayed { .. })
            )
        {
            self.violations.push(format!(
                "seed {}: an old bundle applied again was not refused as a replay",
                self.cfg.seed
            ));
        }
        let answer = match simpul_bundle::create(
            pu_store.store_ref(),
            &py_path,
            None,
            None,
            answers.last().copied(),
            now,
        ) {
            Ok(created) => created.files,
            Err(e) => {
                self.violations
                    .push(format!("seed {}: answer for {py_path}: {e}", self.cfg.seed));
                return;
            }
        };
        // One answer in five is lost on the way back (a phone dropped in the river).
        let lost = !careful && self.rng.random_bool(0.2);
        if !lost {
            for file in &answer {
                if let Err(e) = simpul_bundle::apply(py_store.store_ref(), file, today, now) {
                    self.violations.push(format!(
                        "seed {}: applying {pu_path}'s answer: {e}",
                        self.cfg.seed
                    ));
                }
            }
        }
        self.trips += 1;
        for n in [py, pu] {
            if let Storage::Disk(s) = &mut self.nodes[n].store
                && let Err(e) = s.refresh()
            {
                self.violations.push(format!("node {n}: {e}"));
            }
        }
    }
}
