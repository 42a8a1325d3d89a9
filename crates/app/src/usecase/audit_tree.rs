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
        Ok(Some((c, instance)))
    })?;
    let Some((c, instance)) = made else {
        return Ok(None);
    };
    witness_file(state, &instance, &c)?;
    Ok(Some(c))
}

/// Appends a checkpoint to the file outside the database, one JSON line
/// each, fsynced before the checkpoint counts as made.
fn witness_file(state: &AppState, instance: &str, c: &Checkpoint) -> Result<(), UseCaseError> {
    let dir = state.config.settings.data_dir.join("audit");
    crate::durable::private_dir(&dir).map_err(|e| UseCaseError::file("audit directory", &e))?;
    let line = serde_json::json!({
        "instance": instance,
        "tree_size": c.tree_size,
        "root_hash": c.root_hash,
        "created_at": rapport_audit::format_at(&c.created_at.and_utc()),
        "key_id": c.key_id,
        "signature": c.signature,
    });
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
    if from < 0 || from > to {
        return Err(super::input::invalid("from", "must be from 0 to `to`"));
    }
    let mut conn = state.store.conn()?;
    let latest = store::latest(&mut conn)?.map_or(0, |c| c.tree_size);
    if to > latest {
        return Err(super::input::invalid(
            "to",
            format!("the newest checkpoint has {latest} events"),
        ));
    }
    let leaves = tree(&mut conn, to)?;
    Ok(
        merkle::consistency_proof(&leaves, usize::try_from(from).unwrap_or(0))
            .iter()
            .map(hex::encode)
            .collect(),
    )
}
