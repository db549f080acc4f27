//! The substrate against PyTorch: the same weights and batch give the same loss and
//! gradients, and every optimiser the same weights after three steps, to 1e-5.
//! Fixtures: `scripts/torch_fixtures.py` (PyTorch from PyPI, float64 maths on the same
//! float32 inputs), committed in tests/fixtures/torch.json.

use funnel_train::{loss, Activation, Linear, Mlp, Optimizer, Param, Rule, Tensor};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/torch.json")).unwrap()
}

fn v32(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{what}[{k}]: funnel {g}, torch {w}"
        );
    }
}

#[test]
fn mlp_loss_and_gradients_equal_pytorch() {
    let f = &fixture()["mlp"];
    let sizes: Vec<usize> = f["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap() as usize)
        .collect();
    let linears: Vec<Linear> = (0..sizes.len() - 1)
        .map(|l| {
            Linear::from_parts(
                sizes[l],
                sizes[l + 1],
                v32(&f["weights"][l]),
                v32(&f["biases"][l]),
            )
            .unwrap()
        })
        .collect();
    let mut mlp = Mlp::from_linears(linears, Activation::Relu, 0.0, true, 0);
    let x = Tensor::from_vec(6, sizes[0], v32(&f["x"])).unwrap();
    let (y, w) = (v32(&f["y"]), v32(&f["w"]));
    let z = mlp.forward(x, true);
    let (l, dz) = loss::bce_with_logits(z.data(), &y, Some(&w));
    assert!(
        (l - f["loss"].as_f64().unwrap() as f32).abs() < 1e-5,
        "loss {l} vs {}",
        f["loss"]
    );
    let dx = mlp.backward(Tensor::from_vec(6, 1, dz).unwrap());
    assert_close(dx.data(), &v32(&f["grad_x"]), "input gradient");
    for (l, lin) in mlp.linears.iter().enumerate() {
        assert_close(
            &lin.weight.grad,
            &v32(&f["grad_weights"][l]),
            &format!("layer {l} weight gradient"),
        );
        assert_close(
            &lin.bias.grad,
            &v32(&f["grad_biases"][l]),
            &format!("layer {l} bias gradient"),
        );
    }
}

#[test]
fn every_optimiser_steps_as_pytorch() {
    let f = &fixture()["optimizers"];
    let after = f["after"].as_object().unwrap();
    assert_eq!(after.len(), 8);
    for (name, want) in after {
        let rule = Rule::parse(name).unwrap_or_else(|| panic!("no rule {name}"));
        let mut opt = Optimizer::new(
            rule,
            want["lr"].as_f64().unwrap() as f32,
            want["weight_decay"].as_f64().unwrap() as f32,
        );
        let mut p = Param::new(v32(&f["p0"]));
        for g in f["grads"].as_array().unwrap() {
            p.grad = v32(g);
            opt.step(&mut [&mut p]);
        }
        assert_close(&p.value, &v32(&want["p"]), name);
    }
}

#[test]
fn gelu_and_its_derivative_equal_pytorch() {
    let f = &fixture()["gelu"];
    let x = v32(&f["x"]);
    let mut y = x.clone();
    Activation::Gelu.apply(&mut y);
    assert_close(&y, &v32(&f["y"]), "gelu");
    let mut layer = funnel_train::ActivationLayer::new(Activation::Gelu);
    let n = x.len();
    layer.forward(Tensor::from_vec(1, n, x).unwrap(), true);
    let dx = layer.backward(Tensor::from_vec(1, n, vec![1.0; n]).unwrap());
    assert_close(dx.data(), &v32(&f["dy"]), "gelu derivative");
}

#[test]
fn softmax_and_sampled_softmax_equal_pytorch() {
    let f = &fixture()["softmax"];
    let (r, c) = (
        f["rows"].as_u64().unwrap() as usize,
        f["cols"].as_u64().unwrap() as usize,
    );
    let logits = Tensor::from_vec(r, c, v32(&f["logits"])).unwrap();
    let targets: Vec<usize> = f["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as usize)
        .collect();
    let (l, g) = loss::softmax_cross_entropy(&logits, &targets);
    assert_close(&[l], &[f["loss"].as_f64().unwrap() as f32], "cross-entropy");
    assert_close(g.data(), &v32(&f["grad"]), "cross-entropy gradient");
    let log_q = Tensor::from_vec(r, c, v32(&f["log_q"])).unwrap();
    let (l, g) = loss::sampled_softmax(&logits, &log_q);
    assert_close(
        &[l],
        &[f["sampled_loss"].as_f64().unwrap() as f32],
        "sampled softmax",
    );
    assert_close(
        g.data(),
        &v32(&f["sampled_grad"]),
        "sampled softmax gradient",
    );
}

fn cross_case(name: &str) {
    use funnel_train::CrossNet;
    let f = &fixture()[name];
    let u = |k: &str| f[k].as_u64().unwrap() as usize;
    let (d, rows) = (u("d"), u("rows"));
    let mut net = CrossNet::new(d, u("layers"), u("rank"), u("experts"), false, 0);
    let params = f["params"].as_array().unwrap();
    {
        let mut ps = net.params_mut();
        assert_eq!(ps.len(), params.len(), "{name}: parameter count");
        for (p, v) in ps.iter_mut().zip(params) {
            p.value = v32(v);
        }
    }
    let x0 = Tensor::from_vec(rows, d, v32(&f["x0"])).unwrap();
    let out = net.forward(&x0, true);
    assert_close(out.data(), &v32(&f["out"]), &format!("{name} output"));
    assert_close(
        net.infer(&x0).data(),
        &v32(&f["out"]),
        &format!("{name} inference"),
    );
    let dx0 = net.backward(Tensor::from_vec(rows, d, v32(&f["probe"])).unwrap());
    assert_close(
        dx0.data(),
        &v32(&f["grad_x0"]),
        &format!("{name} input gradient"),
    );
    for (k, (p, g)) in net
        .params_mut()
        .iter()
        .zip(f["grad_params"].as_array().unwrap())
        .enumerate()
    {
        assert_close(&p.grad, &v32(g), &format!("{name} parameter {k} gradient"));
    }
}

#[test]
fn dcnv2_cross_layers_equal_pytorch() {
    cross_case("cross_full");
}

#[test]
fn dcnv2_mixture_of_low_rank_experts_equals_pytorch() {
    cross_case("cross_mix");
}

#[test]
fn din_activation_unit_equals_pytorch() {
    use funnel_train::AttentionUnit;
    let f = &fixture()["din_unit"];
    let u = |k: &str| f[k].as_u64().unwrap() as usize;
    let (rows, len, dim, hidden) = (u("rows"), u("len"), u("dim"), u("hidden"));
    let mut unit = AttentionUnit::new(len, dim, &[hidden], Activation::Sigmoid, 0);
    for (l, lin) in unit.mlp.linears.iter_mut().enumerate() {
        lin.weight.value = v32(&f["weights"][l]);
        lin.bias.value = v32(&f["biases"][l]);
    }
    let q = Tensor::from_vec(rows, dim, v32(&f["q"])).unwrap();
    let keys = Tensor::from_vec(rows, len * dim, v32(&f["keys"])).unwrap();
    let mask = v32(&f["mask"]);
    let pooled = unit.forward(&q, &keys, &mask, true);
    assert_close(pooled.data(), &v32(&f["pooled"]), "pooled history");
    assert_close(
        unit.infer(&q, &keys, &mask).data(),
        &v32(&f["pooled"]),
        "inference",
    );
    let (dq, dk) = unit.backward(&Tensor::from_vec(rows, dim, v32(&f["probe"])).unwrap());
    assert_close(dq.data(), &v32(&f["grad_q"]), "query gradient");
    assert_close(dk.data(), &v32(&f["grad_keys"]), "keys gradient");
    for (l, lin) in unit.mlp.linears.iter().enumerate() {
        assert_close(
            &lin.weight.grad,
            &v32(&f["grad_weights"][l]),
            &format!("layer {l} weights"),
        );
        assert_close(
            &lin.bias.grad,
            &v32(&f["grad_biases"][l]),
            &format!("layer {l} biases"),
        );
    }
}

#[test]
fn gru_states_and_gradients_equal_pytorch() {
    use funnel_train::Gru;
    let f = &fixture()["gru"];
    let u = |k: &str| f[k].as_u64().unwrap() as usize;
    let (rows, steps, input, hidden) = (u("rows"), u("steps"), u("input"), u("hidden"));
    let lengths: Vec<usize> = f["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let mut gru = Gru::new(input, hidden, 0);
    for (k, p) in gru.params_mut().into_iter().enumerate() {
        p.value = v32(&f["params"][k]);
    }
    let x = Tensor::from_vec(rows, steps * input, v32(&f["x"])).unwrap();
    let states = gru.forward(&x, Some(&lengths), true);
    assert_close(states.data(), &v32(&f["states"]), "states");
    let dx = gru.backward(&Tensor::from_vec(rows, steps * hidden, v32(&f["probe"])).unwrap());
    assert_close(dx.data(), &v32(&f["grad_x"]), "input gradient");
    for (k, p) in gru.params().into_iter().enumerate() {
        assert_close(
            &p.grad,
            &v32(&f["grad_params"][k]),
            &format!("parameter {k}"),
        );
    }
}
