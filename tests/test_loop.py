"""The deep LBM's epoch loop: terms summed and reported as the loop promises, callbacks
called in order, the stopping rule tested once per window, and the clustering module
trained by the same loop (its noise variance refitted)."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from skcocluster import DeepLatentBlockCoclustering
from skcocluster._objective.terms import (ObjectiveTerm, objective_value, reported_objective,
                                          training_objective)
from skcocluster._train.callbacks import Callback
from skcocluster._train.loop import EpochLog, EpochLoop, EpochState
from skcocluster._train.stopping import ConvergenceStop, has_converged
from skcocluster.datasets import make_lbm


class Constant(ObjectiveTerm):
    """A term of fixed value, with an optional warm-up weight."""

    def __init__(self, value, warmup=None):
        self.constant = torch.tensor(value, dtype=torch.float32)
        self.warmup = warmup

    def value(self, state):
        return self.constant

    def weight(self, epoch):
        if self.warmup is None:
            return 1.0
        return 0.3 if epoch is None else 0.3 * min(1.0, epoch / self.warmup)


def test_terms_are_trained_at_their_weight_and_reported_at_full_weight():
    terms = [Constant(2.0), Constant(-1.5, warmup=10)]
    objective, values = training_objective(terms, SimpleNamespace(epoch=5))
    assert float(objective) == pytest.approx(2.0 - 0.15 * 1.5)
    assert float(reported_objective(terms, values)) == pytest.approx(2.0 - 0.3 * 1.5)
    # The final value scales the weighted term in double precision.
    assert objective_value(terms, values) == 2.0 + 0.3 * float(np.float32(-1.5))


def test_has_converged_compares_the_means_of_two_windows():
    assert not has_converged([1.0] * 5, 1e-3, 3)
    assert has_converged([-1.0] * 6, 1e-3, 3)
    assert not has_converged([-2.0] * 3 + [-1.0] * 3, 1e-3, 3)


class Recorder(Callback):
    def __init__(self, calls, stop_at=None):
        self.calls = calls
        self.stop_at = stop_at

    def on_phase_begin(self, state):
        self.calls.append("begin")

    def on_epoch_begin(self, state):
        self.calls.append(("epoch", state.epoch))

    def on_forward(self, state):
        assert state.posteriors is not None
        self.calls.append("forward")

    def on_epoch_end(self, state):
        self.calls.append("end")

    def should_stop(self, state):
        return state.epoch == self.stop_at

    def on_phase_end(self, state):
        self.calls.append("phase end")


class Linear(torch.nn.Module):
    """A stand-in model whose 'posteriors' are one parameter."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))

    def encode(self, adjacency, adjacency_t):
        return (self.weight, None, None, None)


class Quadratic(ObjectiveTerm):
    def value(self, state):
        return -(state.posteriors[0] - 3.0) ** 2


def stand_in_loop(callbacks, read_every=10):
    model = Linear()
    data = SimpleNamespace(adjacency=None, adjacency_t=None, cells=SimpleNamespace(n_cells=1))
    log = EpochLog(SimpleNamespace(verbose=0, update=lambda *args: None), "train",
                   read_every=read_every)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return EpochLoop(model, data, [Quadratic()], callbacks, optimizer, log)


def test_loop_calls_the_hooks_in_order_and_stops_when_asked():
    calls = []
    history, stopped = stand_in_loop([Recorder(calls, stop_at=1)]).run(5)
    assert stopped and len(history) == 2
    assert calls == ["begin", ("epoch", 0), "forward", "end", ("epoch", 1), "forward", "end",
                     "phase end"]
    # The objective rises as the parameter moves towards 3.
    assert history[1] > history[0]


def test_convergence_is_tested_once_per_window_from_the_stopping_start():
    rule = ConvergenceStop(1e-3, window=3)
    log = SimpleNamespace(values=lambda: [-1.0] * 6)
    state = EpochState(log=log, epoch=4)
    assert not rule.should_stop(state)  # not the end of a window
    state.epoch = 5
    assert rule.should_stop(state)
    # Two windows are needed after the stopping start.
    state.stopping_start = 2
    assert not rule.should_stop(state)


def test_module_clustering_refits_the_gaussian_noise_variance_during_training():
    X, _, _ = make_lbm(60, 40, 2, block_params=np.eye(2) * 2, likelihood="gaussian",
                       random_state=0)
    # Without pretraining, only the alternating phase can move the noise variance off its
    # start, the variance of the matrix.
    model = DeepLatentBlockCoclustering(2, clustering="module", likelihood="gaussian",
                                        pretrain_epochs=0, max_iter=5, hidden_dim=8,
                                        latent_dim=2, block_refinement=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    start = max(float(np.var(X)), 1e-6)
    assert model.module_.likelihood.noise_var != pytest.approx(start, rel=1e-3)


def _adam_trajectory(make_optimizer, steps=25):
    """Parameters after ``steps`` steps on a fixed loss (one parameter unused every 3rd)."""
    torch.manual_seed(0)
    parameters = [torch.nn.Parameter(torch.randn(40, 5)), torch.nn.Parameter(torch.randn(3)),
                  torch.nn.Parameter(torch.randn(4))]
    optimizer = make_optimizer(parameters)
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = 0.3 * parameters[0].pow(2).sum() + parameters[1].sin().sum()
        if step % 3 == 0:
            loss = loss + parameters[2].sum() ** 2
        loss.backward()
        optimizer.step()
    return [parameter.detach() for parameter in parameters]


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_adam_steps_as_torch_optim_adam_does(fused, weight_decay):
    from skcocluster._nn.optimizer import Adam

    ours = _adam_trajectory(lambda p: Adam(p, 0.01, weight_decay=weight_decay, fused=fused))
    theirs = _adam_trajectory(lambda p: torch.optim.Adam(
        p, lr=0.01, weight_decay=weight_decay, fused=fused))
    for mine, reference in zip(ours, theirs):
        assert torch.equal(mine, reference)


def test_a_fit_does_not_import_torch_dynamo():
    import subprocess
    import sys

    code = ("import sys, warnings; warnings.simplefilter('ignore');"
            "from skcocluster import DeepLatentBlockCoclustering as D, "
            "VariationalCoclustering as V;"
            "from skcocluster.datasets import make_lbm;"
            "X = make_lbm(60, 40, 2, random_state=0)[0];"
            "D(2, pretrain_epochs=3, max_iter=3, random_state=0).fit(X);"
            "D(2, pretrain_epochs=3, max_iter=3, clustering='module', random_state=0).fit(X);"
            "V(2, pretrain_epochs=1, max_iter=1, random_state=0).fit(X);"
            "print('torch._dynamo' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def _labels_state(epoch, row_labels, column_labels, n_clusters=3):
    """An EpochState whose memberships are one-hot of the given labels."""
    one_hot = [torch.nn.functional.one_hot(torch.as_tensor(labels), n_clusters).float()
               for labels in (row_labels, column_labels)]
    return EpochState(epoch=epoch, memberships=tuple(one_hot))


def test_labels_settled_stops_when_few_labels_move_over_a_window():
    from skcocluster._train.stopping import LabelsSettled

    rule = LabelsSettled(share=0.05, window=10)
    rows, columns = np.arange(60) % 3, np.arange(40) % 3
    assert not rule.should_stop(_labels_state(9, rows, columns))  # first window: no reference
    assert not rule.should_stop(_labels_state(15, rows, columns))  # not the end of a window
    moved = rows.copy()
    moved[:10] = (moved[:10] + 1) % 3  # 10 of 100 nodes: above 5 %
    assert not rule.should_stop(_labels_state(19, moved, columns))
    moved[10:13] = (moved[10:13] + 1) % 3  # 3 of 100 nodes
    assert rule.should_stop(_labels_state(29, moved, columns))


def _positions_state(epoch, rows, columns):
    zeros = [torch.zeros(len(points)) for points in (rows, columns)]
    return EpochState(epoch=epoch, posteriors=(torch.as_tensor(rows), zeros[0],
                                               torch.as_tensor(columns), zeros[1]))


def test_positions_settled_stops_when_the_kmeans_partition_stops_moving():
    from skcocluster._train.stopping import PositionsSettled

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    truth = np.arange(90) % 3
    clustered = (centres[truth] + rng.normal(scale=0.3, size=(90, 2))).astype(np.float32)
    noise = rng.normal(size=(90, 2)).astype(np.float32)
    rule = PositionsSettled((3, 3), seed=0, min_ari=0.95, window=10)
    assert not rule.should_stop(_positions_state(9, noise, clustered))
    # the rows' positions jump to a different arrangement: not settled
    assert not rule.should_stop(_positions_state(19, clustered, clustered))
    # the same clusters, slightly moved: settled
    shifted = clustered + rng.normal(scale=0.05, size=clustered.shape).astype(np.float32)
    assert rule.should_stop(_positions_state(29, shifted, shifted))


def test_positions_settled_stops_once_the_agreement_stops_improving():
    from skcocluster._train.stopping import PositionsSettled

    # Positions redrawn every window: the partitions never agree, and the rule stops once
    # `patience` windows have passed without a better agreement than the best so far.
    rng = np.random.default_rng(0)
    rule = PositionsSettled((3, 3), seed=0, min_ari=0.95, window=10, patience=3)
    windows = 0
    while not rule.should_stop(_positions_state(
            10 * windows + 9, rng.normal(size=(90, 2)).astype(np.float32),
            rng.normal(size=(90, 2)).astype(np.float32))):
        windows += 1
        assert windows < 30
    assert rule.best < 0.95 and rule.since_best == 3
    # a first record, at least one agreement that is the best so far, then three without
    assert windows >= 4


def test_adam_falls_back_to_the_per_tensor_update_without_a_fused_kernel(monkeypatch):
    from skcocluster._nn.optimizer import Adam

    def no_kernel(*args, **kwargs):
        raise NotImplementedError("no fused Adam on this device")

    monkeypatch.setattr(torch, "_fused_adam_", no_kernel)
    ours = _adam_trajectory(lambda p: Adam(p, 0.01, fused=True))
    theirs = _adam_trajectory(lambda p: torch.optim.Adam(p, lr=0.01))
    for mine, reference in zip(ours, theirs):
        assert torch.equal(mine, reference)
