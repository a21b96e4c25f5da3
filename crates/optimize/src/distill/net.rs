//! A student network in candle: its parameters as candle `Var`s (seeded He
//! initialisation, so a run is reproducible), the forward pass, and the
//! trained weights read back for the ONNX writer.
//!
//! Layouts match ONNX so the weights are written as they are: dense
//! weights are `[out, in]` (Gemm with transB = 1), conv kernels
//! `[out, in, 3, 3]`.

use super::Result;
use super::arch::Arch;
use candle_core::{Device, Tensor, Var};

/// One layer of a student.
#[derive(Debug)]
pub(crate) enum Layer {
    /// 3×3 convolution (padding 1) + ReLU + 2×2 max-pool.
    ConvBlock { w: Var, b: Var },
    /// Flatten `[N, C, H, W]` to `[N, C·H·W]`.
    Flatten,
    /// `x·Wᵀ + b`, then ReLU unless it is the output layer.
    Dense { w: Var, b: Var, relu: bool },
}

/// A student's parameters and how to run them.
#[derive(Debug)]
pub(crate) struct Net {
    pub arch: Arch,
    /// The input shape without the batch dimension.
    pub sample_shape: Vec<usize>,
    pub layers: Vec<Layer>,
}

/// A trained tensor ready to write: its name in the ONNX graph, dims, values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NamedWeight {
    pub name: String,
    pub dims: Vec<i64>,
    pub values: Vec<f32>,
}

fn uniform(rng: &mut fastrand::Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.f32() * 2.0 - 1.0) * bound).collect()
}

impl Net {
    /// A freshly initialised student.
    pub fn new(arch: &Arch, sample_shape: &[usize], classes: usize, seed: u64) -> Result<Net> {
        arch.check_input(sample_shape)?;
        let dev = Device::Cpu;
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut layers = Vec::new();
        let dense = |layers: &mut Vec<Layer>, rng: &mut fastrand::Rng, mut inputs: usize, hidden: &[usize]| {
            let widths: Vec<usize> = hidden.iter().copied().chain(std::iter::once(classes)).collect();
            for (i, &out) in widths.iter().enumerate() {
                let relu = i + 1 < widths.len();
                // He-uniform for ReLU layers; the output layer gets the
                // smaller 1/√fan_in bound so the first logits are modest.
                let bound = if relu { (6.0 / inputs as f32).sqrt() } else { 1.0 / (inputs as f32).sqrt() };
                let w = Var::from_vec(uniform(rng, out * inputs, bound), (out, inputs), &dev)?;
                let b = Var::from_vec(vec![0f32; out], out, &dev)?;
                layers.push(Layer::Dense { w, b, relu });
                inputs = out;
            }
            Ok::<(), candle_core::Error>(())
        };
        match arch {
            Arch::Mlp { hidden } => dense(&mut layers, &mut rng, sample_shape.iter().product(), hidden)?,
            Arch::Cnn { channels, hidden } => {
                let (mut c_in, mut h, mut w) = match sample_shape {
                    [c, h, w] => (*c, *h, *w),
                    _ => (1, 1, 1),
                };
                for &c in channels {
                    let fan_in = c_in * 9;
                    let kernel = uniform(&mut rng, c * fan_in, (6.0 / fan_in as f32).sqrt());
                    layers.push(Layer::ConvBlock {
                        w: Var::from_vec(kernel, (c, c_in, 3, 3), &dev)?,
                        b: Var::from_vec(vec![0f32; c], c, &dev)?,
                    });
                    (c_in, h, w) = (c, h / 2, w / 2);
                }
                layers.push(Layer::Flatten);
                dense(&mut layers, &mut rng, c_in * h * w, hidden)?;
            }
        }
        Ok(Net { arch: arch.clone(), sample_shape: sample_shape.to_vec(), layers })
    }

    /// Every trainable variable, for the optimizer.
    pub fn vars(&self) -> Vec<Var> {
        self.layers
            .iter()
            .flat_map(|l| match l {
                Layer::ConvBlock { w, b } | Layer::Dense { w, b, .. } => vec![w.clone(), b.clone()],
                Layer::Flatten => Vec::new(),
            })
            .collect()
    }

    /// Logits for a batch of flat rows `[N, features]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = if matches!(self.arch, Arch::Cnn { .. }) {
            let n = x.dim(0)?;
            let mut shape = vec![n];
            shape.extend_from_slice(&self.sample_shape);
            x.reshape(shape)?
        } else {
            x.clone()
        };
        for layer in &self.layers {
            x = match layer {
                Layer::ConvBlock { w, b } => {
                    let c = b.dim(0)?;
                    let y =
                        x.conv2d(w.as_tensor(), 1, 1, 1, 1)?.broadcast_add(&b.as_tensor().reshape((1, c, 1, 1))?)?;
                    y.relu()?.max_pool2d(2)?
                }
                Layer::Flatten => x.flatten_from(1)?,
                Layer::Dense { w, b, relu } => {
                    let y = x.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?;
                    if *relu { y.relu()? } else { y }
                }
            };
        }
        Ok(x)
    }

    /// The trained weights under the names the ONNX writer uses.
    pub fn weights(&self) -> Result<Vec<NamedWeight>> {
        let mut out = Vec::new();
        let (mut conv, mut fc) = (0, 0);
        for layer in &self.layers {
            let (prefix, w, b) = match layer {
                Layer::ConvBlock { w, b } => {
                    conv += 1;
                    (format!("conv{conv}"), w, b)
                }
                Layer::Dense { w, b, .. } => {
                    fc += 1;
                    (format!("fc{fc}"), w, b)
                }
                Layer::Flatten => continue,
            };
            for (suffix, v) in [("weight", w), ("bias", b)] {
                let t = v.as_tensor();
                out.push(NamedWeight {
                    name: format!("{prefix}.{suffix}"),
                    dims: t.dims().iter().map(|&d| d as i64).collect(),
                    values: t.flatten_all()?.to_vec1::<f32>()?,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_parameter_counts_match_the_architecture() {
        for (spec, shape) in [("mlp:16,8", vec![64]), ("cnn:4,8:16", vec![1, 8, 8]), ("mlp", vec![2, 3])] {
            let arch = Arch::parse(spec).unwrap();
            let net = Net::new(&arch, &shape, 10, 1).unwrap();
            let features: usize = shape.iter().product();
            let x = Tensor::zeros((3, features), candle_core::DType::F32, &Device::Cpu).unwrap();
            assert_eq!(net.forward(&x).unwrap().dims(), &[3, 10], "{spec}");
            let n: usize = net.weights().unwrap().iter().map(|w| w.values.len()).sum();
            assert_eq!(n as u64, arch.params(&shape, 10), "{spec}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_weights() {
        let arch = Arch::parse("mlp:8").unwrap();
        let a = Net::new(&arch, &[4], 3, 9).unwrap().weights().unwrap();
        let b = Net::new(&arch, &[4], 3, 9).unwrap().weights().unwrap();
        let c = Net::new(&arch, &[4], 3, 10).unwrap().weights().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
