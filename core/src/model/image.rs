//! The model image for a board's model region: the model bytes behind a
//! magic and a length, so that firmware built once finds, checks and runs
//! whatever model was flashed there (`slayer export --image`).
//!
//! ```text
//! "SLYI" | length: u32 LE | model bytes ("SLYM" … CRC-32) | anything (erased flash)
//! ```

/// First four bytes of a model image.
pub const IMAGE_MAGIC: [u8; 4] = *b"SLYI";

/// Bytes before the model in an image.
pub const IMAGE_HEADER: usize = 8;

/// Why a model region holds no usable model bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ImageError {
    /// No image magic: the region is erased or was never written.
    Missing,
    /// The length does not fit the region.
    BadLength,
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Missing => "no model image (the region is erased or was never written)",
            Self::BadLength => "the model image's length does not fit its region",
        })
    }
}

/// The model bytes of the image at the start of `region` (decode them with
/// [`Model::decode`](crate::Model::decode), which checks their CRC).
pub fn image_model(region: &[u8]) -> Result<&[u8], ImageError> {
    if region.get(..4) != Some(&IMAGE_MAGIC[..]) {
        return Err(ImageError::Missing);
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(region.get(4..8).ok_or(ImageError::BadLength)?);
    let len = usize::try_from(u32::from_le_bytes(len)).map_err(|_| ImageError::BadLength)?;
    region
        .get(IMAGE_HEADER..IMAGE_HEADER.saturating_add(len))
        .ok_or(ImageError::BadLength)
}

/// The image of `model` (an encoded model), to be written at the start of
/// a model region.
#[cfg(feature = "alloc")]
pub fn encode_image(model: &[u8]) -> Option<alloc::vec::Vec<u8>> {
    let len = u32::try_from(model.len()).ok()?;
    let mut v = alloc::vec::Vec::with_capacity(IMAGE_HEADER + model.len());
    v.extend_from_slice(&IMAGE_MAGIC);
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(model);
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_round_trip_and_damage() {
        let model = b"SLYM-model-bytes";
        let mut region = encode_image(model).unwrap();
        region.resize(64, 0xFF);
        assert_eq!(image_model(&region), Ok(&model[..]));
        assert_eq!(image_model(&[0xFF; 64]), Err(ImageError::Missing));
        assert_eq!(image_model(&[0; 64]), Err(ImageError::Missing));
        region[4] = 200;
        assert_eq!(image_model(&region), Err(ImageError::BadLength));
        assert_eq!(image_model(b"SLYI\x01"), Err(ImageError::BadLength));
    }
}
