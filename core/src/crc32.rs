//! The CRC-32 that closes model files and sample packs.
//!
//! CRC-32/ISO-HDLC (the zlib / PNG / Ethernet CRC), table-driven via the
//! `crc` crate: the 1 KiB table lives in flash and is computed at compile time.

use crc::{Crc, CRC_32_ISO_HDLC};

const CRC: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// CRC-32/ISO-HDLC of `bytes` (the CRC that closes model files and sample
/// packs; exported as `slayer_core::crc32`).
pub fn checksum(bytes: &[u8]) -> u32 {
    CRC.checksum(bytes)
}

/// Splits a blob into its body and the little-endian CRC-32 stored in its
/// last four bytes; `None` when the blob is shorter than four bytes.
pub(crate) fn split(bytes: &[u8]) -> Option<(&[u8], u32)> {
    let at = bytes.len().checked_sub(4)?;
    let (body, tail) = bytes.split_at(at);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(tail);
    Some((body, u32::from_le_bytes(crc)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_value() {
        // The catalogue's check value: CRC of "123456789".
        assert_eq!(super::checksum(b"123456789"), 0xCBF4_3926);
    }
}
