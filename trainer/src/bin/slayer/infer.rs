//! `slayer infer`: run an exported model on event files with the core engine.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use slayer_trainer::backend::Device;
use slayer_trainer::checkpoint::Checkpoint;
use slayer_trainer::data::Binning;
use slayer_trainer::report::infer::{FloatSample, Sample};
use slayer_trainer::{infer, report};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A model written by `slayer export`.
    model: PathBuf,
    /// Event files, one sample each.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Also run this checkpoint's float network on the same inputs and
    /// compare classes and spike counts.
    #[arg(long, value_name = "CHECKPOINT")]
    float: Option<PathBuf>,
    /// End with one line of JSON: {"results": [{"input", "counts", "class", ...}], ...}.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: &Args) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let model = infer::decode_model(&bytes, &a.model)?;
    let s = model.input_shape();
    let shape = (s.c as usize, s.h as usize, s.w as usize);
    let b = Binning {
        ts_ms: f64::from(model.ts()),
        bins: model.bins() as usize,
    };
    let float = match &a.float {
        Some(p) => {
            let ck = Checkpoint::load(p)?;
            anyhow::ensure!(
                ck.network.inputs == model.inputs() as usize
                    && ck.network.outputs() == model.outputs() as usize,
                "{} ({} → {}) does not match the model ({} → {})",
                p.display(),
                ck.network.inputs,
                ck.network.outputs(),
                model.inputs(),
                model.outputs()
            );
            Some((ck, Device::Cpu.open()?))
        }
        None => None,
    };
    let mut runner = infer::CoreRunner::new(&model)?;
    let mut out = std::io::stdout().lock();
    let mut results = Vec::new();
    let mut agree = 0usize;
    for path in &a.inputs {
        let x = infer::load_events(path, shape, &b)?;
        let y = runner.run(&x)?;
        let (class, counts) = (infer::decide(&y), y.counts());
        let f = match &float {
            Some((ck, backend)) => Some(backend.infer(&ck.network, &[&x])?.remove(0)),
            None => None,
        };
        let f = f.map(|f| (infer::decide(&f), f.counts(), f == y));
        let mut r = serde_json::json!({"input": path, "counts": counts, "class": class});
        if let Some((fc, fcounts, identical)) = &f {
            agree += usize::from(*fc == class);
            r["float_class"] = (*fc).into();
            r["float_counts"] = fcounts.clone().into();
            r["identical"] = (*identical).into();
        }
        let sample = Sample {
            input: path,
            class,
            counts: &counts,
            float: f.as_ref().map(|(class, counts, identical)| FloatSample {
                class: *class,
                counts,
                identical: *identical,
            }),
        };
        report::infer::sample(&mut out, &sample)?;
        results.push(r);
    }
    let n = a.inputs.len();
    if float.is_some() {
        report::infer::agreement(&mut out, agree, n)?;
    }
    if a.json {
        let mut v = serde_json::json!({"model": a.model, "results": results});
        if float.is_some() {
            v["class_agreement"] = (agree as f64 / n as f64).into();
        }
        writeln!(out, "{v}")?;
    }
    Ok(())
}
