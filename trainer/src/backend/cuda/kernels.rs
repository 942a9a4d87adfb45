//! The CUDA C sources of the backend's kernels (`trainer/kernels/*.cu`) and
//! the signature of every kernel.
//!
//! Each module is compiled at run time by NVRTC for the GPU it runs on, so
//! every GPU generation works without a rebuild; `tests/cuda_kernels.rs`
//! compiles all of them for `sm_80` and `sm_90` in CI. The signature table
//! is checked against the sources by a test and against every launch at run
//! time, so an argument out of order is an error, not a corrupted buffer.

/// Prepended to every module: the launch macros and the two-pole filter.
pub const COMMON: &str = include_str!("../../../kernels/common.cuh");

/// A kernel module: one `.cu` file, compiled as one NVRTC program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    /// `neuron.cu`: the forward and backward neuron scans.
    Neuron,
    /// `loss.cu`: SpikeTime and NumSpikes.
    Loss,
    /// `delay.cu`: delay shifts, dropout masks, batch sums.
    Delay,
    /// `synapse.cu`: spike upload/download and the dense products without cuBLAS.
    Synapse,
    /// `conv.cu`: convolution and sum-pooling synapses.
    Conv,
}

impl Module {
    /// Every module.
    pub const ALL: [Module; 5] = [
        Module::Neuron,
        Module::Loss,
        Module::Delay,
        Module::Synapse,
        Module::Conv,
    ];

    /// File name under `trainer/kernels/`.
    pub fn file(self) -> &'static str {
        match self {
            Module::Neuron => "neuron.cu",
            Module::Loss => "loss.cu",
            Module::Delay => "delay.cu",
            Module::Synapse => "synapse.cu",
            Module::Conv => "conv.cu",
        }
    }

    /// The module's own source (without [`COMMON`]).
    pub fn body(self) -> &'static str {
        match self {
            Module::Neuron => include_str!("../../../kernels/neuron.cu"),
            Module::Loss => include_str!("../../../kernels/loss.cu"),
            Module::Delay => include_str!("../../../kernels/delay.cu"),
            Module::Synapse => include_str!("../../../kernels/synapse.cu"),
            Module::Conv => include_str!("../../../kernels/conv.cu"),
        }
    }

    /// The complete source NVRTC compiles: [`COMMON`] then the module.
    pub fn source(self) -> String {
        format!("{COMMON}\n#line 1 \"{}\"\n{}", self.file(), self.body())
    }

    /// The kernels this module defines.
    pub fn kernels(self) -> impl Iterator<Item = Kernel> {
        Kernel::ALL
            .iter()
            .copied()
            .filter(move |k| k.module() == self)
    }
}

/// The C type of one kernel parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `float*` (or `const float*`).
    F32Ptr,
    /// `double*`.
    F64Ptr,
    /// `int*` (or `const int*`).
    I32Ptr,
    /// `unsigned short*` (raw bf16 values).
    U16Ptr,
    /// `int`.
    Int,
    /// `long long`.
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
}

impl Param {
    /// Parses a C parameter type as written in the sources (`const float* RESTRICT`).
    pub fn parse(c_type: &str) -> Option<Param> {
        let t: String = c_type
            .replace("const", " ")
            .replace("RESTRICT", " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Some(match t.as_str() {
            "float*" | "float *" => Param::F32Ptr,
            "double*" | "double *" => Param::F64Ptr,
            "int*" | "int *" => Param::I32Ptr,
            "unsigned short*" | "unsigned short *" => Param::U16Ptr,
            "int" => Param::Int,
            "long long" => Param::Long,
            "float" => Param::Float,
            "double" => Param::Double,
            _ => return None,
        })
    }

    /// The C type the host emulator's wrappers cast to.
    pub fn c_type(self) -> &'static str {
        match self {
            Param::F32Ptr => "float*",
            Param::F64Ptr => "double*",
            Param::I32Ptr => "int*",
            Param::U16Ptr => "unsigned short*",
            Param::Int => "int",
            Param::Long => "long long",
            Param::Float => "float",
            Param::Double => "double",
        }
    }
}

/// The parameters of the two-pole filter, as every kernel using it takes them.
const ALPHA: [Param; 7] = [
    Param::Double,
    Param::Double,
    Param::Double,
    Param::Double,
    Param::Double,
    Param::Double,
    Param::Int,
];

/// The geometry of a convolution, as every conv kernel takes it: input
/// channels, height, width; output channels, height, width; kernel height,
/// width; stride y, x; padding y, x.
const GEO: [Param; 12] = [Param::Int; 12];

/// The geometry of a sum pool: channels, input height, width, output
/// height, width, window size.
const POOL: [Param; 6] = [Param::Int; 6];

macro_rules! part {
    (ALPHA) => {
        &ALPHA[..]
    };
    (GEO) => {
        &GEO[..]
    };
    (POOL) => {
        &POOL[..]
    };
    ([$($p:ident),*]) => {
        &[$(Param::$p),*][..]
    };
}

macro_rules! kernels {
    ($($(#[$doc:meta])* $variant:ident => $module:ident, $name:literal, ($($part:tt)+);)*) => {
        /// Every kernel of the backend.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kernel {
            $($(#[$doc])* $variant,)*
        }

        impl Kernel {
            /// Every kernel.
            pub const ALL: &'static [Kernel] = &[$(Kernel::$variant),*];

            /// The entry point's name in the CUDA source.
            pub fn name(self) -> &'static str {
                match self {
                    $(Kernel::$variant => $name,)*
                }
            }

            /// The module that defines it.
            pub fn module(self) -> Module {
                match self {
                    $(Kernel::$variant => Module::$module,)*
                }
            }

            /// Its parameters, in order.
            pub fn params(self) -> Vec<Param> {
                match self {
                    $(Kernel::$variant => [$(part!($part)),+].concat(),)*
                }
            }
        }
    };
}

kernels! {
    /// Fused forward neuron scan: ε filter, ν refractory, threshold.
    SrmForward => Neuron, "srm_forward",
        ([F32Ptr, F32Ptr, F64Ptr, Int, Int] ALPHA [Double, Double, Double, Double]);
    /// Backward neuron scan: `Ts·ρ(u)` then the time-reversed ε filter.
    SrmBackward => Neuron, "srm_backward",
        ([F32Ptr, F32Ptr, F64Ptr, Int, Int, Float, Float, Float] ALPHA);
    /// SpikeTime loss and its gradient, in place.
    LossSpikeTime => Loss, "loss_spike_time",
        ([F32Ptr, F32Ptr, F64Ptr, F64Ptr, Int, Int, Float] ALPHA);
    /// NumSpikes loss and its gradient, in place.
    LossNumSpikes => Loss, "loss_num_spikes",
        ([F32Ptr, I32Ptr, F64Ptr, F64Ptr, Int, Int, Int, Float, Int, Int, Float, Float] ALPHA);
    /// Delay shift forward.
    DelayForward => Delay, "delay_forward", ([F32Ptr, F32Ptr, I32Ptr, Int, Int, Int]);
    /// Delay shift backward and the per-sample delay gradient.
    DelayBackward => Delay, "delay_backward",
        ([F32Ptr, F32Ptr, F32Ptr, F32Ptr, I32Ptr, Int, Int, Int]);
    /// Sum over the batch of per-sample values.
    SumBatch => Delay, "sum_batch", ([F32Ptr, F32Ptr, Int, Int]);
    /// Dropout forward (spikes take the kept neuron's gain).
    MaskSpikes => Delay, "mask_spikes", ([F32Ptr, F32Ptr, Int, Int]);
    /// Dropout backward.
    MaskGrad => Delay, "mask_grad", ([F32Ptr, F32Ptr, Int, Int]);
    /// Builds a 0/1 spike tensor from a list of indices.
    ScatterOnes => Synapse, "scatter_ones", ([F32Ptr, I32Ptr, Int]);
    /// Lists the non-zero elements of a spike tensor.
    CollectSpikes => Synapse, "collect_spikes", ([F32Ptr, Long, I32Ptr, I32Ptr, Int]);
    /// Dense forward product in the CPU's summation order.
    GatherForward => Synapse, "gather_forward", ([F32Ptr, F32Ptr, F32Ptr, Int, Int, Int]);
    /// Dense weight gradient without cuBLAS.
    GatherWeightGrad => Synapse, "gather_weight_grad", ([F32Ptr, F32Ptr, F32Ptr, Int, Int, Int]);
    /// f32 to bf16 (nearest, ties to even) for the bf16 products.
    ToBf16 => Synapse, "to_bf16", ([F32Ptr, U16Ptr, Long]);
    /// Dense input gradient without cuBLAS.
    GatherInputGrad => Synapse, "gather_input_grad",
        ([F32Ptr, F32Ptr, F32Ptr, Int, Int, Int, Float]);
    /// Convolution forward in the CPU's summation order.
    ConvForward => Conv, "conv_forward", ([F32Ptr, F32Ptr, F32Ptr, Int] GEO);
    /// Convolution weight gradient, partial sums over chunks of rows.
    ConvWeightGrad => Conv, "conv_weight_grad", ([F32Ptr, F32Ptr, F32Ptr, Int, Int] GEO);
    /// Convolution input gradient (the transposed convolution).
    ConvInputGrad => Conv, "conv_input_grad", ([F32Ptr, F32Ptr, F32Ptr, Int] GEO [Float]);
    /// Sum pooling forward in the CPU's summation order.
    PoolForward => Conv, "pool_forward", ([F32Ptr, F32Ptr, Int] POOL [Float]);
    /// Sum pooling input gradient.
    PoolInputGrad => Conv, "pool_input_grad", ([F32Ptr, F32Ptr, Int] POOL [Float]);
}

/// The kernels a source text defines, with their parameter types as written
/// (`KERNEL void name(type a, type b, …)`), in order of appearance.
pub fn declared_kernels(src: &str) -> Vec<(String, Vec<Option<Param>>)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find("KERNEL void ") {
        let after = &rest[at + "KERNEL void ".len()..];
        let Some(open) = after.find('(') else { break };
        let Some(close) = after.find(')') else { break };
        let name = after[..open].trim().to_string();
        let params = after[open + 1..close]
            .split(',')
            .map(|p| {
                let p = p.trim();
                // Drop the parameter name: the last identifier.
                let ty = p
                    .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .map_or("", |i| &p[..=i]);
                Param::parse(ty)
            })
            .collect();
        out.push((name, params));
        rest = &after[close..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table above matches the `.cu` sources, kernel by kernel and
    /// parameter by parameter, and every kernel of a source is in the table.
    #[test]
    fn signature_table_matches_the_sources() {
        for m in Module::ALL {
            let declared = declared_kernels(m.body());
            let table: Vec<Kernel> = m.kernels().collect();
            assert_eq!(
                declared.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                table.iter().map(|k| k.name()).collect::<Vec<_>>(),
                "{}: kernels",
                m.file()
            );
            for ((name, params), k) in declared.iter().zip(&table) {
                let want: Vec<Option<Param>> = k.params().into_iter().map(Some).collect();
                assert_eq!(params, &want, "{}: {name}", m.file());
            }
        }
        assert!(declared_kernels(COMMON).is_empty());
    }

    #[test]
    fn parses_c_types() {
        assert_eq!(Param::parse("const float* RESTRICT"), Some(Param::F32Ptr));
        assert_eq!(Param::parse("double* RESTRICT"), Some(Param::F64Ptr));
        assert_eq!(Param::parse("long long"), Some(Param::Long));
        assert_eq!(Param::parse("unsigned"), None);
    }
}
