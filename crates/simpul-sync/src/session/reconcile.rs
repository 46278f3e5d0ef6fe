//! Reconciliation rounds and the plan they produce.

use std::collections::HashSet;

use negentropy::Negentropy;
use simpul_model::RecordId;

use super::{Reconciliation, Role, Session};
use crate::error::SessionError;
use crate::item::{Item, record_of, storage};
use crate::message::Message;

impl Session {
    /// The shared items, read by the driver after [`super::Effect::ReadItems`].
    pub fn handle_items(&mut self, items: Vec<Item>) {
        if self.closed || !self.items_requested {
            return;
        }
        self.items_requested = false;
        self.shared_items = items.iter().map(|i| (i.id, *i)).collect();
        let neg = match storage(&items).and_then(|s| Negentropy::owned(s, self.cfg.reconcile_frame))
        {
            Ok(neg) => neg,
            Err(e) => return self.close(SessionError::Reconcile(format!("{e:?}"))),
        };
        let mut recon = Reconciliation {
            neg,
            have: Vec::new(),
            need: Vec::new(),
            round: 0,
        };
        match self.role {
            Role::Initiator => match recon.neg.initiate() {
                Ok(payload) => {
                    self.recon = Some(recon);
                    self.stats.reconcile_rounds += 1;
                    self.send(&Message::Reconcile { round: 0, payload });
                }
                Err(e) => self.close(SessionError::Reconcile(format!("{e:?}"))),
            },
            Role::Responder => {
                self.recon = Some(recon);
                if let Some((round, payload)) = self.stashed_query.take()
                    && let Err(e) = self.answer(round, &payload)
                {
                    self.close(e);
                }
            }
        }
        self.pump();
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
                    self.recon = None;
                    self.stashed_query = Some((round, payload));
                    self.items_requested = true;
                    self.effects.push_back(super::Effect::ReadItems);
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
                    None => self.finish_reconciliation(),
                }
                Ok(())
            }
        }
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
