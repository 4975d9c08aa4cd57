"""timm/<name> models: wrapped when timm is installed, a clear install hint when it is not."""

import sys

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model


def test_without_timm_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(CnnlabError, match=r"pip install 'cnnlab\[timm\]'"):
        create_model("timm/resnet18")


def test_timm_model_has_the_zoo_interface():
    pytest.importorskip("timm")
    model = create_model("timm/resnet18:drop_rate=0.1", num_classes=5, in_chans=1).eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        logits = model(x)
        torch.testing.assert_close(model.forward_head(model.forward_features(x)), logits)
    assert logits.shape == (2, 5) and model.num_classes == 5
    assert model.default_cfg["spec"] == "timm/resnet18:drop_rate=0.1" and model.default_cfg["in_chans"] == 1
    model.reset_classifier(3)
    with torch.no_grad():
        assert model(x).shape == (2, 3)


def test_unknown_timm_model_suggests_close_ones():
    pytest.importorskip("timm")
    with pytest.raises(CnnlabError, match="unknown timm model 'resnt18'; did you mean timm/resnet18"):
        create_model("timm/resnt18")


def test_timm_rejects_unknown_keywords_as_user_errors():
    pytest.importorskip("timm")
    with pytest.raises(CnnlabError, match="does not accept colour=red"):
        create_model("timm/resnet18:colour=red")
