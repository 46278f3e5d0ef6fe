//! Reconciliation rounds and the plan they produce.

use std::collections::HashSet;

use negentropy::{Negentropy, NegentropyStorageVector};
use simpul_model::RecordId;

use super::{Part, Query, Reconciliation, Role, Session, wire};
use crate::error::SessionError;
use crate::item::{Item, record_of, storage};
use crate::message::{Message, WireId};

/// Bytes of one excluded id on the wire (postcard: the 16 bytes, no prefix).
const EXCLUDED_ID_BYTES: usize = 16;

/// Bytes of one `Held` entry on the wire: the id and the version.
const HELD_ENTRY_BYTES: usize = 32;

/// Room left in a frame for a message's header, tag and length prefixes.
const FRAME_OVERHEAD: usize = 64;

impl Session {
    /// The shared items, read by the driver after [`super::Effect::ReadItems`].
    pub fn handle_items(&mut self, items: Vec<Item>) {
        if self.closed || !self.items_requested {
            return;
        }
        self.items_requested = false;
        self.shared_items = items.iter().map(|i| (i.id, *i)).collect();
        let started = match self.role {
            Role::Initiator => self.initiate(),
            Role::Responder => match self.stashed_query.take() {
                Some(Query::Whole(payload)) => self.open_part(Part::Whole, &payload),
                Some(Query::Recent { since, payload }) => {
                    self.open_part(Part::Recent { since }, &payload)
                }
                None => Ok(()),
            },
        };
        if let Err(e) = started {
            return self.close(e);
        }
        self.pump();
    }

    /// Negentropy over the shared items that `keep` keeps.
    fn negentropy(
        &self,
        keep: impl Fn(&Item) -> bool,
    ) -> Result<Negentropy<'static, NegentropyStorageVector>, SessionError> {
        let items: Vec<Item> = self
            .shared_items
            .values()
            .filter(|i| keep(i))
            .copied()
            .collect();
        storage(&items)
            .and_then(|s| Negentropy::owned(s, self.cfg.reconcile_frame))
            .map_err(|e| SessionError::Reconcile(format!("{e:?}")))
    }

    /// The initiator's round 0: over every item, or (when the pair was in sync up to
    /// `since`) over the recent ones first.
    fn initiate(&mut self) -> Result<(), SessionError> {
        let part = match self.since {
            0 => Part::Whole,
            since => Part::Recent { since },
        };
        let mut neg = self.negentropy(|i| part.covers(i.time))?;
        let payload = neg
            .initiate()
            .map_err(|e| SessionError::Reconcile(format!("{e:?}")))?;
        let msg = match part {
            Part::Recent { since } => Message::ReconcileRecent { since, payload },
            _ => Message::Reconcile { round: 0, payload },
        };
        self.recon = Some(Reconciliation::new(neg, part));
        self.stats.reconcile_rounds += 1;
        self.send(&msg);
        Ok(())
    }

    /// The responder's side of a part that starts with `payload` (round 0).
    fn open_part(&mut self, part: Part, payload: &[u8]) -> Result<(), SessionError> {
        let neg = self.negentropy(|i| {
            part.covers(i.time)
                && !matches!(&part, Part::Older { excluded, .. } if excluded.contains(&i.id))
        })?;
        self.recon = Some(Reconciliation::new(neg, part));
        self.answer(0, payload)
    }

    /// A reconciliation's round 0 at the responder: answered once the items are read.
    /// Another round 0 while the items are being read replaces the query waiting for
    /// them: one read in flight, however many round-0 frames arrive.
    pub(super) fn on_round_zero(&mut self, query: Query) {
        self.recon = None;
        self.stashed_query = Some(query);
        if !self.items_requested {
            self.items_requested = true;
            self.effects.push_back(super::Effect::ReadItems);
        }
    }

    /// The older part at the responder: name the versions it holds of the records the
    /// initiator found in the recent part, and leave them out.
    pub(super) fn on_reconcile_older(
        &mut self,
        exclude: Vec<WireId>,
        payload: &[u8],
    ) -> Result<(), SessionError> {
        if self.role == Role::Initiator {
            return Err(SessionError::Protocol(
                "reconcile-older sent to the initiator".into(),
            ));
        }
        let since = match self.recon.as_ref().map(|r| &r.part) {
            Some(Part::Recent { since }) => *since,
            _ => {
                return Err(SessionError::Protocol(
                    "reconcile-older without a recent part before it".into(),
                ));
            }
        };
        let mut excluded = HashSet::with_capacity(exclude.len());
        let mut versions = Vec::new();
        for w in exclude {
            let id = RecordId::from_bytes(w);
            if excluded.insert(id)
                && let Some(item) = self.shared_items.get(&id)
            {
                let mut version = [0u8; 16];
                version.copy_from_slice(&item.digest[..16]);
                versions.push((w, version));
            }
        }
        if !versions.is_empty() {
            self.send(&Message::Held { versions });
        }
        self.open_part(Part::Older { since, excluded }, payload)
    }

    /// The responder's versions of records the initiator asked it to leave out: the
    /// differences the older part would otherwise have had to search for.
    pub(super) fn on_held(
        &mut self,
        versions: Vec<(WireId, [u8; 16])>,
    ) -> Result<(), SessionError> {
        let Some(recon) = self.recon.as_mut().filter(|_| self.role == Role::Initiator) else {
            return Err(SessionError::Protocol("unexpected held".into()));
        };
        let (Part::Older { excluded, .. }, 0) = (&mut recon.part, recon.round) else {
            return Err(SessionError::Protocol(
                "held outside the start of the older part".into(),
            ));
        };
        for (w, version) in versions {
            let id = RecordId::from_bytes(w);
            // Each left-out record is named at most once.
            if !excluded.remove(&id) {
                return Err(SessionError::Protocol(format!(
                    "held names record {id}, which was not left out (or named it twice)"
                )));
            }
            let mut bytes = [0u8; 32];
            bytes[..16].copy_from_slice(&w);
            bytes[16..].copy_from_slice(&version);
            recon.need.push(negentropy::Id::from_byte_array(bytes));
        }
        Ok(())
    }

    pub(super) fn on_reconcile(
        &mut self,
        round: u32,
        payload: Vec<u8>,
    ) -> Result<(), SessionError> {
        match self.role {
            Role::Responder => {
                if round == 0 {
                    // A new reconciliation: answer it from a fresh reading of the items.
                    self.on_round_zero(Query::Whole(payload));
                    return Ok(());
                }
                if self.items_requested {
                    return Err(SessionError::Protocol(
                        "reconcile round before round 0 was answered".into(),
                    ));
                }
                self.answer(round, &payload)
            }
            Role::Initiator => {
                let Some(recon) = self.recon.as_mut() else {
                    return Err(SessionError::Protocol("unexpected reconcile reply".into()));
                };
                if round != recon.round {
                    return Err(SessionError::Protocol(format!(
                        "reconcile round {round}, expected {}",
                        recon.round
                    )));
                }
                let next = recon
                    .neg
                    .reconcile_with_ids(&payload, &mut recon.have, &mut recon.need)
                    .map_err(|e| SessionError::Reconcile(format!("{e:?}")))?;
                match next {
                    Some(payload) => {
                        recon.round += 1;
                        let round = recon.round;
                        self.stats.reconcile_rounds += 1;
                        self.send(&Message::Reconcile { round, payload });
                    }
                    None => match recon.part {
                        Part::Recent { since } => self.reconcile_older(since)?,
                        _ => self.finish_reconciliation(),
                    },
                }
                Ok(())
            }
        }
    }

    /// The recent part is done: reconcile the older items, each side leaving out the
    /// records the recent part found. Where the peer holds a newer version, this side
    /// knows its own without a search; where this side holds one the peer lacks, the peer
    /// leaves out its own version and names it (`Held`).
    fn reconcile_older(&mut self, since: u64) -> Result<(), SessionError> {
        let Some(mut recon) = self.recon.take() else {
            return Ok(());
        };
        let have: HashSet<RecordId> = recon.have.iter().map(record_of).collect();
        let need: HashSet<RecordId> = recon.need.iter().map(record_of).collect();
        for id in &need {
            if !have.contains(id)
                && let Some(item) = self.shared_items.get(id)
            {
                recon.have.push(item.negentropy_id());
            }
        }
        recon.neg = self.negentropy(|i| i.time < since && !need.contains(&i.id))?;
        let payload = recon
            .neg
            .initiate()
            .map_err(|e| SessionError::Reconcile(format!("{e:?}")))?;
        let mut exclude: Vec<RecordId> = have.difference(&need).copied().collect();
        exclude.sort_by_key(|id| (self.shared_items.get(id).map_or(0, |i| i.time), *id));
        // Any subset is correct (what is not left out is found by the search): leave out
        // no more than fit beside the payload, and whose versions fit in one `Held`.
        let frame = self.peer_max_frame as usize;
        let room = frame.saturating_sub(payload.len() + FRAME_OVERHEAD) / EXCLUDED_ID_BYTES;
        let held_room = frame.saturating_sub(FRAME_OVERHEAD) / HELD_ENTRY_BYTES;
        exclude.truncate(room.min(held_room));
        recon.round = 0;
        recon.part = Part::Older {
            since,
            excluded: exclude.iter().copied().collect(),
        };
        self.recon = Some(recon);
        self.stats.reconcile_rounds += 1;
        self.send(&Message::ReconcileOlder {
            exclude: exclude.into_iter().map(wire).collect(),
            payload,
        });
        Ok(())
    }

    /// The responder's reply to one reconciliation round.
    fn answer(&mut self, round: u32, payload: &[u8]) -> Result<(), SessionError> {
        let Some(recon) = self.recon.as_mut() else {
            return Err(SessionError::Protocol(format!(
                "reconcile round {round} without round 0"
            )));
        };
        let reply = recon
            .neg
            .reconcile(payload)
            .map_err(|e| SessionError::Reconcile(format!("{e:?}")))?;
        self.stats.reconcile_rounds += 1;
        self.send(&Message::Reconcile {
            round,
            payload: reply,
        });
        Ok(())
    }

    /// Turns the differences into a plan: send whole what only we hold, ask for what only
    /// the peer holds, and exchange heads where both hold a version.
    fn finish_reconciliation(&mut self) {
        let Some(recon) = self.recon.take() else {
            return;
        };
        // In sync up to and including the newest item: the next recent part starts after it.
        self.watermark = self
            .shared_items
            .values()
            .map(|i| i.time.saturating_add(1))
            .max();
        let have: HashSet<RecordId> = recon.have.iter().map(record_of).collect();
        let need: HashSet<RecordId> = recon.need.iter().map(record_of).collect();
        let mut sending: Vec<RecordId> = have.difference(&need).copied().collect();
        let mut wanting: Vec<RecordId> = need.difference(&have).copied().collect();
        let mut differing: Vec<RecordId> = have.intersection(&need).copied().collect();
        // Deterministic order, oldest change first (as the items are ordered).
        let time = |id: &RecordId| self.shared_items.get(id).map_or(0, |i| i.time);
        sending.sort_by_key(|id| (time(id), *id));
        wanting.sort();
        differing.sort_by_key(|id| (time(id), *id));
        let plan = (
            sending.len() as u32,
            wanting.len() as u32,
            differing.len() as u32,
        );
        self.stats.last_plan = Some(plan);
        self.send(&Message::Reconciled {
            sending: plan.0,
            wanting: plan.1,
            differing: plan.2,
        });
        // What an earlier round asked for and is still to come is asked for again.
        self.awaiting = wanting.iter().copied().collect();
        for chunk in wanting.chunks(self.cfg.want_batch.max(1)) {
            self.send(&Message::Want {
                ids: chunk.iter().map(|id| *id.as_bytes()).collect(),
            });
        }
        self.send_queue.extend(sending);
        // The peer's item of a differing record names its version (a heads digest): if
        // that is a past version of ours, the exchange can skip asking for its heads.
        self.peer_versions = recon
            .need
            .iter()
            .filter(|n| have.contains(&record_of(n)))
            .map(|n| {
                let mut version = [0u8; 16];
                version.copy_from_slice(&n.as_bytes()[16..]);
                (record_of(n), version)
            })
            .collect();
        self.sync_queue.extend(differing);
    }

    /// Issues whatever the limits allow: a new round, reads of records to send, loads of
    /// documents to sync.
    pub(super) fn pump(&mut self) {
        if self.closed {
            return;
        }
        if self.round_wanted && self.hello_received && self.recon.is_none() && !self.items_requested
        {
            self.round_wanted = false;
            self.items_requested = true;
            self.effects.push_back(super::Effect::ReadItems);
        }
        while self.unacked.len() + self.reading.len() < self.cfg.max_in_flight {
            let Some(id) = self.send_queue.pop_front() else {
                break;
            };
            if self.reading.insert(id) {
                self.effects.push_back(super::Effect::ReadRecord { id });
            }
        }
        // Exchanges send changes without waiting for an answer when the peer holds a past
        // version: they count against the same in-flight limit as whole records, or a
        // peer would load every such record at once.
        while self.syncs.len() < self.cfg.max_syncing
            && self.unacked.len() + self.reading.len() < self.cfg.max_in_flight
        {
            let Some(id) = self.sync_queue.pop_front() else {
                break;
            };
            self.open_exchange(id);
        }
    }
}
