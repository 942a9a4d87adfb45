//! `slayer bench`: training and forward + backward throughput.

use std::io::Write;

use slayer_trainer::backend::cuda::Precision;
use slayer_trainer::backend::Device;
use slayer_trainer::{bench, report};

use crate::common::cuda_options;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Seconds to time each case (after one warm-up batch).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Only run the case with this name: nmnist-mlp, oxford, nmnist-mlp-32
    /// (batch 32), dvs-cnn-16 (the shipped DVS Gesture CNN, 300 bins, batch
    /// 16), or a forward + backward case of the public SNN-library benchmark
    /// shape (dense n → n + spiking layer, batch 16, 500 bins): snn-4096,
    /// snn-16384.
    #[arg(long)]
    case: Option<String>,
    /// Compute device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Arithmetic of the dense layers' matrix products on cuda: f32, tf32
    /// or bf16 (tensor cores; neuron state stays f32, conv and pool f32).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// In the snn-* cases, also compute the gradient at the network's input.
    #[arg(long)]
    input_grad: bool,
    /// End with one line of JSON: {"train_samples_per_s": S, "rows": [...], "fwd_bwd": [...]} (S: the N-MNIST MLP figure).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.seconds.is_finite() && a.seconds > 0.0,
        "--seconds must be positive"
    );
    let options = cuda_options(a.device, a.precision)?;
    let cases: Vec<_> = match &a.case {
        None => bench::default_cases(),
        Some(n) => bench::default_cases()
            .into_iter()
            .chain(bench::extra_cases())
            .filter(|c| c.name == n)
            .collect(),
    };
    let fwd_bwd: Vec<_> = bench::fwd_bwd_cases()
        .into_iter()
        .filter(|c| a.case.as_deref() == Some(c.name))
        .collect();
    if cases.is_empty() && fwd_bwd.is_empty() {
        anyhow::bail!(
            "unknown bench case {:?}: expected one of {}",
            a.case.unwrap_or_default(),
            bench::case_names().join(", ")
        );
    }
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    let mut device = String::new();
    if !cases.is_empty() {
        let backend = bench::open(a.device, options)?;
        device = backend.name();
        report::bench::train_header(&mut out, &device)?;
        for c in &cases {
            let r = bench::run_case(backend.as_ref(), c, a.seconds, 7)?;
            report::bench::train_row(&mut out, &r)?;
            rows.push(r);
        }
    }
    let mut fb_rows = Vec::new();
    for c in &fwd_bwd {
        let r = bench::run_fwd_bwd(a.device, options, c, a.seconds, a.input_grad)?;
        report::bench::fwd_bwd(&mut out, &r)?;
        device = r.device.clone();
        fb_rows.push(r);
    }
    if a.json {
        let headline = rows.first().map(|r| r.train_samples_per_s);
        let v = serde_json::json!({ "train_samples_per_s": headline, "device": device, "rows": rows, "fwd_bwd": fb_rows });
        writeln!(out, "{v}")?;
    }
    Ok(())
}
