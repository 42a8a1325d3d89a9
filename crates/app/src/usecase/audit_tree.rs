//! Signed checkpoints of the audit log (RFC 9162 style): every so often
//! the events not yet in the Merkle tree are taken into it and, when it
//! grew, its size and root are signed with the audit key, stored, and
//! appended to a file outside the database (`<data_dir>/audit/
//! checkpoints.log`, fsynced). An auditor keeps a checkpoint and later
//! asks for the proof that the newer tree extends it.

use std::io::Write;

use chrono::{DateTime, Utc};
use rapport_audit::merkle::{self, TreeHash};
use rapport_store::audit_tree::{self as store, Checkpoint};

use super::UseCaseError;
use crate::state::AppState;

/// Events taken into the tree per round at most (the rest next round).
const TAKE: i64 = 100_000;

/// The text a checkpoint's signature covers.
pub fn signed_text(instance: &str, c: &Checkpoint) -> String {
    format!(
        "rapport audit checkpoint v1\n{instance}\n{}\n{}\n{}\n",
        c.tree_size,
        c.root_hash,
        rapport_audit::format_at(&c.created_at.and_utc())
    )
}

fn hex_hash(text: &str) -> Result<TreeHash, UseCaseError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| UseCaseError::Internal(format!("a stored tree hash is unreadable: {text}")))?;
    Ok(out)
}

fn tree(conn: &mut rapport_store::DbConnection, size: i64) -> Result<Vec<TreeHash>, UseCaseError> {
    store::leaves(conn, size)?
        .iter()
        .map(|h| hex_hash(h))
        .collect()
}

/// Takes new events into the tree and, when it grew, signs and keeps a
/// checkpoint; returns it (`None`: nothing new).
pub fn checkpoint(
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<Option<Checkpoint>, UseCaseError> {
    let signer = state.secrets.audit.clone();
    let made = state.store.write(|conn| {
        let size = store::extend(conn, TAKE, |event_hash| {
            let bytes = hex_hash(event_hash)
                .map_err(|e| rapport_store::StoreError::Corrupt(e.to_string()))?;
            Ok(hex::encode(merkle::leaf_hash(&bytes)))
        })?;
        if store::latest(conn)?.is_some_and(|c| c.tree_size >= size) || size == 0 {
            return Ok::<_, UseCaseError>(None);
        }
        let leaves = tree(conn, size)?;
        let instance = rapport_store::instance::ensure(conn)?.id.to_string();
        let mut c = Checkpoint {
            tree_size: size,
            root_hash: hex::encode(merkle::root(&leaves)),
            created_at: rapport_audit::to_micros(now).naive_utc(),
            key_id: signer.public_key().key_id(),
            signature: String::new(),
        };
        c.signature = signer.sign(signed_text(&instance, &c).as_bytes());
        store::insert_checkpoint(conn, &c)?;
        super::mail::mail_checkpoint_witnesses(
            conn,
            state,
            c.tree_size,
            &as_json(&instance, &c).to_string(),
        )?;
        Ok(Some((c, instance)))
    })?;
    let Some((c, instance)) = made else {
        return Ok(None);
    };
    witness_file(state, &instance, &c)?;
    Ok(Some(c))
}

/// A checkpoint as exports, witnesses and `checkpoints.log` carry it
/// (read back as [`Witnessed`]).
pub fn as_json(instance: &str, c: &Checkpoint) -> serde_json::Value {
    serde_json::json!({
        "instance": instance,
        "tree_size": c.tree_size,
        "root_hash": c.root_hash,
        "created_at": rapport_audit::format_at(&c.created_at.and_utc()),
        "key_id": c.key_id,
        "signature": c.signature,
    })
}

/// Appends a checkpoint to the file outside the database, one JSON line
/// each, fsynced before the checkpoint counts as made.
fn witness_file(state: &AppState, instance: &str, c: &Checkpoint) -> Result<(), UseCaseError> {
    let dir = state.config.settings.data_dir.join("audit");
    crate::durable::private_dir(&dir).map_err(|e| UseCaseError::file("audit directory", &e))?;
    let line = as_json(instance, c);
    let path = dir.join("checkpoints.log");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| UseCaseError::file("checkpoints.log", &e))?;
    writeln!(file, "{line}").map_err(|e| UseCaseError::file("checkpoints.log", &e))?;
    file.sync_all()
        .map_err(|e| UseCaseError::file("checkpoints.log", &e))?;
    Ok(())
}

/// The newest checkpoint, or the one of a given tree size.
pub fn get(state: &AppState, size: Option<i64>) -> Result<(Checkpoint, String), UseCaseError> {
    let mut conn = state.store.conn()?;
    let c = match size {
        Some(s) => store::at_size(&mut conn, s)?,
        None => store::latest(&mut conn)?,
    }
    .ok_or(UseCaseError::NotFound("checkpoint"))?;
    let instance = rapport_store::instance::ensure(&mut conn)?.id.to_string();
    Ok((c, instance))
}

/// The consistency proof between the trees of two checkpoints' sizes.
pub fn consistency(state: &AppState, from: i64, to: i64) -> Result<Vec<String>, UseCaseError> {
    consistency_in(&mut *state.store.conn()?, from, to)
}

fn consistency_in(
    conn: &mut rapport_store::DbConnection,
    from: i64,
    to: i64,
) -> Result<Vec<String>, UseCaseError> {
    if from < 0 || from > to {
        return Err(super::input::invalid("from", "must be from 0 to `to`"));
    }
    let latest = store::latest(conn)?.map_or(0, |c| c.tree_size);
    if to > latest {
        return Err(super::input::invalid(
            "to",
            format!("the newest checkpoint has {latest} events"),
        ));
    }
    let leaves = tree(conn, to)?;
    Ok(
        merkle::consistency_proof(&leaves, usize::try_from(from).unwrap_or(0))
            .iter()
            .map(hex::encode)
            .collect(),
    )
}

/// A checkpoint as exports and the witness file carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Witnessed {
    pub instance: String,
    pub tree_size: i64,
    pub root_hash: String,
    pub created_at: String,
    pub key_id: String,
    pub signature: String,
}

impl Witnessed {
    /// Checks the checkpoint's own signature with `key`.
    pub fn check_signature(&self, key: &rapport_audit::AuditPublicKey) -> Result<(), String> {
        let at = chrono::DateTime::parse_from_rfc3339(&self.created_at)
            .map_err(|_| format!("checkpoint {}: created_at is not a time", self.tree_size))?
            .with_timezone(&Utc);
        let c = Checkpoint {
            tree_size: self.tree_size,
            root_hash: self.root_hash.clone(),
            created_at: at.naive_utc(),
            key_id: self.key_id.clone(),
            signature: String::new(),
        };
        match key.verify(signed_text(&self.instance, &c).as_bytes(), &self.signature) {
            Ok(true) => Ok(()),
            _ => Err(format!(
                "checkpoint of {} events: its signature does not verify with key {}",
                self.tree_size,
                key.key_id()
            )),
        }
    }
}

/// Shows that the log under `newer` extends the log under `older`: both
/// signatures verify, and the consistency proof from this database
/// proves the older tree a prefix of the newer one (RFC 9162). A history
/// rewritten in between cannot produce the proof, whoever holds the
/// database.
pub fn check_extends(
    conn: &mut rapport_store::DbConnection,
    key: &rapport_audit::AuditPublicKey,
    older: &Witnessed,
    newer: &Witnessed,
) -> Result<(), String> {
    older.check_signature(key)?;
    newer.check_signature(key)?;
    if older.tree_size > newer.tree_size {
        return Err(format!(
            "the older export's checkpoint has {} events, more than the newer one's {}",
            older.tree_size, newer.tree_size
        ));
    }
    let proof = consistency_in(conn, older.tree_size, newer.tree_size)
        .map_err(|e| format!("no consistency proof: {e}"))?;
    let hashes: Vec<TreeHash> = proof
        .iter()
        .map(|h| hex_hash(h))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let (old_root, new_root) = (
        hex_hash(&older.root_hash).map_err(|e| e.to_string())?,
        hex_hash(&newer.root_hash).map_err(|e| e.to_string())?,
    );
    let (m, n) = (
        u64::try_from(older.tree_size).unwrap_or(0),
        u64::try_from(newer.tree_size).unwrap_or(0),
    );
    if merkle::verify_consistency(m, n, &old_root, &new_root, &hashes) {
        Ok(())
    } else {
        Err(format!(
            "the log of {n} events does not extend the log of {m} events the older export was made under: history was rewritten in between"
        ))
    }
}

/// [`check_extends`] for the checkpoints two export manifests carry:
/// `None` when either export has none (made before the log had one), else
/// the two tree sizes.
pub fn check_manifests_extend(
    conn: &mut rapport_store::DbConnection,
    key: &rapport_audit::AuditPublicKey,
    older: Option<&serde_json::Value>,
    newer: Option<&serde_json::Value>,
) -> Result<Option<(i64, i64)>, String> {
    let (Some(o), Some(n)) = (older, newer) else {
        return Ok(None);
    };
    let parse = |v: &serde_json::Value| {
        serde_json::from_value::<Witnessed>(v.clone())
            .map_err(|e| format!("a manifest's checkpoint is unreadable: {e}"))
    };
    let (o, n) = (parse(o)?, parse(n)?);
    check_extends(conn, key, &o, &n)?;
    Ok(Some((o.tree_size, n.tree_size)))
}

/// What checking the database against a witness file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessReport {
    pub checkpoints: usize,
    pub newest_size: i64,
}

/// Checks the events in the database against every checkpoint of a
/// witness file (lines as `checkpoints.log` holds them): each signature
/// verifies, and the tree recomputed from the events as they are now (not
/// from stored leaves) has the witnessed root at the witnessed size.
/// Names the first checkpoint the database no longer matches, and the
/// first event whose hash no longer gives its leaf.
pub fn check_witness(
    conn: &mut rapport_store::DbConnection,
    key: &rapport_audit::AuditPublicKey,
    lines: &str,
) -> Result<WitnessReport, String> {
    let mut witnessed: Vec<Witnessed> = Vec::new();
    for (i, line) in lines.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let w: Witnessed = serde_json::from_str(line)
            .map_err(|e| format!("witness line {}: not a checkpoint ({e})", i + 1))?;
        w.check_signature(key)
            .map_err(|e| format!("witness line {}: {e}", i + 1))?;
        witnessed.push(w);
    }
    let Some(newest) = witnessed.iter().map(|w| w.tree_size).max() else {
        return Err("the witness file holds no checkpoint".into());
    };
    let current = store::current_leaves(conn, newest).map_err(|e| e.to_string())?;
    // Each event's hash recomputed from its content: a changed event whose
    // stored hash was left alone is caught here.
    let ids: Vec<String> = current.iter().map(|(_, id, _, _)| id.clone()).collect();
    for event in rapport_store::audit::events_by_id(conn, &ids).map_err(|e| e.to_string())? {
        let computed = event.computed_hash().map_err(|e| e.to_string())?;
        if computed != event.hash {
            return Err(format!(
                "event {} ({} seq {}) was changed: its content no longer gives its hash",
                event.id,
                event.stream.as_str(),
                event.seq
            ));
        }
    }
    let mut leaves: Vec<TreeHash> = Vec::with_capacity(current.len());
    for (position, event_id, event_hash, stored_leaf) in &current {
        let leaf = merkle::leaf_hash(&hex_hash(event_hash).map_err(|e| e.to_string())?);
        if hex::encode(leaf) != *stored_leaf {
            return Err(format!(
                "event {event_id} (position {position} of the log) no longer has the hash it was witnessed with: it was rewritten"
            ));
        }
        leaves.push(leaf);
    }
    for w in &witnessed {
        let size = usize::try_from(w.tree_size).unwrap_or(usize::MAX);
        if size > leaves.len() {
            return Err(format!(
                "the witnessed checkpoint of {} events is larger than the log in the database ({} events): events were removed",
                w.tree_size,
                leaves.len()
            ));
        }
        let root = hex::encode(merkle::root(&leaves[..size]));
        if root != w.root_hash {
            return Err(format!(
                "the log's first {} events no longer give the root witnessed at {} ({} instead of {}): history was rewritten",
                w.tree_size, w.created_at, root, w.root_hash
            ));
        }
    }
    Ok(WitnessReport {
        checkpoints: witnessed.len(),
        newest_size: newest,
    })
}
