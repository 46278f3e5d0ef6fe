//! Who writes a generated history: the node alone, or (`--authors-ca`) every facility
//! that saw the person with its own key, as a district's records really grow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use simpul_gen::{Step, Written, write_history};
use simpul_model::automerge::ActorId;
use simpul_model::{Date, FacilityPath, Record, RecordId, node_actor};
use simpul_net::DistrictCa;
use simpul_store::{Offer, PeerData, Store, WriteError};
use simpul_trust::{Authority, KeyId, SealKind, Signer, signing_actor};
use time::OffsetDateTime;

use super::Pending;
use simpul_node::clock::now_ms;

/// One facility writing: its key and the actor bound to it.
struct Author {
    signer: Arc<Signer>,
    actor: ActorId,
}

/// The writers of generated records.
pub(crate) struct Authors {
    /// The node's own key, when the store has one.
    own: Option<Arc<Author>>,
    /// With `--authors-ca`: the CA that issues the other facilities' keys, and them.
    issuer: Option<(DistrictCa, Arc<Authority>)>,
    issued: Mutex<HashMap<FacilityPath, Arc<Author>>>,
}

impl Authors {
    /// The node writes everything (`issuer` None), or each facility with its own key.
    pub(crate) fn new(
        store: &Store,
        own: Option<Arc<Signer>>,
        issuer: Option<(DistrictCa, Arc<Authority>)>,
    ) -> Self {
        let own = own.map(|signer| {
            Arc::new(Author {
                signer,
                actor: store.node().actor.clone(),
            })
        });
        Self {
            own,
            issuer,
            issued: Mutex::default(),
        }
    }

    /// The key `facility` writes with: the node's for itself, else one issued for it.
    fn author(&self, store: &Store, facility: &FacilityPath) -> Result<Option<Arc<Author>>> {
        let Some((ca, authority)) = &self.issuer else {
            return Ok(self.own.clone());
        };
        if *facility == store.node().path {
            return Ok(self.own.clone());
        }
        let mut issued = self
            .issued
            .lock()
            .map_err(|_| anyhow::anyhow!("a generator thread panicked"))?;
        if let Some(a) = issued.get(facility) {
            return Ok(Some(a.clone()));
        }
        let not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
        let identity = ca
            .issue(facility, not_before, 3650)
            .with_context(|| format!("failed to issue a key for {facility}"))?;
        let signer = Arc::new(Signer::from_pem(
            authority,
            &identity.cert_pem,
            &identity.key_pem,
        )?);
        let actor = signing_actor(facility, signer.key(), [0, 0, 0, 1]);
        let author = Arc::new(Author { signer, actor });
        issued.insert(facility.clone(), author.clone());
        Ok(Some(author))
    }

    /// The id `record` is stored under when `creator` creates it: bound to the
    /// creator's key, as a node binds the ids of what it creates.
    pub(crate) fn bound_id(&self, store: &Store, record: &Record) -> Result<RecordId> {
        let creator = self.author(store, &record.scope.paths[0])?;
        Ok(match (creator, store.node().key) {
            (Some(a), _) => bind(record.id, a.signer.key()),
            (None, Some(k)) => bind(record.id, k),
            (None, None) => record.id,
        })
    }

    /// Writes `steps` (a record's history, oldest first) as one change each and queues
    /// the record: through the node's own write path when the node wrote it all, else
    /// sealed by each author and offered as a peer's record is.
    pub(crate) fn submit(&self, store: &Store, steps: Vec<Step>, today: Date) -> Result<Pending> {
        let Some(first) = steps.first() else {
            bail!("an empty history");
        };
        let id = self.bound_id(store, &first.record)?;
        let steps: Vec<Step> = steps
            .into_iter()
            .map(|s| Step {
                record: Record { id, ..s.record },
                ..s
            })
            .collect();
        // Who writes each step: the facility's own key with an issuer, else the node.
        let mut writers: HashMap<FacilityPath, Option<Arc<Author>>> = HashMap::new();
        for step in &steps {
            if !writers.contains_key(&step.author) {
                let author = match &self.issuer {
                    Some(_) => self.author(store, &step.author)?,
                    None => self.own.clone(),
                };
                writers.insert(step.author.clone(), author);
            }
        }
        let actor_of = |facility: &FacilityPath| match (writers.get(facility), store.node().key) {
            (Some(Some(a)), _) => a.actor.clone(),
            (_, Some(_)) => store.node().actor.clone(),
            (_, None) => node_actor(facility, [0, 0, 0, 1]),
        };
        let written = write_history(steps, today, actor_of)
            .with_context(|| format!("generated record {id} is invalid"))?
            .context("an empty history")?;
        let by_others = written.last_change_of.keys().any(|f| {
            matches!((writers.get(f), &self.own), (Some(Some(a)), Some(own)) if !Arc::ptr_eq(a, own))
        });
        let Written {
            doc,
            record,
            last_change_of,
        } = written;
        if !by_others {
            return Ok(store.write_queued(id, now_ms(), move |slot| {
                if slot.is_some() {
                    return Err(WriteError::AlreadyExists(id));
                }
                *slot = Some(doc);
                Ok(record)
            }));
        }
        let mut seals = Vec::new();
        let mut certs = Vec::new();
        for (facility, head) in &last_change_of {
            let author = writers
                .get(facility)
                .cloned()
                .flatten()
                .with_context(|| format!("no key for {facility}"))?;
            seals.push(author.signer.seal(id, SealKind::Author, &[*head]));
            certs.push((author.signer.key(), author.signer.certified().der.clone()));
        }
        let from = PeerData {
            peer: store.node().path.clone(),
            seals,
            certs,
        };
        match store.offer_queued(id, doc, None, from, today, now_ms())? {
            Offer::Queued(commit) => Ok(commit),
            Offer::Done(_) => bail!("generated record {id} was refused as moved away"),
        }
    }
}

/// `id` bound to `key`.
fn bind(id: RecordId, key: KeyId) -> RecordId {
    id.bind([key.0[0], key.0[1], key.0[2], key.0[3]])
}
