//! Every layer's and every loss's backward pass against central differences.

use funnel_train::check::{dot, max_relative_error, numeric_gradient, probe};
use funnel_train::loss;
use funnel_train::{
    Activation, ActivationLayer, Bags, Dropout, EmbeddingTable, FmInteraction, Linear, Mlp, Tensor,
};

const EPS: f32 = 1e-2;
const TOL: f32 = 2e-3;

fn input(rows: usize, cols: usize, seed: u64) -> Tensor {
    Tensor::from_vec(rows, cols, probe(rows * cols, seed)).unwrap()
}

#[test]
fn linear_gradients_of_input_weights_and_bias() {
    let (b, i, o) = (5, 7, 3);
    let x = input(b, i, 1);
    let r = probe(b * o, 2);
    let mut lin = Linear::new(i, o, 3);
    lin.bias.value = probe(o, 4);
    let y = lin.forward(x.clone(), true).unwrap();
    let dx = lin.backward(&Tensor::from_vec(b, o, r.clone()).unwrap());
    let base = lin.clone();
    let n = numeric_gradient(x.data(), EPS, |v| {
        dot(
            &r,
            base.infer(&Tensor::from_vec(b, i, v.to_vec()).unwrap())
                .unwrap()
                .data(),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL);
    let n = numeric_gradient(&base.weight.value, EPS, |v| {
        let mut l = base.clone();
        l.weight.value = v.to_vec();
        dot(&r, l.infer(&x).unwrap().data())
    });
    assert!(max_relative_error(&lin.weight.grad, &n) < TOL);
    let n = numeric_gradient(&base.bias.value, EPS, |v| {
        let mut l = base.clone();
        l.bias.value = v.to_vec();
        dot(&r, l.infer(&x).unwrap().data())
    });
    assert!(max_relative_error(&lin.bias.grad, &n) < TOL);
    assert_eq!(y.shape(), (b, o));
}

#[test]
fn shape_errors_name_both_shapes() {
    let lin = Linear::new(7, 3, 0);
    let err = lin.infer(&Tensor::zeros(4, 6)).unwrap_err().to_string();
    assert!(err.contains("4×6") && err.contains("3×7"), "{err}");
    let mut mlp = Mlp::new(5, &[4], 1, Activation::Relu, 0.0, 0);
    let err = mlp
        .try_forward(Tensor::zeros(2, 9), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2×9") && err.contains("4×5"), "{err}");
}

#[test]
fn activation_gradients() {
    for act in [
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
        Activation::Identity,
    ] {
        // keep ReLU's inputs away from its kink
        let x = Tensor::from_vec(
            4,
            6,
            probe(24, 5)
                .iter()
                .map(|v| v * 2.0 + 0.05f32.copysign(*v))
                .collect(),
        )
        .unwrap();
        let r = probe(24, 6);
        let mut layer = ActivationLayer::new(act);
        layer.forward(x.clone(), true);
        let dx = layer.backward(Tensor::from_vec(4, 6, r.clone()).unwrap());
        let n = numeric_gradient(x.data(), 1e-3, |v| {
            let mut y = v.to_vec();
            act.apply(&mut y);
            dot(&r, &y)
        });
        let e = max_relative_error(dx.data(), &n);
        assert!(e < TOL, "{}: {e}", act.name());
    }
}

#[test]
fn mlp_gradients_through_every_layer() {
    let (b, i) = (6, 5);
    let x = input(b, i, 7);
    let r = probe(b, 8);
    for act in [Activation::Tanh, Activation::Gelu, Activation::Sigmoid] {
        let mut mlp = Mlp::new(i, &[8, 4], 1, act, 0.0, 9);
        mlp.forward(x.clone(), true);
        let dx = mlp.backward(Tensor::from_vec(b, 1, r.clone()).unwrap());
        let base = mlp.clone();
        let n = numeric_gradient(x.data(), EPS, |v| {
            dot(
                &r,
                base.infer(&Tensor::from_vec(b, i, v.to_vec()).unwrap())
                    .unwrap()
                    .data(),
            )
        });
        assert!(max_relative_error(dx.data(), &n) < TOL, "{}", act.name());
        for l in 0..base.linears.len() {
            let n = numeric_gradient(&base.linears[l].weight.value, EPS, |v| {
                let mut m = base.clone();
                m.linears[l].weight.value = v.to_vec();
                dot(&r, m.infer(&x).unwrap().data())
            });
            let e = max_relative_error(&mlp.linears[l].weight.grad, &n);
            assert!(e < TOL, "{} layer {l}: {e}", act.name());
        }
    }
}

#[test]
fn dropout_passes_gradients_through_its_mask_and_is_identity_at_inference() {
    let x = input(50, 20, 10);
    let mut d = Dropout::new(0.3, 1);
    let y = d.forward(x.clone(), true);
    let zeros = y.data().iter().filter(|v| **v == 0.0).count();
    assert!((200..400).contains(&zeros), "{zeros} of 1000 dropped");
    let g = d.backward(Tensor::from_vec(50, 20, vec![1.0; 1000]).unwrap());
    for (gy, yy) in g.data().iter().zip(y.data()) {
        assert_eq!(*gy == 0.0, *yy == 0.0);
        if *gy != 0.0 {
            assert!((gy - 1.0 / 0.7).abs() < 1e-6);
        }
    }
    assert_eq!(d.forward(x.clone(), false), x);
}

#[test]
fn fm_interaction_gradient() {
    let (b, f, k) = (4, 5, 3);
    let x = input(b, f * k, 11);
    let r = probe(b, 12);
    let mut fm = FmInteraction::new(f, k);
    let y = fm.forward(&x, true);
    // against the pairwise definition
    for (i, yi) in y.iter().enumerate() {
        let row = x.row(i);
        let mut want = 0.0;
        for p in 0..f {
            for q in p + 1..f {
                want += (0..k).map(|d| row[p * k + d] * row[q * k + d]).sum::<f32>();
            }
        }
        assert!((yi - want).abs() < 1e-5);
    }
    let dx = fm.backward(&r);
    let n = numeric_gradient(x.data(), EPS, |v| {
        dot(
            &r,
            &fm.infer(&Tensor::from_vec(b, f * k, v.to_vec()).unwrap()),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL);
}

#[test]
fn embedding_pooling_gradient() {
    let mut t = EmbeddingTable::new(10, 4, 0.5, 3);
    let mut bags = Bags::new();
    for (id, w) in [(1, 1.0), (4, 0.5), (1, 0.25)] {
        bags.push(id, w);
    }
    bags.close();
    bags.push(9, -1.0);
    bags.close();
    let r = probe(8, 13);
    t.backward(&bags, &Tensor::from_vec(2, 4, r.clone()).unwrap());
    let base = t.clone();
    let n = numeric_gradient(&base.values, EPS, |v| {
        let mut m = base.clone();
        m.values = v.to_vec();
        dot(&r, m.lookup(&bags).data())
    });
    for row in 0..10 {
        let numeric = &n[row * 4..row * 4 + 4];
        match t.grad_of(row) {
            Some(g) => assert!(max_relative_error(g, numeric) < TOL, "row {row}"),
            None => assert!(numeric.iter().all(|v| v.abs() < 1e-4), "row {row}"),
        }
    }
}

#[test]
fn loss_gradients() {
    let z = probe(12, 14).iter().map(|v| v * 3.0).collect::<Vec<_>>();
    let y: Vec<f32> = (0..12).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let w: Vec<f32> = (0..12).map(|i| 0.5 + i as f32 / 10.0).collect();
    for weights in [None, Some(&w[..])] {
        let (_, g) = loss::bce_with_logits(&z, &y, weights);
        let n = numeric_gradient(&z, 1e-3, |v| loss::bce_with_logits(v, &y, weights).0 as f64);
        assert!(max_relative_error(&g, &n) < TOL);
    }
    // extreme logits stay finite
    let (l, g) = loss::bce_with_logits(&[80.0, -80.0], &[0.0, 1.0], None);
    assert!((l - 80.0).abs() < 1e-3 && g.iter().all(|g| g.is_finite()));

    let logits = input(3, 5, 15);
    let targets = [4, 0, 2];
    let (_, g) = loss::softmax_cross_entropy(&logits, &targets);
    let n = numeric_gradient(logits.data(), 1e-3, |v| {
        loss::softmax_cross_entropy(&Tensor::from_vec(3, 5, v.to_vec()).unwrap(), &targets).0 as f64
    });
    assert!(max_relative_error(g.data(), &n) < TOL);

    let q = Tensor::from_vec(3, 5, probe(15, 16).iter().map(|v| v.abs().ln()).collect()).unwrap();
    let (_, g) = loss::sampled_softmax(&logits, &q);
    let n = numeric_gradient(logits.data(), 1e-3, |v| {
        loss::sampled_softmax(&Tensor::from_vec(3, 5, v.to_vec()).unwrap(), &q).0 as f64
    });
    assert!(max_relative_error(g.data(), &n) < TOL);

    let scores = input(4, 4, 17);
    let lq = vec![-1.0, -2.0, -0.5, -3.0];
    let (_, g) = loss::in_batch_softmax(&scores, Some(&lq), 0.2);
    let n = numeric_gradient(scores.data(), 1e-3, |v| {
        loss::in_batch_softmax(&Tensor::from_vec(4, 4, v.to_vec()).unwrap(), Some(&lq), 0.2).0
            as f64
    });
    assert!(max_relative_error(g.data(), &n) < TOL);

    let (pos, neg) = (probe(6, 18), probe(6, 19));
    let (_, dp, dn) = loss::bpr(&pos, &neg);
    let n = numeric_gradient(&pos, 1e-3, |v| loss::bpr(v, &neg).0 as f64);
    assert!(max_relative_error(&dp, &n) < TOL);
    let n = numeric_gradient(&neg, 1e-3, |v| loss::bpr(&pos, v).0 as f64);
    assert!(max_relative_error(&dn, &n) < TOL);
}

#[test]
fn cross_network_gradients_for_every_kind_of_layer() {
    use funnel_train::CrossNet;
    let (b, d) = (5, 6);
    let x = input(b, d, 20);
    let r = probe(b * d, 21);
    // full-rank (DCN-V2), rank-one vectors (DCN), and a mixture of rank-2 experts
    for (rank, experts, vector) in [(0, 1, false), (1, 1, true), (2, 3, false)] {
        let mut net = CrossNet::new(d, 2, rank, experts, vector, 22);
        for p in net.params_mut() {
            p.value
                .iter_mut()
                .enumerate()
                .for_each(|(k, v)| *v += 0.05 * ((k % 5) as f32 - 2.0));
        }
        net.forward(&x, true);
        let dx = net.backward(Tensor::from_vec(b, d, r.clone()).unwrap());
        let base = net.clone();
        let n = numeric_gradient(x.data(), 1e-2, |v| {
            dot(
                &r,
                base.infer(&Tensor::from_vec(b, d, v.to_vec()).unwrap())
                    .data(),
            )
        });
        let e = max_relative_error(dx.data(), &n);
        assert!(e < TOL, "rank {rank} vector {vector}: input gradient {e}");
        let count = base.params().len();
        for k in 0..count {
            let n = numeric_gradient(&base.params()[k].value, 1e-2, |v| {
                let mut m = base.clone();
                m.params_mut()[k].value = v.to_vec();
                dot(&r, m.infer(&x).data())
            });
            let e = max_relative_error(&net.params()[k].grad, &n);
            assert!(
                e < TOL,
                "rank {rank} vector {vector}: parameter {k} gradient {e}"
            );
        }
    }
}

#[test]
fn bi_interaction_and_product_layer_gradients() {
    use funnel_train::{BiInteraction, Products};
    let (b, f, k) = (4, 5, 3);
    let x = input(b, f * k, 30);
    let mut bi = BiInteraction::new(f, k);
    let y = bi.forward(&x, true);
    // summed over dimensions it is the FM interaction
    let fm = FmInteraction::new(f, k).infer(&x);
    for (i, f) in fm.iter().enumerate() {
        assert!((y.row(i).iter().sum::<f32>() - f).abs() < 1e-5);
    }
    let r = probe(b * k, 31);
    let dx = bi.backward(&Tensor::from_vec(b, k, r.clone()).unwrap());
    let n = numeric_gradient(x.data(), EPS, |v| {
        dot(
            &r,
            bi.infer(&Tensor::from_vec(b, f * k, v.to_vec()).unwrap())
                .data(),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL, "bi-interaction");
    for outer in [false, true] {
        let mut p = Products::new(f, k, outer);
        let y = p.forward(&x, true);
        assert_eq!(y.cols(), if outer { k * k } else { f * (f - 1) / 2 });
        let r = probe(b * y.cols(), 32);
        let dx = p.backward(&Tensor::from_vec(b, y.cols(), r.clone()).unwrap());
        let n = numeric_gradient(x.data(), EPS, |v| {
            dot(
                &r,
                p.infer(&Tensor::from_vec(b, f * k, v.to_vec()).unwrap())
                    .data(),
            )
        });
        assert!(
            max_relative_error(dx.data(), &n) < TOL,
            "products outer={outer}"
        );
    }
}

#[test]
fn self_attention_gradients() {
    use funnel_train::SelfAttention;
    let (b, t, d) = (3, 4, 5);
    let x = input(b, t * d, 40);
    // small steps: the output ReLU has kinks a 1e-2 step crosses
    for scaled in [false, true] {
        let mut att = SelfAttention::new(t, d, 2, 3, scaled, 41);
        let y = att.forward(&x, true);
        assert_eq!(y, att.infer(&x));
        let r = probe(b * att.outputs(), 42);
        let dx = att.backward(&Tensor::from_vec(b, att.outputs(), r.clone()).unwrap());
        let base = att.clone();
        let n = numeric_gradient(x.data(), 1e-3, |v| {
            dot(
                &r,
                base.infer(&Tensor::from_vec(b, t * d, v.to_vec()).unwrap())
                    .data(),
            )
        });
        let e = max_relative_error(dx.data(), &n);
        assert!(e < TOL, "input gradient {e}");
        for k in 0..4 {
            let n = numeric_gradient(&base.params()[k].value, 1e-3, |v| {
                let mut m = base.clone();
                m.params_mut()[k].value = v.to_vec();
                dot(&r, m.infer(&x).data())
            });
            let e = max_relative_error(&att.params()[k].grad, &n);
            assert!(e < TOL, "projection {k} gradient {e} (scaled {scaled})");
        }
    }
}

#[test]
fn layer_norm_batch_norm_and_prelu_gradients() {
    use funnel_train::{BatchNorm, LayerNorm, PRelu};
    let (b, w) = (6, 5);
    let x = input(b, w, 50);
    let r = probe(b * w, 51);
    let dy = Tensor::from_vec(b, w, r.clone()).unwrap();

    let mut ln = LayerNorm::new(w);
    ln.gamma.value = probe(w, 52).iter().map(|v| 1.0 + v).collect();
    ln.beta.value = probe(w, 53);
    ln.forward(&x, true);
    let dx = ln.backward(&dy);
    let n = numeric_gradient(x.data(), 1e-3, |v| {
        dot(
            &r,
            ln.infer(&Tensor::from_vec(b, w, v.to_vec()).unwrap())
                .data(),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL, "layer norm input");
    let base = ln.clone();
    let n = numeric_gradient(&base.gamma.value, 1e-3, |v| {
        let mut m = base.clone();
        m.gamma.value = v.to_vec();
        dot(&r, m.infer(&x).data())
    });
    assert!(
        max_relative_error(&ln.gamma.grad, &n) < TOL,
        "layer norm gain"
    );

    // batch norm: the training pass's function of the whole batch
    let mut bn = BatchNorm::new(w);
    bn.gamma.value = probe(w, 54).iter().map(|v| 1.0 + v).collect();
    let base = bn.clone();
    bn.forward(&x, true);
    let dx = bn.backward(&dy);
    let n = numeric_gradient(x.data(), 1e-3, |v| {
        let mut m = base.clone();
        dot(
            &r,
            m.forward(&Tensor::from_vec(b, w, v.to_vec()).unwrap(), true)
                .data(),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL, "batch norm input");
    // running statistics move towards the batch's and serve inference
    assert!(bn.running_mean.iter().any(|m| *m != 0.0));
    assert_ne!(bn.infer(&x), bn.clone().forward(&x, true));

    let mut pr = PRelu::new(w);
    let xs = Tensor::from_vec(
        b,
        w,
        x.data().iter().map(|v| v + 0.05f32.copysign(*v)).collect(),
    )
    .unwrap();
    pr.forward(&xs, true);
    let dx = pr.backward(&dy);
    let n = numeric_gradient(xs.data(), 1e-3, |v| {
        dot(
            &r,
            pr.infer(&Tensor::from_vec(b, w, v.to_vec()).unwrap())
                .data(),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL, "prelu input");
    let base = pr.clone();
    let n = numeric_gradient(&base.alpha.value, 1e-3, |v| {
        let mut m = base.clone();
        m.alpha.value = v.to_vec();
        dot(&r, m.infer(&xs).data())
    });
    assert!(max_relative_error(&pr.alpha.grad, &n) < TOL, "prelu slopes");
}

#[test]
fn cin_gradients_and_the_first_layer_by_definition() {
    use funnel_train::Cin;
    let (b, m, d) = (3, 4, 3);
    let x = input(b, m * d, 60);
    let mut cin = Cin::new(m, d, &[5, 3], 61);
    for p in cin.params_mut() {
        p.value
            .iter_mut()
            .enumerate()
            .for_each(|(k, v)| *v += 0.03 * ((k % 7) as f32 - 3.0));
    }
    let y = cin.forward(&x, true);
    assert_eq!(y.shape(), (b, 8));
    // layer 1, map h, by the definition: Σ_d Σ_ij W_h,ij x_i,d x_j,d + D·bias_h
    let l0 = &cin.layers[0];
    for row in 0..b {
        for h in 0..5 {
            let mut want = d as f32 * l0.bias.value[h];
            for k in 0..d {
                for i in 0..m {
                    for j in 0..m {
                        want += l0.weight.value[h * m * m + i * m + j]
                            * x.get(row, i * d + k)
                            * x.get(row, j * d + k);
                    }
                }
            }
            assert!(
                (y.get(row, h) - want).abs() < 1e-4,
                "{} vs {want}",
                y.get(row, h)
            );
        }
    }
    let r = probe(b * 8, 62);
    let dx = cin.backward(&Tensor::from_vec(b, 8, r.clone()).unwrap());
    let base = cin.clone();
    let n = numeric_gradient(x.data(), 1e-3, |v| {
        dot(
            &r,
            base.infer(&Tensor::from_vec(b, m * d, v.to_vec()).unwrap())
                .data(),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL, "cin input");
    for k in 0..base.params().len() {
        let n = numeric_gradient(&base.params()[k].value, 1e-3, |v| {
            let mut c = base.clone();
            c.params_mut()[k].value = v.to_vec();
            dot(&r, c.infer(&x).data())
        });
        let e = max_relative_error(&cin.params()[k].grad, &n);
        assert!(e < TOL, "cin parameter {k}: {e}");
    }
}

#[test]
fn afm_pooling_gradients() {
    use funnel_train::AfmPooling;
    let (b, f, d) = (3, 4, 3);
    let x = input(b, f * d, 70);
    let mut afm = AfmPooling::new(f, d, 5, 71);
    for p in afm.params_mut() {
        p.value
            .iter_mut()
            .enumerate()
            .for_each(|(k, v)| *v += 0.05 * ((k % 5) as f32 - 2.0));
    }
    let y = afm.forward(&x, true);
    assert_eq!(y, afm.infer(&x));
    let r = probe(b, 72);
    let dx = afm.backward(&r);
    let base = afm.clone();
    let n = numeric_gradient(x.data(), 1e-3, |v| {
        dot(
            &r,
            &base.infer(&Tensor::from_vec(b, f * d, v.to_vec()).unwrap()),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL, "afm input");
    for k in 0..base.params().len() {
        let n = numeric_gradient(&base.params()[k].value, 1e-3, |v| {
            let mut m = base.clone();
            m.params_mut()[k].value = v.to_vec();
            dot(&r, &m.infer(&x))
        });
        let e = max_relative_error(&afm.params()[k].grad, &n);
        assert!(e < TOL, "afm parameter {k}: {e}");
    }
}

#[test]
fn senet_gradients() {
    use funnel_train::SeNet;
    let (b, f, d) = (3, 6, 4);
    // positive means keep the squeeze's ReLUs away from their kinks
    let x = Tensor::from_vec(
        b,
        f * d,
        probe(b * f * d, 80).iter().map(|v| v + 0.6).collect(),
    )
    .unwrap();
    let mut se = SeNet::new(f, d, 2, 81);
    for p in se.params_mut() {
        p.value.iter_mut().for_each(|v| *v = v.abs() + 0.05);
    }
    let y = se.forward(&x, true);
    assert_eq!(y, se.infer(&x));
    let r = probe(b * f * d, 82);
    let dx = se.backward(&Tensor::from_vec(b, f * d, r.clone()).unwrap());
    let base = se.clone();
    let n = numeric_gradient(x.data(), 1e-3, |v| {
        dot(
            &r,
            base.infer(&Tensor::from_vec(b, f * d, v.to_vec()).unwrap())
                .data(),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL, "senet input");
    for k in 0..base.params().len() {
        let n = numeric_gradient(&base.params()[k].value, 1e-3, |v| {
            let mut m = base.clone();
            m.params_mut()[k].value = v.to_vec();
            dot(&r, m.infer(&x).data())
        });
        let e = max_relative_error(&se.params()[k].grad, &n);
        assert!(e < TOL, "senet parameter {k}: {e}");
    }
}

#[test]
fn bilinear_gradients_of_every_kind() {
    use funnel_train::{Bilinear, BilinearKind};
    let (b, f, d) = (3, 4, 3);
    let x = input(b, f * d, 90);
    for kind in [
        BilinearKind::All,
        BilinearKind::Each,
        BilinearKind::Interaction,
    ] {
        let mut bi = Bilinear::new(f, d, kind, 91);
        let y = bi.forward(&x, true);
        assert_eq!(y.shape(), (b, 6 * d));
        assert_eq!(y, bi.infer(&x));
        // p_01 = (e_0 W) ⊙ e_1, by hand for the first row
        let w = &bi.params()[0].value;
        let e = x.row(0);
        for t in 0..d {
            let left: f32 = (0..d).map(|s| e[s] * w[t * d + s]).sum();
            assert!((y.row(0)[t] - left * e[d + t]).abs() < 1e-5, "{kind:?}");
        }
        let r = probe(b * 6 * d, 92);
        let dx = bi.backward(&Tensor::from_vec(b, 6 * d, r.clone()).unwrap());
        let base = bi.clone();
        let n = numeric_gradient(x.data(), 1e-3, |v| {
            dot(
                &r,
                base.infer(&Tensor::from_vec(b, f * d, v.to_vec()).unwrap())
                    .data(),
            )
        });
        assert!(max_relative_error(dx.data(), &n) < TOL, "{kind:?} input");
        for k in 0..base.params().len() {
            let n = numeric_gradient(&base.params()[k].value, 1e-3, |v| {
                let mut m = base.clone();
                m.params_mut()[k].value = v.to_vec();
                dot(&r, m.infer(&x).data())
            });
            let e = max_relative_error(&bi.params()[k].grad, &n);
            assert!(e < TOL, "{kind:?} parameter {k}: {e}");
        }
    }
}

#[test]
fn dice_gradients_through_the_batch_statistics() {
    use funnel_train::Dice;
    let (b, w) = (7, 4);
    let x = input(b, w, 100);
    let r = probe(b * w, 101);
    let mut dice = Dice::new(w);
    dice.alpha.value = probe(w, 102);
    dice.bn.gamma.value = probe(w, 103).iter().map(|v| 1.0 + v).collect();
    dice.bn.beta.value = probe(w, 104);
    let base = dice.clone();
    dice.forward(&x, true);
    let dx = dice.backward(&Tensor::from_vec(b, w, r.clone()).unwrap());
    let train_pass = |m: &Dice, x: &Tensor| m.clone().forward(x, true);
    let n = numeric_gradient(x.data(), 1e-3, |v| {
        dot(
            &r,
            train_pass(&base, &Tensor::from_vec(b, w, v.to_vec()).unwrap()).data(),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL, "dice input");
    let n = numeric_gradient(&base.alpha.value, 1e-3, |v| {
        let mut m = base.clone();
        m.alpha.value = v.to_vec();
        dot(&r, train_pass(&m, &x).data())
    });
    assert!(max_relative_error(&dice.alpha.grad, &n) < TOL, "dice alpha");
    let n = numeric_gradient(&base.bn.gamma.value, 1e-3, |v| {
        let mut m = base.clone();
        m.bn.gamma.value = v.to_vec();
        dot(&r, train_pass(&m, &x).data())
    });
    assert!(
        max_relative_error(&dice.bn.gamma.grad, &n) < TOL,
        "dice gain"
    );
    // α = 1 makes Dice the identity; at inference the running statistics place the kink
    let mut id = Dice::new(w);
    id.alpha.value = vec![1.0; w];
    let y = id.forward(&x, true);
    assert!(y
        .data()
        .iter()
        .zip(x.data())
        .all(|(a, b)| (a - b).abs() < 1e-6));
    assert_ne!(dice.infer(&x), train_pass(&dice, &x));
}

#[test]
fn gru_gradients_through_time_with_rows_of_different_lengths() {
    use funnel_train::Gru;
    let (b, steps, i, h) = (3, 4, 3, 5);
    let x = input(b, steps * i, 110);
    let lengths = [4, 1, 3];
    let mut gru = Gru::new(i, h, 111);
    let y = gru.forward(&x, Some(&lengths), true);
    assert_eq!(y.shape(), (b, steps * h));
    assert_eq!(y, gru.infer(&x, Some(&lengths)));
    // a row's padding keeps its last state
    assert_eq!(&y.row(1)[h..2 * h], &y.row(1)[..h]);
    assert_eq!(&y.row(2)[3 * h..], &y.row(2)[2 * h..3 * h]);
    // a row's states do not depend on the steps after its length
    let mut x2 = x.clone();
    x2.row_mut(1)[i..].iter_mut().for_each(|v| *v += 1.0);
    assert_eq!(gru.infer(&x2, Some(&lengths)).row(1), y.row(1));
    let r = probe(b * steps * h, 112);
    let dx = gru.backward(&Tensor::from_vec(b, steps * h, r.clone()).unwrap());
    let base = gru.clone();
    let n = numeric_gradient(x.data(), 1e-3, |v| {
        dot(
            &r,
            base.infer(
                &Tensor::from_vec(b, steps * i, v.to_vec()).unwrap(),
                Some(&lengths),
            )
            .data(),
        )
    });
    assert!(max_relative_error(dx.data(), &n) < TOL, "gru input");
    for k in 0..base.params().len() {
        let n = numeric_gradient(&base.params()[k].value, 1e-3, |v| {
            let mut m = base.clone();
            m.params_mut()[k].value = v.to_vec();
            dot(&r, m.infer(&x, Some(&lengths)).data())
        });
        let e = max_relative_error(&gru.params()[k].grad, &n);
        assert!(e < TOL, "gru parameter {k}: {e}");
    }
}
