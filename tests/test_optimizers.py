"""Optimizers and learning-rate schedules: torch.optim step for step, in place, dtype kept,
state reset on every fit, checkpoints that resume exactly, and errors that say what is allowed."""

from __future__ import annotations

import copy
import json
import math
import warnings

import numpy as np
import pytest
from conftest import import_torch

from dlscratch import (
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    ConstantLR,
    CosineDecay,
    Dense,
    ExponentialDecay,
    LambdaCallback,
    Linear,
    LinearDecay,
    MeanSquaredError,
    NeuralNetwork,
    ReLU,
    RMSProp,
    SGDMomentum,
    StepDecay,
    Trainer,
    WarmUp,
)
from dlscratch.optimizers import is_bias_name


def make_net(dtype=np.float64) -> NeuralNetwork:
    net = NeuralNetwork([Dense(5, ReLU()), Dense(3, Linear())], MeanSquaredError(), seed=0,
                        dtype=dtype)
    return net.build(4)


def make_batches(count: int, dtype=np.float64, scale: float = 1.0):
    """``count`` (X, y) batches of 8 rows; ``scale`` makes the gradients large (for clipping)."""
    rng = np.random.default_rng(42)
    return [((rng.normal(size=(8, 4)) * scale).astype(dtype),
             (rng.normal(size=(8, 3)) * scale).astype(dtype)) for _ in range(count)]


def train_steps(net: NeuralNetwork, optim, batches) -> None:
    optim.net = net
    for X, y in batches:
        net.train_batch(X, y)
        optim.step()


# Every optimizer, and each with the base options: (our optimizer, torch.optim class, its
# arguments). The torch twin gets the weight decay of ours on the weights only (its
# param group for the biases has weight_decay=0) and the same clip_grad_norm_.
REFERENCE_CASES = {
    "SGD": (lambda: SGD(lr=0.1), "SGD", {"lr": 0.1}),
    "SGD+weight_decay": (lambda: SGD(lr=0.1, weight_decay=0.1), "SGD", {"lr": 0.1}),
    "SGD+clip_norm": (lambda: SGD(lr=0.1, clip_norm=0.5), "SGD", {"lr": 0.1}),
    "SGDMomentum": (lambda: SGDMomentum(lr=0.1, momentum=0.9), "SGD",
                    {"lr": 0.1, "momentum": 0.9}),
    "SGDMomentum+weight_decay+clip_norm": (
        lambda: SGDMomentum(lr=0.05, momentum=0.8, weight_decay=0.2, clip_norm=0.5), "SGD",
        {"lr": 0.05, "momentum": 0.8}),
    "AdaGrad": (lambda: AdaGrad(lr=0.1), "Adagrad", {"lr": 0.1}),
    "AdaGrad+weight_decay": (lambda: AdaGrad(lr=0.1, eps=1e-6, weight_decay=0.1), "Adagrad",
                             {"lr": 0.1, "eps": 1e-6}),
    "RMSProp": (lambda: RMSProp(lr=0.01), "RMSprop", {"lr": 0.01}),
    "RMSProp+momentum": (lambda: RMSProp(lr=0.01, alpha=0.9, eps=1e-6, momentum=0.9),
                         "RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "momentum": 0.9}),
    "RMSProp+weight_decay+clip_norm": (
        lambda: RMSProp(lr=0.01, momentum=0.5, weight_decay=0.1, clip_norm=0.5), "RMSprop",
        {"lr": 0.01, "momentum": 0.5}),
    "Adam": (lambda: Adam(lr=0.01), "Adam", {"lr": 0.01}),
    "Adam+betas+eps": (lambda: Adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6), "Adam",
                       {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    "Adam+weight_decay": (lambda: Adam(lr=0.01, weight_decay=0.1), "Adam", {"lr": 0.01}),
    "Adam+clip_norm": (lambda: Adam(lr=0.01, clip_norm=0.5), "Adam", {"lr": 0.01}),
    "AdamW": (lambda: AdamW(lr=0.01), "AdamW", {"lr": 0.01}),
    "AdamW+weight_decay+clip_norm": (lambda: AdamW(lr=0.01, weight_decay=0.5, clip_norm=0.5),
                                     "AdamW", {"lr": 0.01}),
}

# One factory per optimizer class, each with every base option switched on.
ALL_OPTIONS = {
    "SGD": lambda: SGD(lr=0.1, weight_decay=0.1, clip_norm=1.0),
    "SGDMomentum": lambda: SGDMomentum(lr=0.1, weight_decay=0.1, clip_norm=1.0),
    "AdaGrad": lambda: AdaGrad(lr=0.1, weight_decay=0.1, clip_norm=1.0),
    "RMSProp": lambda: RMSProp(lr=0.01, momentum=0.9, weight_decay=0.1, clip_norm=1.0),
    "Adam": lambda: Adam(lr=0.01, weight_decay=0.1, clip_norm=1.0),
    "AdamW": lambda: AdamW(lr=0.01, weight_decay=0.1, clip_norm=1.0),
}


# ---------------------------------------------------------------------- torch, step for step
@pytest.mark.parametrize("case", REFERENCE_CASES)
def test_optimizer_matches_torch_step_for_step(case):
    torch = import_torch()
    make_ours, torch_name, torch_kwargs = REFERENCE_CASES[case]
    net = make_net(np.float64)
    optim = make_ours()
    optim.net = net
    named = net.named_params()
    twins = [torch.tensor(param.copy(), requires_grad=True) for _, param in named]
    weights = [t for (name, _), t in zip(named, twins) if not is_bias_name(name)]
    biases = [t for (name, _), t in zip(named, twins) if is_bias_name(name)]
    assert len(weights) == len(biases) == 2
    groups = [{"params": weights, "weight_decay": optim.weight_decay},
              {"params": biases, "weight_decay": 0.0}]
    reference = getattr(torch.optim, torch_name)(groups, **torch_kwargs)

    clipped = 0
    # scale 3: large gradients, so clip_norm=0.5 clips in every step
    for X, y in make_batches(5, scale=3.0):
        net.train_batch(X, y)
        for twin, grad in zip(twins, net.param_grads()):
            twin.grad = torch.from_numpy(grad.copy())
        if optim.clip_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(twins, optim.clip_norm)
            clipped += bool(norm > optim.clip_norm)
        optim.step()
        reference.step()
        for (name, param), twin in zip(named, twins):
            np.testing.assert_allclose(param, twin.detach().numpy(), rtol=1e-10, atol=1e-13,
                                       err_msg=f"{case}: {name}")
    if optim.clip_norm is not None:
        assert clipped == 5


def test_sgd_momentum_matches_torch_buffer_times_lr():
    """The book's velocity is torch's momentum buffer times lr (same parameters, other scale)."""
    torch = import_torch()
    net = make_net()
    optim = SGDMomentum(lr=0.1, momentum=0.9)
    twins = [torch.tensor(p.copy(), requires_grad=True) for p in net.params()]
    reference = torch.optim.SGD(twins, lr=0.1, momentum=0.9)
    optim.net = net
    for X, y in make_batches(3):
        net.train_batch(X, y)
        for twin, grad in zip(twins, net.param_grads()):
            twin.grad = torch.from_numpy(grad.copy())
        optim.step()
        reference.step()
    for velocity, twin in zip(optim.velocities, twins):
        buffer = reference.state[twin]["momentum_buffer"].numpy()
        np.testing.assert_allclose(velocity, 0.1 * buffer, rtol=1e-12)


# ---------------------------------------------------------------------- weight decay, clipping
@pytest.mark.parametrize("make_optim", [lambda: SGD(lr=0.1, weight_decay=0.5),
                                        lambda: AdamW(lr=0.1, weight_decay=0.5)],
                         ids=["SGD", "AdamW"])
def test_weight_decay_shrinks_weights_and_leaves_biases_alone(make_optim):
    net = make_net()
    net.params()[1][...] = 1.0  # layers.0.B
    before = net.state_dict()
    optim = make_optim()
    optim.net = net
    # zero gradients: only weight decay moves anything (Adam's step of a zero gradient is 0)
    net.train_batch(*make_batches(1)[0])
    for grad in net.param_grads():
        grad[...] = 0.0
    optim.step()
    for name, param in net.named_params():
        if name.endswith(".B"):
            np.testing.assert_array_equal(param, before[name])
        else:
            np.testing.assert_allclose(param, before[name] * (1 - 0.1 * 0.5), rtol=1e-15)


def test_bias_names_are_the_ones_starting_with_b():
    assert is_bias_name("layers.0.B") and is_bias_name("layers.3.bias")
    assert is_bias_name("layers.1.beta")
    assert not is_bias_name("layers.0.W") and not is_bias_name("layers.2.param0")


def test_weight_decay_keeps_the_networks_gradients():
    net = make_net()
    optim = SGD(lr=0.1, weight_decay=0.5)
    optim.net = net
    net.train_batch(*make_batches(1)[0])
    grads = [grad.copy() for grad in net.param_grads()]
    optim.step()
    for grad, kept in zip(net.param_grads(), grads):
        np.testing.assert_array_equal(grad, kept)


def test_clip_norm_scales_all_gradients_together_to_the_norm():
    net = make_net()
    optim = SGD(lr=0.1, clip_norm=0.5)
    optim.net = net
    net.train_batch(*make_batches(1, scale=3.0)[0])
    grads = [grad.copy() for grad in net.param_grads()]
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    assert norm > 0.5
    optim.step()
    clipped = net.param_grads()
    total = math.sqrt(sum(float(np.sum(g * g)) for g in clipped))
    assert total == pytest.approx(0.5, rel=1e-5)
    for grad, original in zip(clipped, grads):  # one factor for all: directions kept
        np.testing.assert_allclose(grad, original * (0.5 / (norm + 1e-6)), rtol=1e-12)


def test_clip_norm_leaves_small_gradients_unchanged():
    net = make_net()
    optim = SGD(lr=0.1, clip_norm=1e6)
    optim.net = net
    net.train_batch(*make_batches(1)[0])
    grads = [grad.copy() for grad in net.param_grads()]
    optim.step()
    for grad, original in zip(net.param_grads(), grads):
        np.testing.assert_array_equal(grad, original)


# ---------------------------------------------------------------------- in place, dtype
@pytest.mark.parametrize("name", ALL_OPTIONS)
def test_updates_are_in_place(name):
    net = make_net()
    optim = ALL_OPTIONS[name]()
    params = net.params()
    before = [param.copy() for param in params]
    train_steps(net, optim, make_batches(2))
    after = net.params()
    assert all(a is b for a, b in zip(params, after))
    assert all(not np.array_equal(a, b) for a, b in zip(after, before))


@pytest.mark.parametrize("name", ALL_OPTIONS)
def test_float32_parameters_and_state_stay_float32(name):
    net = make_net(np.float32)
    optim = ALL_OPTIONS[name]()
    train_steps(net, optim, make_batches(3, np.float32))
    assert all(param.dtype == np.float32 for param in net.params())
    assert all(array.dtype == np.float32 for array in optim.state_arrays().values())
    assert all(np.isfinite(param).all() for param in net.params())


# ---------------------------------------------------------------------- state and checkpoints
@pytest.mark.parametrize("name", ALL_OPTIONS)
def test_state_dict_round_trip_continues_identically(name):
    batches = make_batches(5)
    net = make_net()
    optim = ALL_OPTIONS[name]()
    train_steps(net, optim, batches[:3])
    saved_params = net.state_dict()
    saved = copy.deepcopy(optim.state_dict())
    json.dumps({key: value for key, value in saved.items() if key != "arrays"})
    train_steps(net, optim, batches[3:])

    fresh_net = make_net()
    fresh_net.load_state_dict(saved_params)
    fresh = ALL_OPTIONS[name]()
    fresh.net = fresh_net
    fresh.load_state_dict(saved)
    train_steps(fresh_net, fresh, batches[3:])
    for param, resumed in zip(net.params(), fresh_net.params()):
        np.testing.assert_array_equal(param, resumed)


@pytest.mark.parametrize("optim, keys", [
    (SGD(), []), (SGDMomentum(), ["velocity"]), (AdaGrad(), ["sum"]),
    (RMSProp(), ["square_avg"]), (RMSProp(momentum=0.9), ["square_avg", "momentum_buffer"]),
    (Adam(), ["m", "v"]), (AdamW(), ["m", "v"])], ids=repr)
def test_state_arrays_are_named_per_parameter(optim, keys):
    train_steps(make_net(), optim, make_batches(1))
    assert sorted(optim.state_arrays()) == sorted(f"{k}.{i}" for k in keys for i in range(4))
    assert optim.state_dict()["steps"] == 1


def test_state_dict_arrays_are_copies():
    net = make_net()
    optim = Adam()
    train_steps(net, optim, make_batches(1))
    saved = optim.state_dict()["arrays"]["m.0"]
    kept = saved.copy()
    train_steps(net, optim, make_batches(1))
    np.testing.assert_array_equal(saved, kept)


def test_load_state_dict_rejects_missing_arrays():
    optim = Adam()
    train_steps(make_net(), optim, make_batches(1))
    state = optim.state_dict()
    del state["arrays"]["v.2"]
    with pytest.raises(KeyError, match=r"v\.2"):
        Adam().load_state_dict(state)


def test_reset_forgets_state_steps_and_learning_rate():
    batches = make_batches(3)
    net = make_net()
    optim = Adam(lr=0.01, decay_type="linear", final_lr=0.001)
    optim.set_epoch(4, 5)
    train_steps(net, optim, batches)
    optim.reset()
    assert optim.state == {} and optim.steps == 0 and optim.lr == 0.01 and optim.first
    fresh_net = make_net()
    restarted_net = make_net()
    train_steps(fresh_net, Adam(lr=0.01), batches[:1])
    train_steps(restarted_net, optim, batches[:1])
    for a, b in zip(fresh_net.params(), restarted_net.params()):
        np.testing.assert_array_equal(a, b)


def regression_data(rows: int = 32):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(rows, 4))
    return X, X @ rng.normal(size=(4, 3))


def test_every_fit_restarts_the_learning_rate_and_the_velocities():
    X, y = regression_data()
    net = make_net()
    optim = SGDMomentum(lr=0.05, momentum=0.9, final_lr=0.005, decay_type="exponential")
    trainer = Trainer(net, optim)
    first = trainer.fit(X, y, epochs=4, batch_size=8, seed=3, verbose=False)
    first_params = [p.copy() for p in net.params()]
    first_velocities = [v.copy() for v in optim.velocities]
    second = trainer.fit(X, y, epochs=4, batch_size=8, seed=3, verbose=False)
    assert first.lr == second.lr
    assert first.lr[0] == 0.05 and first.lr[-1] == pytest.approx(0.005, rel=1e-15)
    # the book keeps the velocities of the first fit, so its second fit starts moving already
    for velocity, kept in zip(optim.velocities, first_velocities):
        np.testing.assert_array_equal(velocity, kept)
    for param, kept in zip(net.params(), first_params):
        np.testing.assert_array_equal(param, kept)


def test_trainer_uses_the_schedule_each_epoch():
    X, y = regression_data()
    schedule = WarmUp(2, then=CosineDecay(final_lr=0.001))
    trainer = Trainer(make_net(), Adam(lr=0.01, schedule=schedule))
    history = trainer.fit(X, y, epochs=6, batch_size=8, verbose=False)
    assert history.lr == [schedule.lr_at(epoch, 6, 0.01) for epoch in range(6)]


def test_a_resumed_checkpoint_continues_exactly(tmp_path):
    X, y = regression_data()
    path = tmp_path / "run.npz"
    reference_net = make_net()
    Trainer(reference_net, AdamW(lr=0.01, weight_decay=0.1, clip_norm=1.0)).fit(
        X, y, epochs=4, batch_size=8, verbose=False)

    def stop_after_two(trainer, epoch, logs):
        if epoch == 2:
            trainer.stop_training = True

    Trainer(make_net(), AdamW(lr=0.01, weight_decay=0.1, clip_norm=1.0)).fit(
        X, y, epochs=4, batch_size=8, verbose=False, checkpoint=path,
        callbacks=[LambdaCallback(on_epoch_end=stop_after_two)])
    resumed_net = make_net()
    Trainer(resumed_net, AdamW(lr=0.01, weight_decay=0.1, clip_norm=1.0)).fit(
        X, y, epochs=4, batch_size=8, verbose=False, resume_from=path,
        callbacks=[LambdaCallback()])
    for param, resumed in zip(reference_net.params(), resumed_net.params()):
        np.testing.assert_array_equal(param, resumed)


# ---------------------------------------------------------------------- schedules
def torch_lrs(torch, make_scheduler, epochs: int, lr: float) -> list[float]:
    """The learning rate torch uses in each epoch when its scheduler steps once per epoch."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(optimizer)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return lrs


@pytest.mark.parametrize("epochs", [1, 2, 7, 12])
def test_step_decay_matches_torch_step_lr(epochs):
    torch = import_torch()
    ours = [StepDecay(3, gamma=0.5).lr_at(e, epochs, 0.1) for e in range(epochs)]
    theirs = torch_lrs(torch, lambda o: torch.optim.lr_scheduler.StepLR(o, 3, gamma=0.5),
                       epochs, 0.1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)


@pytest.mark.parametrize("epochs", [2, 5, 12])
def test_cosine_decay_matches_torch_cosine_annealing_with_t_max_epochs_minus_one(epochs):
    torch = import_torch()
    schedule = CosineDecay(final_lr=0.001)
    ours = [schedule.lr_at(e, epochs, 0.1) for e in range(epochs)]
    theirs = torch_lrs(torch, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
        o, T_max=epochs - 1, eta_min=0.001), epochs, 0.1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert ours[0] == 0.1 and ours[-1] == 0.001


def test_warm_up_then_step_decay_matches_torch_sequential_lr():
    torch = import_torch()
    schedule = WarmUp(3, then=StepDecay(2, gamma=0.5), start_factor=0.25)
    ours = [schedule.lr_at(e, 10, 0.1) for e in range(10)]

    def sequential(optimizer):
        scheduler = torch.optim.lr_scheduler
        return scheduler.SequentialLR(optimizer, [
            scheduler.LinearLR(optimizer, start_factor=0.25, total_iters=3),
            scheduler.StepLR(optimizer, 2, gamma=0.5)], milestones=[3])

    np.testing.assert_allclose(ours, torch_lrs(torch, sequential, 10, 0.1), rtol=1e-13)


def test_warm_up_rises_linearly_then_hands_over_the_remaining_epochs():
    schedule = WarmUp(4, then=LinearDecay(final_lr=0.0), start_factor=0.2)
    lrs = [schedule.lr_at(e, 8, 1.0) for e in range(8)]
    np.testing.assert_allclose(lrs, [0.2, 0.4, 0.6, 0.8, 1.0, 2 / 3, 1 / 3, 0.0], atol=1e-15)
    assert [WarmUp(2).lr_at(e, 4, 3.0) for e in range(4)] == [1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("schedule", [LinearDecay(0.01), ExponentialDecay(0.01),
                                      CosineDecay(0.01)], ids=repr)
@pytest.mark.parametrize("epochs", [2, 3, 10])
def test_decays_start_at_lr_end_exactly_at_final_lr_and_never_rise(schedule, epochs):
    lrs = [schedule.lr_at(e, epochs, 0.1) for e in range(epochs)]
    assert lrs[0] == 0.1 and lrs[-1] == 0.01
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


@pytest.mark.parametrize("schedule", [ConstantLR(), LinearDecay(0.0), ExponentialDecay(0.01),
                                      CosineDecay(), StepDecay(1), WarmUp(1, start_factor=1.0)],
                         ids=repr)
def test_one_epoch_runs_keep_the_base_learning_rate(schedule):
    assert schedule.lr_at(0, 1, 0.1) == 0.1


def test_linear_decay_to_zero_reaches_zero_at_the_last_epoch():
    optim = SGD(lr=0.1, final_lr=0.0, decay_type="linear")
    lrs = []
    for epoch in range(5):
        optim.set_epoch(epoch, 5)
        lrs.append(optim.lr)
    np.testing.assert_allclose(lrs, [0.1, 0.075, 0.05, 0.025, 0.0], atol=1e-17)
    assert lrs[-1] == 0.0


def test_decay_type_is_a_schedule():
    assert isinstance(SGD(decay_type="linear", final_lr=0.001).schedule, LinearDecay)
    optim = SGD(lr=0.1, decay_type="exponential", final_lr=0.001)
    assert isinstance(optim.schedule, ExponentialDecay)
    assert optim.lr_at(2, 3) == 0.001 and optim.lr_at(1, 3) == pytest.approx(0.01, rel=1e-14)
    assert isinstance(SGD().schedule, ConstantLR)


def test_configs_and_reprs_show_the_arguments():
    schedule = WarmUp(2, then=CosineDecay(final_lr=0.001), start_factor=0.5)
    assert repr(schedule) == ("WarmUp(epochs=2, then=CosineDecay(final_lr=0.001), "
                              "start_factor=0.5)")
    assert StepDecay(3).get_config() == {"step_size": 3, "gamma": 0.1}
    assert repr(Adam(lr=0.01, schedule=StepDecay(3), clip_norm=1.0)) == (
        "Adam(lr=0.01, schedule=StepDecay(step_size=3, gamma=0.1), clip_norm=1.0, beta1=0.9, "
        "beta2=0.999, eps=1e-08)")
    assert AdamW().get_config()["weight_decay"] == 0.01
    assert SGD(lr=0.1, weight_decay=0.1).get_config() == {"lr": 0.1, "weight_decay": 0.1}


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize("make, error, message", [
    (lambda: SGD(lr=0), ValueError, r"SGD: lr must be in \(0, inf\], got 0"),
    (lambda: Adam(lr=-0.001), ValueError, "lr must be"),
    (lambda: SGD(lr="0.1"), TypeError, "lr must be a number"),
    (lambda: SGDMomentum(momentum=1.0), ValueError, r"momentum must be in \[0, 1\), got 1.0"),
    (lambda: SGDMomentum(momentum=-0.1), ValueError, "momentum must be in"),
    (lambda: RMSProp(momentum=1.5), ValueError, "momentum must be in"),
    (lambda: SGD(decay_type="cosine"), ValueError,
     "unknown decay_type 'cosine'; expected one of None, 'linear', 'exponential'"),
    (lambda: SGD(decay_type="linear", schedule=CosineDecay()), ValueError,
     "either schedule or decay_type"),
    (lambda: SGD(schedule="cosine"), TypeError, "schedule must be a Schedule"),
    (lambda: SGD(weight_decay=-0.1), ValueError, r"weight_decay must be in \[0, inf\]"),
    (lambda: Adam(clip_norm=0), ValueError, "clip_norm must be in"),
    (lambda: Adam(clip_norm=-1.0), ValueError, "clip_norm must be in"),
    (lambda: Adam(beta1=1.0), ValueError, r"beta1 must be in \[0, 1\)"),
    (lambda: Adam(beta2=-0.5), ValueError, "beta2 must be in"),
    (lambda: AdaGrad(eps=-1e-10), ValueError, "eps must be in"),
    (lambda: RMSProp(alpha=1.0), ValueError, "alpha must be in"),
    (lambda: ExponentialDecay(final_lr=-0.1), ValueError, r"final_lr must be in \[0, inf\]"),
    (lambda: LinearDecay(final_lr=-1.0), ValueError, "final_lr must be in"),
    (lambda: StepDecay(step_size=0), ValueError, "step_size must be in"),
    (lambda: StepDecay(step_size=1.5), TypeError, "step_size must be an integer"),
    (lambda: WarmUp(2, start_factor=0.0), ValueError, r"start_factor must be in \(0, 1\]"),
    (lambda: WarmUp(2, then="cosine"), TypeError, "then must be a Schedule"),
    (lambda: CosineDecay().lr_at(0, 0, 0.1), ValueError, "epochs must be in"),
])
def test_bad_arguments_fail_fast_with_a_clear_message(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_step_without_a_network_says_how_to_attach_one():
    with pytest.raises(RuntimeError, match="optim.net = net"):
        Adam().step()


def test_exponential_decay_to_zero_warns_and_reaches_zero_after_the_first_epoch():
    with pytest.warns(UserWarning, match="from the second epoch on"):
        optim = SGDMomentum(lr=0.1, momentum=0.9, final_lr=0, decay_type="exponential")
    assert [optim.lr_at(epoch, 4) for epoch in range(4)] == [0.1, 0.0, 0.0, 0.0]
    assert optim.lr_at(0, 1) == 0.1
