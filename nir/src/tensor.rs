//! [`Tensor`]: an n-dimensional array, the value of most NIR fields.

use crate::error::{Error, Result};

/// The values of a [`Tensor`], row-major, in the dtype the file stores.
///
/// NIR files hold numpy arrays of whatever dtype their writer used: float32
/// from PyTorch-based frameworks, float64 from plain numpy, int64 for
/// integer arrays. The dtype is kept so that a file read and written again
/// is the same file for `nir.read`. Integer arrays of narrower or unsigned
/// types are widened to `I64` when read.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// numpy `float32`.
    F32(Vec<f32>),
    /// numpy `float64`.
    F64(Vec<f64>),
    /// numpy `int64` (and any narrower integer type, widened).
    I64(Vec<i64>),
}

impl TensorData {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The numpy name of the dtype: `float32`, `float64` or `int64`.
    pub fn dtype(&self) -> &'static str {
        match self {
            TensorData::F32(_) => "float32",
            TensorData::F64(_) => "float64",
            TensorData::I64(_) => "int64",
        }
    }
}

/// An n-dimensional array: a shape and as many values as the shape holds
/// (one for the empty shape `[]`, a scalar).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

impl Tensor {
    /// A tensor, or [`Error::TensorShape`] when `data` does not have exactly
    /// the number of values `shape` holds.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Self> {
        let expected = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .unwrap_or(usize::MAX);
        if expected != data.len() {
            return Err(Error::TensorShape {
                shape,
                expected,
                len: data.len(),
            });
        }
        Ok(Self { shape, data })
    }

    /// A 1-D float32 tensor.
    pub fn from_f32(values: Vec<f32>) -> Self {
        Self {
            shape: vec![values.len()],
            data: TensorData::F32(values),
        }
    }

    /// A 1-D float64 tensor.
    pub fn from_f64(values: Vec<f64>) -> Self {
        Self {
            shape: vec![values.len()],
            data: TensorData::F64(values),
        }
    }

    /// A float32 tensor of the given shape.
    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Result<Self> {
        Self::new(shape, TensorData::F32(values))
    }

    /// A float64 tensor of the given shape.
    pub fn f64(shape: Vec<usize>, values: Vec<f64>) -> Result<Self> {
        Self::new(shape, TensorData::F64(values))
    }

    /// An int64 tensor of the given shape.
    pub fn i64(shape: Vec<usize>, values: Vec<i64>) -> Result<Self> {
        Self::new(shape, TensorData::I64(values))
    }

    /// A tensor of the same shape and dtype filled with `value` (how `nir`
    /// fills a missing `v_reset` with zeros, or `w_in` with ones).
    pub fn filled_like(&self, value: f64) -> Self {
        let n = self.data.len();
        let data = match self.data {
            TensorData::F32(_) => TensorData::F32(vec![value as f32; n]),
            TensorData::F64(_) => TensorData::F64(vec![value; n]),
            TensorData::I64(_) => TensorData::I64(vec![value as i64; n]),
        };
        Self {
            shape: self.shape.clone(),
            data,
        }
    }

    /// The shape (`[]` for a scalar).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, row-major.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The numpy name of the dtype.
    pub fn dtype(&self) -> &'static str {
        self.data.dtype()
    }

    /// The values as `f32` (rounded from float64, converted from int64).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            TensorData::F32(v) => v.clone(),
            TensorData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The values as `f64` (exact from float32; int64 beyond 2^53 rounds).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_must_match_data() {
        assert!(Tensor::f32(vec![2, 3], vec![0.0; 6]).is_ok());
        assert!(Tensor::f32(vec![], vec![1.0]).is_ok());
        assert!(Tensor::f32(vec![0, 3], vec![]).is_ok());
        let e = Tensor::f32(vec![2, 3], vec![0.0; 5]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::TensorShape {
                    expected: 6,
                    len: 5,
                    ..
                }
            ),
            "{e}"
        );
        let e = Tensor::i64(vec![usize::MAX, 3], vec![]).unwrap_err();
        assert!(matches!(
            e,
            Error::TensorShape {
                expected: usize::MAX,
                ..
            }
        ));
    }

    #[test]
    fn filled_like_keeps_shape_and_dtype() {
        let t = Tensor::f64(vec![2, 1], vec![3.0, 4.0]).unwrap();
        let z = t.filled_like(0.0);
        assert_eq!(z.shape(), &[2, 1]);
        assert_eq!(z.data(), &TensorData::F64(vec![0.0, 0.0]));
    }
}
