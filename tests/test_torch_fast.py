"""The fast paths of the equivariant layers: components, invariant contractions, bilinear gathers, EMLP layouts."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import symlie as sl  # noqa: E402
from symlie.bench._nn_report import merge, targets  # noqa: E402
from symlie.torch import EMLP, BilinearFeatures, EquivariantLinear, equivariance_error  # noqa: E402
from symlie.torch._components import linear_components, type_components  # noqa: E402

F64 = torch.float64


def _layer(rin, rout, seed=0):
    layer = EquivariantLinear(rin, rout, dtype=F64, generator=torch.Generator().manual_seed(seed))
    if layer.bias_coefficients is not None:
        with torch.no_grad():
            layer.bias_coefficients.normal_(generator=torch.Generator().manual_seed(seed + 1))
    return layer


def _dense(layer, x):
    """``x W^T + b`` with the weight assembled from the whole sparse ``Q`` (the obviously-correct path)."""
    bias = layer.bias()
    y = x @ layer.weight().T
    return y if bias is None else y + bias


def test_components_of_O5_split_odd_and_even_orders():
    G = sl.O(5)
    V = sl.V(G)
    rin = 3 * V + 4 * sl.Scalar + 2 * V**2
    rout = 2 * V + 5 * sl.Scalar + V**2
    parts = linear_components(rin, rout, contract=False)
    assert len(parts.parts) == 2  # odd orders {V}, even orders {Scalar, V(x)V}
    odd, even = parts.parts
    np.testing.assert_array_equal(odd.outputs, np.arange(10))
    np.testing.assert_array_equal(odd.inputs, np.arange(15))
    assert even.runs == ((15, 54, 0),)  # the scalars and both V(x)V copies are one run
    assert parts.cost == 10 * 15 + 30 * 54 < rin.size * rout.size
    assert type_components(G, ((), ((0, False),), ((0, False), (0, False)))) == (1, 0, 1)
    assert type_components(sl.SO(3), ((), ((0, False),), ((0, False), (0, False)))) == (0, 0, 0)  # cross product


@pytest.mark.parametrize("group", [sl.O(5), sl.Lorentz()], ids=["O5", "Lorentz"])
def test_contracted_scalar_outputs_match_the_dense_product(group):
    """Scalars computed from invariant contractions (traces) of V(x)V copies equal the dense product, exactly."""
    V = sl.V(group)
    rin = 24 * V**2 + 10 * sl.Scalar + 3 * V
    rout = 60 * sl.Scalar + 2 * V**2 + V
    layer = _layer(rin, rout)
    contracted = [p for p in layer._parts.parts if p.contractions]
    assert contracted
    layer.block_sparse = True  # (chosen by cost; forced here to test the path)
    assert len(contracted[0].inputs) == 10 and contracted[0].width == 10 + 24  # raw scalars + one trace per copy
    x = torch.randn(7, rin.size, dtype=F64, generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(layer(x).detach(), _dense(layer, x).detach(), atol=1e-12)
    assert equivariance_error(layer, group, rin, rout, x, n_elements=3) <= 1e-12
    # gradients agree too (the coefficients and the input)
    x.requires_grad_(True)
    g1 = torch.autograd.grad(layer(x).square().sum(), (x, layer.coefficients))
    g2 = torch.autograd.grad(_dense(layer, x).square().sum(), (x, layer.coefficients))
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_many_copies_are_contracted_in_chunks_and_scattered_inputs_gathered():
    G = sl.O(3)
    V = sl.V(G)
    rin = 40 * V**2 + 30 * sl.Scalar
    layer = _layer(rin, 60 * sl.Scalar)
    assert any(len(p.contractions) == 1 and p.contractions[0][1] == 40 for p in layer._parts.parts)
    assert len(layer._splits) >= 3  # 40 copies read in chunks of at most 16
    x = torch.randn(5, rin.size, dtype=F64, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(layer(x).detach(), _dense(layer, x).detach(), atol=1e-12)
    scattered = sum((V + sl.Scalar for _ in range(12)), V + sl.Scalar)  # 26 runs of alternating types
    layer = _layer(scattered, 3 * V + 40 * sl.Scalar)
    assert any(step[0] == "gather" for steps in layer._steps for step in steps)
    layer.block_sparse = True
    x = torch.randn(5, scattered.size, dtype=F64, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(layer(x).detach(), _dense(layer, x).detach(), atol=1e-12)


def test_bilinear_features_are_the_outer_products_grouped_by_type():
    G = sl.O(3)
    factor = sl.Scalar + sl.V(G)
    features = BilinearFeatures(
        2 * sl.V(G) + sl.Scalar, factor, 3, dtype=F64, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        features.project.bias_coefficients.normal_(generator=torch.Generator().manual_seed(1))
    x = torch.randn(4, 7, dtype=F64, generator=torch.Generator().manual_seed(2))
    out = features(x).detach()
    z = features.project(x).detach()
    # reference: natural (channel, i, j) products of l = [s_l, v_l] and r = [s_r, v_r], then grouped by type
    s, v = z[:, :6].reshape(4, 2, 3), z[:, 6:].reshape(4, 2, 3, 3)
    full = torch.cat([s[..., None], v], dim=-1)  # (4, side, channel, 4)
    natural = (0.1 * full[:, 0, :, :, None] * full[:, 1, :, None, :]).reshape(4, 3, 16)
    ss, sv, vs, vv = natural[:, :, 0], natural[:, :, 1:4], natural[:, :, 4::4], natural.reshape(4, 3, 4, 4)[..., 1:, 1:]
    vectors = torch.stack([sv, vs], dim=2).reshape(4, -1)  # per channel: s v' then v s'
    expected = torch.cat([ss, vectors, vv.reshape(4, -1)], dim=1)
    assert features.rep_out == 3 * sl.Scalar + 6 * sl.V(G) + 3 * sl.V(G) ** 2
    np.testing.assert_allclose(out, expected, atol=1e-14)
    assert equivariance_error(features, G, features.rep_in, features.rep_out, x) <= 1e-13


@pytest.mark.parametrize("group", [sl.O(5), sl.Lorentz()], ids=["O5", "Lorentz"])
def test_emlp_lays_out_components_contiguously(group):
    V = sl.V(group)
    model = EMLP(4 * V, sl.Scalar, group, hidden=256, layers=2, dtype=F64, seed=0)
    n = V.size
    terms = [f for f, _ in model.hidden.terms()]
    assert terms[0] == ((0, False),) and terms[-1] == ()  # odd orders first, scalars last
    for block in model.blocks:
        layer = block.linear
        assert layer.block_sparse
        for steps in layer._steps:  # each product reads few pieces
            assert len(steps) <= 3
    x = torch.randn(16, 4 * n, dtype=F64, generator=torch.Generator().manual_seed(0))
    assert equivariance_error(model, group, 4 * V, sl.Scalar, x, n_elements=3) <= 1e-12


def test_user_hidden_representation_is_kept():
    G = sl.O(3)
    hidden = 8 * sl.Scalar + 3 * sl.V(G)
    assert EMLP(sl.V(G), sl.Scalar, G, hidden=hidden, layers=1).hidden == hidden


def test_bench_merge_replaces_rerun_rows_and_recomputes_targets():
    def run(model, n, mse):
        return {
            "model": model,
            "n_train": n,
            "test_mse": mse,
            "equivariance_error": 1e-7,
            "equivariance_error_float64": 1e-15,
        }

    old = {
        "machine": {"cpu": "a"},
        "versions": {},
        "settings": {"steps": 5000},
        "seconds": 1.0,
        "datasets": [
            {
                "dataset": "O5Synthetic",
                "runs": [run("mlp", 1000, 0.1), run("emlp", 1000, 0.5)],
                "step_time": {"ratio": 3.5},
                "published_n1000": {"emlp": 0.017},
            }
        ],
    }
    assert targets(old["datasets"][0]) == {
        "test_mse": False,
        "step_ratio": False,
        "equivariance_float32": True,
        "equivariance_float64": True,
    }
    new = {
        "machine": {"cpu": "b"},
        "versions": {},
        "settings": {"steps": 5000},
        "seconds": 2.0,
        "datasets": [{"dataset": "O5Synthetic", "runs": [run("emlp", 1000, 0.01)], "step_time": {"ratio": 2.0}}],
    }
    merged = merge(old, new)
    runs = merged["datasets"][0]["runs"]
    assert [(r["model"], r["test_mse"]) for r in runs] == [("mlp", 0.1), ("emlp", 0.01)]
    assert merged["summary"] == {"targets_met": 4, "targets_total": 4}
    assert [h["machine"]["cpu"] for h in merged["history"]] == ["a", "b"]
    assert old["datasets"][0]["runs"][1]["test_mse"] == 0.5  # the input is not modified


@pytest.mark.parametrize("cuts", [(5,), (100, 101), (7, 150, 300)], ids=str)
def test_forward_pieces_equals_the_plain_forward(cuts):
    """An input arriving in pieces (cut anywhere, even inside a contracted run of copies) gives the same output."""
    V = sl.V(sl.O(5))
    rin = 24 * V**2 + 10 * sl.Scalar + 3 * V
    layer = _layer(rin, 60 * sl.Scalar + 2 * V**2 + V)
    layer.block_sparse = True
    x = torch.randn(2, 3, rin.size, dtype=F64, generator=torch.Generator().manual_seed(5))
    pieces = x.split(np.diff([0, *cuts, rin.size]).tolist(), dim=-1)
    np.testing.assert_allclose(layer.forward_pieces(pieces).detach(), layer(x).detach(), atol=1e-12)
    with pytest.raises(sl.ShapeError, match="pieces"):
        layer.forward_pieces(pieces[:-1])
