//! The hashes behind tamper evidence: an RFC 6962 Merkle tree over the audit records'
//! leaf hashes (kept incrementally as a compact range), and a per-record hash chain.
//! Pure: no I/O. The store uses [`chain_next`] when it appends.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// The chain value before the first record.
pub const GENESIS: Hash = [0u8; 32];

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash chain: c_i = SHA-256(c_{i-1} ‖ leaf_i).
pub fn chain_next(prev: &Hash, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(leaf);
    h.finalize().into()
}

/// The Merkle tree head of all leaves appended so far, in O(log n) space: the roots of the
/// perfect subtrees of the size's binary decomposition, largest first.
#[derive(Clone, Debug, Default)]
pub struct CompactRange {
    peaks: Vec<(Hash, u64)>,
    size: u64,
}

impl CompactRange {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        self.peaks.push((leaf, 1));
        self.size += 1;
        while self.peaks.len() >= 2 {
            let n = self.peaks.len();
            if self.peaks[n - 2].1 != self.peaks[n - 1].1 {
                break;
            }
            let (right, size) = self.peaks.pop().expect("two peaks");
            let (left, _) = self.peaks.pop().expect("two peaks");
            self.peaks.push((node_hash(&left, &right), size * 2));
        }
    }

    /// MTH(D[0:n]) per RFC 6962 § 2.1 (SHA-256 of the empty string for n = 0).
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some((last, _)) = iter.next() else {
            return Sha256::digest(b"").into();
        };
        iter.fold(*last, |acc, (peak, _)| node_hash(peak, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recursive definition, for comparison.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest(b"").into(),
            1 => leaves[0],
            n => {
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn compact_range_matches_the_rfc_definition_for_every_size() {
        let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut range = CompactRange::default();
        assert_eq!(range.root(), mth(&[]));
        for (i, leaf) in leaves.iter().enumerate() {
            range.push(*leaf);
            assert_eq!(range.root(), mth(&leaves[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn rfc6962_test_vector_empty_and_single() {
        // Empty tree head, RFC 6962 (SHA-256 of the empty string).
        let empty = CompactRange::default().root();
        assert_eq!(hex(&empty), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        // Leaf hash of the empty string: SHA-256(0x00).
        assert_eq!(hex(&leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    }

    fn hex(h: &[u8]) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }
}
