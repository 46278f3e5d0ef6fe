//! A Byzantine node: one enrolled posyandu with a genuine certificate that, besides
//! syncing honestly, slips forged frames into its sessions at random during the faulty
//! phase: whole-record takeovers, changes under other nodes' actors, scope changes it may
//! not make, unsigned changes, and equivocation (two changes under one actor and sequence
//! number, one to each of two peers). The checkers show that no honest node stores any of
//! it, and that every change an honest node holds is signed by its author.

use rand::RngExt;
use simpul_model::automerge::{ActorId, Automerge};
use simpul_model::{
    FacilityPath, Klaster, Record, RecordBody, RecordId, Scope, Setting, Visit, VisitId,
};
use simpul_sync::Message;
use simpul_trust::{Seal, SealKind, signing_actor};

use crate::keys::keys;
use crate::world::Sim;

/// The Byzantine node of the simulated district (a posyandu of the first pustu).
pub(crate) const BYZANTINE: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY02";

/// The attacks it tries.
#[derive(Debug, Clone, Copy)]
enum Attack {
    /// A fresh document for a record id it knows, scoped to itself.
    Takeover,
    /// A visit on its own record under another node's actor, sealed with its own key.
    ForgedActor,
    /// Its own record moved or widened to a sibling, which it may not do.
    ScopeChange,
    /// A visit with no seal at all.
    Unsigned,
    /// Two different visits under one actor and sequence number, to two peers.
    Equivocation,
}

const ATTACKS: [Attack; 5] = [
    Attack::Takeover,
    Attack::ForgedActor,
    Attack::ScopeChange,
    Attack::Unsigned,
    Attack::Equivocation,
];

impl Sim {
    /// The Byzantine node tries one attack on its open connections.
    pub(crate) fn byzantine_attack(&mut self) {
        let Some(byz) = self.byzantine else {
            return;
        };
        if !self.nodes[byz].up {
            return;
        }
        let links: Vec<usize> = self.open_links_of(byz);
        if links.is_empty() {
            return;
        }
        let attack = ATTACKS[self.rng.random_range(0..ATTACKS.len())];
        let link = links[self.rng.random_range(0..links.len())];
        let own: Vec<RecordId> = self.nodes[byz]
            .store
            .records()
            .iter()
            .filter(|(_, s)| s.record.patient().is_some())
            .map(|(id, _)| *id)
            .collect();
        let pick = |sim: &mut Sim, ids: &[RecordId]| {
            (!ids.is_empty()).then(|| ids[sim.rng.random_range(0..ids.len())])
        };
        let frames: Vec<(usize, Vec<Message>)> = match attack {
            Attack::Takeover => {
                let known: Vec<RecordId> = self.created.clone();
                let Some(id) = pick(self, &known) else { return };
                self.takeover(byz, id)
                    .map(|m| vec![(link, m)])
                    .unwrap_or_default()
            }
            Attack::ForgedActor => {
                let Some(id) = pick(self, &own) else { return };
                let victim = self.rng.random_range(0..self.nodes.len());
                let actor = {
                    let cert = &keys().nodes[victim].certified;
                    signing_actor(&cert.facility, cert.key, [victim as u8, 0, 0, 0])
                };
                self.visit_by(byz, id, actor, true)
                    .map(|m| vec![(link, m)])
                    .unwrap_or_default()
            }
            Attack::ScopeChange => {
                let Some(id) = pick(self, &own) else { return };
                self.scope_change(byz, id)
                    .map(|m| vec![(link, m)])
                    .unwrap_or_default()
            }
            Attack::Unsigned => {
                let Some(id) = pick(self, &own) else { return };
                let actor = self.byzantine_actor(byz);
                self.visit_by(byz, id, actor, false)
                    .map(|m| vec![(link, m)])
                    .unwrap_or_default()
            }
            Attack::Equivocation => {
                let Some(id) = pick(self, &own) else { return };
                let other = links[self.rng.random_range(0..links.len())];
                let actor = self.byzantine_actor(byz);
                let first = self.visit_by(byz, id, actor.clone(), true);
                let second = self.visit_by(byz, id, actor, true);
                [(link, first), (other, second)]
                    .into_iter()
                    .filter_map(|(l, m)| m.map(|m| (l, m)))
                    .collect()
            }
        };
        if std::env::var_os("SIMPUL_SIM_TRACE").is_some() {
            eprintln!("byzantine node {byz}: {attack:?} on link {link}");
        }
        if !frames.is_empty() {
            self.attacks += 1;
        }
        for (l, msgs) in frames {
            self.inject(l, byz, msgs);
        }
    }

    /// The actor the Byzantine node writes with (its own, bound to its key).
    fn byzantine_actor(&self, byz: usize) -> ActorId {
        let cert = &keys().nodes[byz].certified;
        signing_actor(&cert.facility, cert.key, [byz as u8, 0, 0, 0])
    }

    fn seal(&self, byz: usize, id: RecordId, doc: &Automerge) -> Seal {
        keys().nodes[byz]
            .signer
            .seal(id, SealKind::Author, &doc.get_heads())
    }

    /// The Byzantine node's certificate, sent before its seals.
    fn cert(byz: usize) -> Message {
        Message::Cert {
            der: keys().nodes[byz].certified.der.to_vec(),
        }
    }

    fn takeover(&mut self, byz: usize, id: RecordId) -> Option<Vec<Message>> {
        let path = self.nodes[byz].path.clone();
        let mut record = self.sample_record(id, &path);
        record.scope = Scope::up(path);
        let doc = record
            .create_document(self.byzantine_actor(byz), self.today, 99_000)
            .ok()?;
        let seal = self.seal(byz, id, &doc);
        Some(vec![
            Self::cert(byz),
            Message::Record {
                id: *id.as_bytes(),
                bytes: doc.save(),
                seals: vec![seal],
            },
        ])
    }

    /// A record with id `id` and nothing of anyone else's in it.
    fn sample_record(&self, id: RecordId, home: &FacilityPath) -> Record {
        let mut record = self
            .nodes
            .iter()
            .find_map(|n| n.store.records().get(&id).map(|s| s.record.clone()))
            .unwrap_or_else(|| crate::world::blank_patient(id, home.clone(), self.today));
        if let RecordBody::Patient(p) = &mut record.body {
            p.visits.clear();
            p.home_facility = home.clone();
        }
        record
    }

    /// A visit on record `id` (which node `byz` holds) written by `actor`, sealed with the
    /// Byzantine node's key if `sealed`.
    fn visit_by(
        &mut self,
        byz: usize,
        id: RecordId,
        actor: ActorId,
        sealed: bool,
    ) -> Option<Vec<Message>> {
        let doc = self.nodes[byz].store.load(id)?;
        let before = Record::from_document(&doc).ok()?;
        let mut after = before.clone();
        if let RecordBody::Patient(p) = &mut after.body {
            let mut v = Visit::new(
                self.today,
                self.nodes[byz].path.clone(),
                Klaster::DewasaLansia,
                Setting::Posyandu,
                "byzantine",
            );
            v.measurements.weight_kg = Some(f64::from(self.rng.random_range(40..90)));
            p.visits
                .insert(VisitId::from_bytes(self.rng.random()).to_string(), v);
        }
        let mut forged = doc.fork().with_actor(actor);
        after
            .write_over(&before, &mut forged, self.today, 98_000)
            .ok()?;
        Some(self.changes(byz, id, &doc, &forged, sealed))
    }

    fn scope_change(&mut self, byz: usize, id: RecordId) -> Option<Vec<Message>> {
        let doc = self.nodes[byz].store.load(id)?;
        let before = Record::from_document(&doc).ok()?;
        let sibling = self
            .nodes
            .iter()
            .map(|n| n.path.clone())
            .find(|p| p.depth() == 4 && *p != self.nodes[byz].path)?;
        let mut after = before.clone();
        if self.rng.random_bool(0.5) {
            after.scope.paths.push(sibling);
        } else {
            after.scope = Scope::up(sibling);
        }
        let mut changed = doc.fork().with_actor(self.byzantine_actor(byz));
        after
            .write_over(&before, &mut changed, self.today, 97_000)
            .ok()?;
        Some(self.changes(byz, id, &doc, &changed, true))
    }

    /// `Changes` bringing a holder of `base` up to `doc`, with the record's stored seals
    /// and (if `sealed`) one by the Byzantine node over the new heads.
    fn changes(
        &self,
        byz: usize,
        id: RecordId,
        base: &Automerge,
        doc: &Automerge,
        sealed: bool,
    ) -> Vec<Message> {
        let (mut seals, certs) = self.nodes[byz].store.sealing(id);
        if sealed {
            seals.push(self.seal(byz, id, doc));
        }
        let mut msgs: Vec<Message> = certs
            .into_iter()
            .map(|(_, der)| Message::Cert { der: der.to_vec() })
            .collect();
        msgs.push(Self::cert(byz));
        msgs.push(Message::Changes {
            id: *id.as_bytes(),
            bytes: doc.save_after(&base.get_heads()),
            heads: doc.get_heads().iter().map(|h| h.0).collect(),
            seals,
        });
        msgs
    }
}
