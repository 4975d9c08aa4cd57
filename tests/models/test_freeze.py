"""Freezing: stages named as the architecture reads, frozen BatchNorm stays in eval, lower backbone rates."""

import pytest
import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.models.freeze import fixed_statistics, freeze, phase_freeze, stage_report, stages, train_mode
from cnnlab.settings.sections import ModelSettings
from cnnlab.train.optim import param_groups


def names(model_name: str) -> list[str]:
    """The stage names of a zoo model."""
    return [name for name, _ in stages(create_model(model_name, num_classes=4))]


def test_stages_follow_the_architecture():
    assert names("resnet18") == ["conv1+bn1", "layer1", "layer2", "layer3", "layer4"]
    assert names("simplecnn") == ["features.0", "features.1", "features.2"]
    assert names("vgg11_bn") == ["features.0-3", "features.4-7", "features.8-14", "features.15-21", "features.22-28"]


def test_freeze_backbone_leaves_only_what_forward_head_runs_trainable():
    model = create_model("resnet18", num_classes=4)
    freeze(model, "backbone")
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"]
    freeze(model, "none")
    assert all(p.requires_grad for p in model.parameters())
    simple = create_model("simplecnn", num_classes=4)
    freeze(simple, "backbone")
    assert [n for n, p in simple.named_parameters() if p.requires_grad] == [
        "hidden.1.weight", "hidden.1.bias", "classifier.weight", "classifier.bias"]


def test_freeze_n_freezes_the_first_n_stages():
    model = create_model("resnet18", num_classes=4)
    freeze(model, "2")
    report = {row["stage"]: row for row in stage_report(model)}
    assert report["conv1+bn1"]["trainable"] == 0 and report["layer1"]["trainable"] == 0
    assert report["layer2"]["trainable"] == report["layer2"]["params"] > 0
    assert report["head"]["trainable"] == 4 * 512 + 4


def test_bad_freeze_specs_are_one_line_errors():
    with pytest.raises(CnnlabError, match="`freeze` 'head' is not one of"):
        freeze(create_model("simplecnn"), "head")
    with pytest.raises(CnnlabError, match=r"`freeze` 9: SimpleCNN has 3 stages \(features.0, "):
        freeze(create_model("simplecnn"), "9")


def test_train_mode_keeps_batchnorm_of_frozen_stages_in_eval():
    model = create_model("resnet18", num_classes=4)
    freeze(model, "2")
    train_mode(model)
    assert not model.bn1.training and not model.layer1[0].bn1.training
    assert model.layer2[0].bn1.training and model.training


class NormedHead(nn.Module):
    """A backbone with BatchNorm and a head with its own BatchNorm, which the head's own weights bring."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten())
        self.head = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))

    def head_modules(self) -> list[nn.Module]:
        return [self.head]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_fixed_statistics_keep_every_batchnorm_outside_the_head_as_it_was_while_its_weights_train():
    model = NormedHead()
    freeze(model, "none")
    train_mode(model, fixed=True)
    assert not model.body[1].training and model.head[1].training and model.training
    before_mean, before_weight = model.body[1].running_mean.clone(), model.body[1].weight.detach().clone()
    head_mean = model.head[1].running_mean.clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    nn.functional.cross_entropy(model(torch.randn(8, 3, 8, 8) * 3 + 2), torch.tensor([0, 1] * 4)).backward()
    optimizer.step()
    assert torch.equal(model.body[1].running_mean, before_mean)  # the statistics it came with
    assert not torch.equal(model.body[1].weight, before_weight)  # its affine weights still learn
    assert not torch.equal(model.head[1].running_mean, head_mean)  # the head's own BatchNorm follows the batches
    train_mode(model, fixed=False)
    assert model.body[1].training


def test_batchnorm_auto_fixes_the_statistics_of_pretrained_weights_only():
    assert fixed_statistics(ModelSettings(pretrained="imagenet"))
    assert not fixed_statistics(ModelSettings())
    assert not fixed_statistics(ModelSettings(pretrained="imagenet", batchnorm="batch"))
    assert fixed_statistics(ModelSettings(batchnorm="fixed"))
    with pytest.raises(CnnlabError, match="`batchnorm` 'frozen' is not one of: auto, fixed, batch"):
        ModelSettings(batchnorm="frozen")


def test_phase_freeze_freezes_the_backbone_for_the_head_epochs_only():
    assert [phase_freeze("none", 2, epoch) for epoch in range(4)] == ["backbone", "backbone", "none", "none"]


def test_discriminative_rates_compose_with_no_decay_on_norms_and_biases():
    model = create_model("simplecnn", num_classes=4)
    groups = param_groups(model, weight_decay=1e-4, backbone_mult=0.1)
    head = {id(model.hidden[1].weight): "hw", id(model.hidden[1].bias): "hb", id(model.classifier.weight): "w",
            id(model.classifier.bias): "b"}
    (head_w, head_b, body_w, body_b) = groups
    assert [head.get(id(p)) for p in head_w["params"] + head_b["params"]] == ["hw", "w", "hb", "b"]
    assert (head_w["scale"], head_w["weight_decay"], head_b["scale"], head_b["weight_decay"]) == (1, 1e-4, 1, 0.0)
    assert body_w["scale"] == pytest.approx(0.1) and body_w["weight_decay"] == 1e-4
    assert body_b["weight_decay"] == 0.0 and all(p.ndim <= 1 for p in body_b["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_frozen_parameters_are_not_in_the_optimizer():
    model = create_model("simplecnn", num_classes=4)
    freeze(model, "backbone")
    groups = param_groups(model, weight_decay=1e-4)
    assert [len(g["params"]) for g in groups] == [2, 2]
    for param in model.parameters():
        param.requires_grad_(False)
    with pytest.raises(CnnlabError, match="nothing to train"):
        param_groups(model, weight_decay=1e-4)


def test_a_frozen_batchnorm_keeps_its_running_stats_through_a_training_step():
    model = create_model("resnet18", num_classes=4, stem="cifar")
    freeze(model, "1")
    before = model.bn1.running_mean.clone()
    train_mode(model)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32) * 3 + 1), torch.tensor([0, 1, 2, 3])).backward()
    optimizer.step()
    assert torch.equal(model.bn1.running_mean, before)
    assert model.conv1.weight.grad is None
