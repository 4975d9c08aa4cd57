"""The fast family: patch whitening from data, identity-initialised convs, fixed-scale norms, scaled logits."""

import pytest
import torch
import torch.nn.functional as F

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.models.fast import PatchWhitening, identity_init


def correlated_images(n: int = 400, seed: int = 0) -> torch.Tensor:
    """Images whose neighbouring pixels and channels are strongly correlated, as natural images are."""
    g = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.randn(n, 1, 18, 18, generator=g), 3, stride=1)  # smooth: neighbours correlate
    mix = torch.tensor([[1.0], [0.8], [0.6]])
    return (mix.view(1, 3, 1, 1) * base + 0.1 * torch.randn(n, 3, 16, 16, generator=g)).contiguous()


def patch_rows(images: torch.Tensor, k: int) -> torch.Tensor:
    """Every k x k patch as a row, in the (C, k, k) order of a conv weight."""
    c = images.shape[1]
    return images.unfold(2, k, 1).unfold(3, k, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)


def test_whitened_patches_have_identity_covariance():
    images = correlated_images()
    assert torch.cov(patch_rows(images, 2).T).diag().max() / torch.cov(patch_rows(images, 2).T).diag().min() > 1
    layer = PatchWhitening(3, patch=2, eps=1e-8)
    layer.init_from_data(images)
    out = layer(images).detach().double()  # N, 24, H-1, W-1
    half = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)
    cov = torch.cov(half.T)
    assert torch.allclose(cov, torch.eye(12, dtype=cov.dtype), atol=1e-3)
    assert torch.equal(out[:, 12:], -out[:, :12])  # each direction and its negative


def test_whitening_puts_the_strongest_direction_first_and_is_not_trained():
    layer = PatchWhitening(3, patch=2)
    layer.init_from_data(correlated_images())
    norms = layer.weight[:12].flatten(1).norm(dim=1)
    assert norms[0] < norms[-1]  # the largest-variance direction needs the smallest gain
    assert [name for name, _ in layer.named_parameters()] == ["bias"]  # the filters are a buffer: never trained
    assert "weight" in dict(layer.named_buffers())


def test_whitening_refuses_images_with_other_channels():
    with pytest.raises(CnnlabError, match=r"\(N, 3, H, W\)"):
        PatchWhitening(3).init_from_data(torch.rand(4, 1, 8, 8))


def test_identity_init_copies_the_input_channels():
    conv = torch.nn.Conv2d(4, 6, 3, padding=1, bias=False)
    identity_init(conv)
    x = torch.randn(2, 4, 5, 5)
    out = conv(x)
    assert torch.allclose(out[:, :4], x, atol=1e-6)
    assert not torch.allclose(out[:, 4:], torch.zeros_like(out[:, 4:]))  # the extra filters keep their random init


def test_fast_model_shape_and_fixed_norm_scales():
    model = create_model("fast:widths=16-32-32", num_classes=7)
    model.init_from_data(torch.randn(64, 3, 32, 32))
    assert model(torch.randn(5, 3, 32, 32)).shape == (5, 7)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 6 and all([n for n, _ in m.named_parameters()] == ["bias"] for m in norms)
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in norms)
    assert model.classifier.bias is None


def test_fast_model_scales_its_logits():
    torch.manual_seed(0)
    small = create_model("fast:widths=8-16-16,scale=0.125")
    torch.manual_seed(0)
    plain = create_model("fast:widths=8-16-16,scale=1")
    x = torch.randn(3, 3, 32, 32)
    small.eval(), plain.eval()
    assert torch.allclose(small(x) * 8, plain(x), atol=1e-5)


def test_fast_model_rejects_unknown_activation():
    with pytest.raises(CnnlabError, match="gelu, relu"):
        create_model("fast:act=tanh")
