//! Fragment reassembly: one module put back together from its code fragments into a buffer
//! allocated once at the announced length, and the mask of fragments still missing.
//!
//! It must never grow past the announced length, accept a fragment twice or of another module
//! length, or check what the bytes hash to (the `fetch` module does, once they are complete).

use crate::node::DropReason;
use crate::wire::{CodeFragmentRepr, fragment_count, fragment_range};

/// A module being put back together from fragments. Its buffer is allocated once, at the
/// announced length, which is checked against the module size limit first.
pub(super) struct Reassembly {
    len: u32,
    pub(super) buf: Vec<u8>,
    pub(super) have: Vec<bool>,
    pub(super) received: usize,
}

impl Reassembly {
    pub(super) fn new(len: u32) -> Self {
        let count = fragment_count(len) as usize;
        Reassembly {
            len,
            buf: vec![0; len as usize],
            have: vec![false; count],
            received: 0,
        }
    }

    /// Stores one fragment; true when the module is complete.
    pub(super) fn insert(&mut self, fragment: &CodeFragmentRepr<'_>) -> Result<bool, DropReason> {
        if fragment.module_len != self.len {
            return Err(DropReason::FragmentMismatch);
        }
        // The wire layer checked index, count and data length against the module length.
        let range = fragment_range(self.len, fragment.index).ok_or(DropReason::FragmentMismatch)?;
        let slot = self
            .have
            .get_mut(usize::from(fragment.index))
            .ok_or(DropReason::FragmentMismatch)?;
        if *slot {
            return Err(DropReason::DuplicateFragment);
        }
        let dst = self
            .buf
            .get_mut(range)
            .ok_or(DropReason::FragmentMismatch)?;
        if dst.len() != fragment.data.len() {
            return Err(DropReason::FragmentMismatch);
        }
        dst.copy_from_slice(fragment.data);
        *slot = true;
        self.received += 1;
        Ok(self.received == self.have.len())
    }

    /// A request for the fragments still missing: the first missing index and a mask up to
    /// the last one, cut at `max_mask` bytes (the rest is asked for in a later round).
    pub(super) fn missing(&self, max_mask: usize) -> (u16, Vec<u8>) {
        let Some(first) = self.have.iter().position(|h| !h) else {
            return (0, Vec::new());
        };
        let last = self.have.iter().rposition(|h| !h).unwrap_or(first);
        let bits = (last - first + 1).min(max_mask.saturating_mul(8));
        let mut mask = vec![0u8; bits.div_ceil(8)];
        for i in 0..bits {
            if !self.have[first + i] {
                mask[i / 8] |= 0x80 >> (i % 8);
            }
        }
        // Fragment indexes fit in u16 (the wire bounds the count).
        (u16::try_from(first).unwrap_or(u16::MAX), mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Fingerprint;

    fn fragment(module: &[u8], index: u16) -> CodeFragmentRepr<'_> {
        CodeFragmentRepr::fragment(Fingerprint::sha256(module), module, index).unwrap()
    }

    #[test]
    fn reassembles_in_any_order_and_names_what_is_missing() {
        let module: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut r = Reassembly::new(5000);
        assert_eq!(r.missing(8), (0, vec![0b1111_1000]));
        assert_eq!(r.insert(&fragment(&module, 4)), Ok(false));
        assert_eq!(r.insert(&fragment(&module, 1)), Ok(false));
        assert_eq!(
            r.insert(&fragment(&module, 1)),
            Err(DropReason::DuplicateFragment)
        );
        // Missing 0, 2, 3: first 0, bits 0, 2, 3.
        assert_eq!(r.missing(8), (0, vec![0b1011_0000]));
        assert_eq!(r.insert(&fragment(&module, 0)), Ok(false));
        assert_eq!(r.missing(8), (2, vec![0b1100_0000]));
        assert_eq!(r.insert(&fragment(&module, 3)), Ok(false));
        assert_eq!(r.insert(&fragment(&module, 2)), Ok(true));
        assert_eq!(r.buf, module);
    }

    #[test]
    fn refuses_fragments_of_another_length_and_cuts_long_masks() {
        let other = vec![7u8; 2000];
        let mut r = Reassembly::new(3000);
        assert_eq!(
            r.insert(&fragment(&other, 0)),
            Err(DropReason::FragmentMismatch)
        );
        assert_eq!(r.received, 0);
        // 40 fragments missing, but a mask of at most 2 bytes: the first 16 are asked now.
        let big = Reassembly::new(40 * 1024);
        assert_eq!(big.missing(2), (0, vec![0xff, 0xff]));
    }
}
