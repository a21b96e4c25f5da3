//! One student's training: minibatches in a seeded order, loss =
//! soft_weight·T²·KL(teacher‖student at T) + hard_weight·CE(labels), AdamW.
//! A [`Trainer`] keeps the optimizer's state between calls, so a search can
//! train a candidate a few epochs, look at it, and carry on.

use super::net::Net;
use super::{DistillConfig, Result};
use candle_core::{D, DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, loss, ops};

/// The training rows as tensors: inputs, the teacher's distribution and its
/// log at temperature T, and the hard labels when there are some.
#[derive(Debug)]
pub(crate) struct TrainSet {
    x: Tensor,
    soft: Tensor,
    log_soft: Tensor,
    labels: Option<Tensor>,
    rows: usize,
}

impl TrainSet {
    /// `logits` are the teacher's, one row per sample of `rows`.
    pub fn new(rows: &[&[f32]], logits: &[&[f32]], labels: Option<&[usize]>, temperature: f32) -> Result<TrainSet> {
        let dev = Device::Cpu;
        let n = rows.len();
        let features = rows.first().map_or(0, |r| r.len());
        let classes = logits.first().map_or(0, |r| r.len());
        let x = Tensor::from_vec(rows.concat(), (n, features), &dev)?;
        let t = (Tensor::from_vec(logits.concat(), (n, classes), &dev)? / f64::from(temperature))?;
        let log_soft = ops::log_softmax(&t, D::Minus1)?;
        let soft = log_soft.exp()?;
        let labels = match labels {
            Some(l) => Some(Tensor::from_vec(l.iter().map(|&v| v as u32).collect::<Vec<u32>>(), n, &dev)?),
            None => None,
        };
        Ok(TrainSet { x, soft, log_soft, labels, rows: n })
    }
}

/// A student and its optimizer.
pub(crate) struct Trainer {
    pub net: Net,
    opt: AdamW,
    rng: fastrand::Rng,
    pub epochs_done: usize,
    /// Mean loss of the last epoch.
    pub last_loss: f32,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer").field("arch", &self.net.arch).field("epochs_done", &self.epochs_done).finish()
    }
}

impl Trainer {
    pub fn new(net: Net, cfg: &DistillConfig) -> Result<Trainer> {
        let params = ParamsAdamW { lr: cfg.learning_rate, weight_decay: cfg.weight_decay, ..Default::default() };
        let opt = AdamW::new(net.vars(), params)?;
        Ok(Trainer { net, opt, rng: fastrand::Rng::with_seed(cfg.seed ^ 0x5eed), epochs_done: 0, last_loss: 0.0 })
    }

    /// One pass over the training rows in a fresh random order.
    pub fn epoch(&mut self, set: &TrainSet, cfg: &DistillConfig) -> Result<f32> {
        let mut order: Vec<u32> = (0..set.rows as u32).collect();
        self.rng.shuffle(&mut order);
        let t = f64::from(cfg.temperature);
        let (mut total, mut batches) = (0f32, 0usize);
        for chunk in order.chunks(cfg.batch_size.max(1)) {
            let idx = Tensor::from_slice(chunk, chunk.len(), &Device::Cpu)?;
            let x = set.x.index_select(&idx, 0)?;
            let logits = self.net.forward(&x)?;
            let mut loss = Tensor::zeros((), DType::F32, &Device::Cpu)?;
            if cfg.soft_weight > 0.0 {
                let soft = set.soft.index_select(&idx, 0)?;
                let log_soft = set.log_soft.index_select(&idx, 0)?;
                let log_student = ops::log_softmax(&(&logits / t)?, D::Minus1)?;
                // KL(p‖q) = Σ p·(log p − log q), averaged over the batch;
                // ×T² keeps its gradients on the scale of the hard loss.
                let kl = (soft * (log_soft - log_student)?)?.sum(D::Minus1)?.mean_all()?;
                loss = (loss + (kl * (t * t * f64::from(cfg.soft_weight)))?)?;
            }
            if let (Some(labels), true) = (&set.labels, cfg.hard_weight > 0.0) {
                let y = labels.index_select(&idx, 0)?;
                let ce = loss::cross_entropy(&logits, &y)?;
                loss = (loss + (ce * f64::from(cfg.hard_weight))?)?;
            }
            self.opt.backward_step(&loss)?;
            total += loss.to_scalar::<f32>()?;
            batches += 1;
        }
        self.epochs_done += 1;
        self.last_loss = total / batches.max(1) as f32;
        if !self.last_loss.is_finite() {
            return Err(super::DistillError::Training(format!(
                "the loss became {} at epoch {} (try a smaller learning rate)",
                self.last_loss, self.epochs_done
            )));
        }
        Ok(self.last_loss)
    }
}

/// Run `f` on a rayon pool of `threads` threads, so candle's kernels use
/// exactly that many.
pub(crate) fn on_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("distill-{i}"))
        .build()
        .map_err(|e| super::DistillError::Training(format!("cannot start the training threads: {e}")))?;
    Ok(pool.install(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distill::arch::Arch;

    #[test]
    fn the_loss_falls_on_a_separable_toy_problem() {
        // Two classes split by the sign of the first feature; the teacher is
        // confident and right.
        let rows: Vec<Vec<f32>> =
            (0..64).map(|i| vec![if i % 2 == 0 { 1.0 } else { -1.0 }, (i as f32 * 0.37).sin()]).collect();
        let logits: Vec<Vec<f32>> = rows.iter().map(|r| vec![3.0 * r[0], -3.0 * r[0]]).collect();
        let labels: Vec<usize> = rows.iter().map(|r| usize::from(r[0] < 0.0)).collect();
        let r: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let l: Vec<&[f32]> = logits.iter().map(Vec::as_slice).collect();
        let cfg = DistillConfig { learning_rate: 1e-2, ..DistillConfig::default() };
        let set = TrainSet::new(&r, &l, Some(&labels), cfg.temperature).unwrap();
        let net = Net::new(&Arch::parse("mlp:8").unwrap(), &[2], 2, 0).unwrap();
        let mut trainer = Trainer::new(net, &cfg).unwrap();
        let first = trainer.epoch(&set, &cfg).unwrap();
        let mut last = first;
        for _ in 0..30 {
            last = trainer.epoch(&set, &cfg).unwrap();
        }
        assert!(last < first * 0.5, "{first} -> {last}");
        assert_eq!(trainer.epochs_done, 31);
    }
}
