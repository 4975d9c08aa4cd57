"""Muon: orthogonalised updates for conv filters, SGD for the rest, in one optimizer."""

import pytest
import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.settings import OptimSettings
from cnnlab.train.muon import Muon, orthogonalize
from cnnlab.train.optim import build_optimizer


@pytest.mark.parametrize("shape", [(16, 72), (72, 16)])
def test_orthogonalize_brings_every_singular_value_near_one(shape):
    torch.manual_seed(0)
    k = min(shape)
    u, _ = torch.linalg.qr(torch.randn(shape[0], k))
    v, _ = torch.linalg.qr(torch.randn(shape[1], k))
    matrix = u @ torch.diag(torch.logspace(-1, 1, k)) @ v.T  # singular values from 0.1 to 10
    singular = torch.linalg.svdvals(orthogonalize(matrix).float())
    assert singular.min() > 0.5 and singular.max() < 1.3
    cosine = torch.nn.functional.cosine_similarity(orthogonalize(matrix).float().flatten(), (u @ v.T).flatten(), dim=0)
    assert cosine > 0.95  # close to the exact polar factor U Vᵀ


def test_muon_splits_filters_from_the_rest():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.LazyLinear(2))
    model(torch.zeros(1, 3, 5, 5))
    config = OptimSettings(optimizer="muon", lr=0.1, muon_lr=0.02, muon_momentum=0.5, weight_decay=1e-3)
    optimizer = build_optimizer(model, config)
    assert isinstance(optimizer, Muon)
    orthogonal = [g for g in optimizer.param_groups if g["orthogonal"]]
    assert [p.shape for g in orthogonal for p in g["params"]] == [torch.Size([8, 3, 3, 3])]
    assert (orthogonal[0]["lr"], orthogonal[0]["momentum"], orthogonal[0]["weight_decay"]) == (0.02, 0.5, 0.0)
    others = [p for g in optimizer.param_groups if not g["orthogonal"] for p in g["params"]]
    assert len(others) == 5  # conv bias, BN weight and bias, linear weight and bias


def test_a_filter_step_moves_every_direction_alike():
    conv = nn.Conv2d(4, 8, 3, bias=False)
    before = conv.weight.detach().clone()
    optimizer = Muon([{"params": [conv.weight], "orthogonal": True}], lr=0.1, momentum=0.0)
    torch.manual_seed(0)
    conv.weight.grad = torch.randn_like(conv.weight) * torch.logspace(-1, 1, 8).view(8, 1, 1, 1)
    grad_singular = torch.linalg.svdvals(conv.weight.grad.reshape(8, -1))
    optimizer.step()
    step = (conv.weight - before).detach().reshape(8, -1) / -0.1
    singular = torch.linalg.svdvals(step)
    assert grad_singular.max() / grad_singular.min() > 20
    assert singular.max() / singular.min() < 2.5


def test_plain_groups_take_an_sgd_nesterov_step_and_the_state_round_trips():
    weight = nn.Parameter(torch.ones(3))
    optimizer = Muon([{"params": [weight]}], lr=0.5, momentum=0.9)
    weight.grad = torch.full((3,), 2.0)
    optimizer.step()
    assert torch.allclose(weight, torch.full((3,), 1 - 0.5 * (2 + 0.9 * 2)))
    restored = Muon([{"params": [weight]}], lr=0.5, momentum=0.9)
    restored.load_state_dict(optimizer.state_dict())
    assert torch.equal(restored.state[weight]["momentum"], optimizer.state[weight]["momentum"])


def test_bad_muon_settings_say_what_is_allowed():
    with pytest.raises(CnnlabError, match="`muon_lr` must be above 0"):
        OptimSettings(muon_lr=0.0)
    with pytest.raises(CnnlabError, match="`muon_momentum` must be below 1"):
        OptimSettings(muon_momentum=1.0)


@pytest.mark.parametrize("normalize", [False, True])
def test_normalize_holds_each_filter_bank_at_norm_root_out(normalize):
    conv = nn.Conv2d(4, 8, 3, bias=False)
    with torch.no_grad():
        conv.weight.mul_(50.0)
    grown = conv.weight.norm().item()
    optimizer = build_optimizer(nn.Sequential(conv), OptimSettings(optimizer="muon", muon_lr=1e-4, muon_normalize=normalize))
    conv.weight.grad = torch.randn_like(conv.weight)
    optimizer.step()
    expected = 8**0.5 if normalize else grown
    assert conv.weight.norm().item() == pytest.approx(expected, rel=1e-2)
