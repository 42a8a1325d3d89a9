//! A Merkle tree over all audit events in the order they were taken into
//! it, hashed as in Certificate Transparency (RFC 9162, section 2.1): the
//! root of a tree of `n` events commits to all of them, and a consistency
//! proof shows that the tree of the first `m` events is a prefix of the
//! tree of `n`, so history an auditor verified once cannot be rewritten
//! or shortened unnoticed.

use sha2::{Digest, Sha256};

/// A node of the tree (or its root).
pub type TreeHash = [u8; 32];

/// The leaf of an audit event: SHA-256(0x00 ‖ event hash).
pub fn leaf_hash(event_hash: &[u8; 32]) -> TreeHash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(event_hash);
    h.finalize().into()
}

/// An inner node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The Merkle tree hash of these leaves (RFC 9162 MTH); the hash of the
/// empty string for none.
pub fn root(leaves: &[TreeHash]) -> TreeHash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The proof that the tree of the first `m` leaves is a prefix of the
/// tree of all `leaves` (RFC 9162 PROOF(m, D[n])). Empty when `m` is 0 or
/// all of them.
pub fn consistency_proof(leaves: &[TreeHash], m: usize) -> Vec<TreeHash> {
    if m == 0 || m >= leaves.len() {
        return Vec::new();
    }
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[TreeHash], complete: bool) -> Vec<TreeHash> {
    let n = leaves.len();
    if m == n {
        return if complete {
            Vec::new()
        } else {
            vec![root(leaves)]
        };
    }
    let k = split(n);
    if m <= k {
        let mut proof = subproof(m, &leaves[..k], complete);
        proof.push(root(&leaves[k..]));
        proof
    } else {
        let mut proof = subproof(m - k, &leaves[k..], false);
        proof.push(root(&leaves[..k]));
        proof
    }
}

/// Whether `proof` shows that the tree of size `m` with root `old_root` is
/// a prefix of the tree of size `n` with root `new_root` (RFC 9162,
/// section 2.1.4.2).
pub fn verify_consistency(
    m: u64,
    n: u64,
    old_root: &TreeHash,
    new_root: &TreeHash,
    proof: &[TreeHash],
) -> bool {
    if m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && old_root == new_root;
    }
    if m == 0 {
        // Every tree extends the empty one.
        return proof.is_empty();
    }
    let mut path: Vec<TreeHash> = proof.to_vec();
    // When m is a power of two, the old root is the first node of the path.
    if m.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (m - 1, n - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<TreeHash> {
        (0..n)
            .map(|i| leaf_hash(&Sha256::digest(i.to_be_bytes()).into()))
            .collect()
    }

    #[test]
    fn roots_follow_the_rfc_shape() {
        let l = leaves(3);
        assert_eq!(root(&l[..1]), l[0]);
        assert_eq!(root(&l[..2]), node_hash(&l[0], &l[1]));
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn every_prefix_proves_consistent_with_every_larger_tree() {
        let all = leaves(33);
        for n in 1..=all.len() {
            let new_root = root(&all[..n]);
            for m in 1..=n {
                let proof = consistency_proof(&all[..n], m);
                assert!(
                    verify_consistency(m as u64, n as u64, &root(&all[..m]), &new_root, &proof),
                    "{m} -> {n}"
                );
            }
        }
    }

    #[test]
    fn a_rewritten_or_dropped_event_breaks_the_proof() {
        let all = leaves(20);
        let (m, n) = (7, 20);
        let old_root = root(&all[..m]);
        let proof = consistency_proof(&all, m);
        // Event 3 rewritten after the auditor saw the tree of 7.
        let mut rewritten = all.clone();
        rewritten[3] = leaf_hash(&[9u8; 32]);
        let forged = consistency_proof(&rewritten, m);
        assert!(!verify_consistency(
            m as u64,
            n as u64,
            &old_root,
            &root(&rewritten),
            &forged
        ));
        // The last event of the old tree deleted.
        let mut shortened = all.clone();
        shortened.remove(m - 1);
        let forged = consistency_proof(&shortened, m - 1);
        assert!(!verify_consistency(
            m as u64,
            n as u64 - 1,
            &old_root,
            &root(&shortened),
            &forged
        ));
        // The honest proof does not fit another new root.
        assert!(!verify_consistency(
            m as u64,
            n as u64,
            &old_root,
            &root(&rewritten),
            &proof
        ));
        assert!(verify_consistency(
            m as u64,
            n as u64,
            &old_root,
            &root(&all),
            &proof
        ));
    }
}
