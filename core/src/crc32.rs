//! The CRC-32 that closes model files and sample packs, and the envelope
//! both share: a 4-byte magic, a postcard `u16` version, the body, the CRC.
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

/// What is wrong with a blob's envelope. Models ([`crate::DecodeError`]) and
/// sample packs ([`crate::SampleError`]) each have these variants under the
/// same names and convert from this one type, so both report a damaged
/// envelope the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    /// The blob ends before its version or its CRC.
    Truncated,
    /// The blob does not start with the expected magic.
    BadMagic,
    /// The version is not one of those this crate reads.
    UnsupportedVersion { found: u16 },
    /// The version is not a valid postcard varint.
    Malformed,
    /// The stored CRC (`expected`) differs from the computed one (`found`).
    Crc { expected: u32, found: u32 },
}

impl From<postcard::Error> for EnvelopeError {
    fn from(e: postcard::Error) -> Self {
        match e {
            postcard::Error::DeserializeUnexpectedEnd => Self::Truncated,
            _ => Self::Malformed,
        }
    }
}

/// `impl From<EnvelopeError>` for an error type with the same five variants
/// (the model's and the sample pack's).
macro_rules! from_envelope {
    ($t:ty) => {
        impl From<crate::crc32::EnvelopeError> for $t {
            fn from(e: crate::crc32::EnvelopeError) -> Self {
                use crate::crc32::EnvelopeError as E;
                match e {
                    E::Truncated => Self::Truncated,
                    E::BadMagic => Self::BadMagic,
                    E::UnsupportedVersion { found } => Self::UnsupportedVersion { found },
                    E::Malformed => Self::Malformed,
                    E::Crc { expected, found } => Self::Crc { expected, found },
                }
            }
        }
    };
}
pub(crate) use from_envelope;

/// Checks the envelope of `bytes`: the magic, a version in `reads`, then the
/// CRC-32 over everything before the last four bytes. Returns the version
/// and what lies between the magic and the CRC (the body, which still
/// starts with the version).
pub(crate) fn open<'a>(
    bytes: &'a [u8],
    magic: [u8; 4],
    reads: &[u16],
) -> Result<(u16, &'a [u8]), EnvelopeError> {
    let (head, rest) = bytes.split_at_checked(4).ok_or(EnvelopeError::Truncated)?;
    if head != magic {
        return Err(EnvelopeError::BadMagic);
    }
    let (version, _) = postcard::take_from_bytes::<u16>(rest)?;
    if !reads.contains(&version) {
        return Err(EnvelopeError::UnsupportedVersion { found: version });
    }
    let (all, stored) = split(bytes).ok_or(EnvelopeError::Truncated)?;
    // Shorter than magic + CRC: the CRC would overlap the magic.
    let body = all.get(4..).ok_or(EnvelopeError::Truncated)?;
    let computed = checksum(all);
    if computed != stored {
        return Err(EnvelopeError::Crc {
            expected: stored,
            found: computed,
        });
    }
    Ok((version, body))
}

/// Closes an envelope: appends the CRC-32 of everything in `out`.
#[cfg(feature = "alloc")]
pub(crate) fn close(out: &mut alloc::vec::Vec<u8>) {
    let crc = checksum(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_value() {
        // The catalogue's check value: CRC of "123456789".
        assert_eq!(super::checksum(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn envelope_checks_magic_version_crc_in_order() {
        use super::{open, EnvelopeError as E};
        const M: [u8; 4] = *b"TEST";
        let mut blob = M.to_vec();
        blob.extend_from_slice(&[3, 0xAA, 0xBB]); // version 3, two body bytes
        let crc = super::checksum(&blob);
        blob.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(open(&blob, M, &[1, 3]), Ok((3, &[3, 0xAA, 0xBB][..])));
        assert_eq!(open(&blob, *b"NOPE", &[3]), Err(E::BadMagic));
        assert_eq!(
            open(&blob, M, &[1]),
            Err(E::UnsupportedVersion { found: 3 })
        );
        assert_eq!(open(&blob[..3], M, &[3]), Err(E::Truncated));
        assert_eq!(open(&blob[..4], M, &[3]), Err(E::Truncated));
        // A version varint whose continuation never ends.
        assert_eq!(open(b"TEST\xff\xff\xff\xff", M, &[3]), Err(E::Malformed));
        // Magic and version fine, CRC wrong.
        let mut bad = blob.clone();
        bad[5] ^= 1;
        let found = super::checksum(&bad[..bad.len() - 4]);
        assert_eq!(
            open(&bad, M, &[3]),
            Err(E::Crc {
                expected: crc,
                found
            })
        );
        // Magic and a one-byte version, then too little room for a CRC.
        assert_eq!(open(b"TEST\x03\x00\x00", M, &[3]), Err(E::Truncated));
    }
}
