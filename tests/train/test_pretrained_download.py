"""torchvision's ImageNet weights end to end: its real download, hash check and TORCH_HOME cache, from 127.0.0.1."""

import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torchvision.models import ResNet18_Weights

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.models.pretrained import apply_pretrained, weights_preprocessing


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder without logging each request."""

    def log_message(self, *args: object) -> None:
        """Say nothing."""


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet18 state dict saved under torchvision's naming (`name-<sha256 prefix>.pth`), as on its server."""
    folder = tmp_path_factory.mktemp("served")
    torch.manual_seed(7)
    temp = folder / "weights.tmp"
    torch.save(create_model("resnet18").state_dict(), temp)
    digest = hashlib.sha256(temp.read_bytes()).hexdigest()[:8]
    return temp.rename(folder / f"resnet18-{digest}.pth")


@pytest.fixture
def served(weights_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """ResNet18_Weights.IMAGENET1K_V1 pointed at a local HTTP server; TORCH_HOME empty. Yields TORCH_HOME."""
    handler = functools.partial(QuietHandler, directory=str(weights_file.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{weights_file.name}"
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url", url)
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    yield tmp_path / "torch"
    server.shutdown()
    server.server_close()


def test_imagenet_weights_download_hash_check_cache_and_load(served, weights_file):
    model = create_model("resnet18", num_classes=4)
    apply_pretrained(model, "resnet18", "imagenet")
    expected = torch.load(weights_file, weights_only=True)
    assert torch.equal(model.conv1.weight, expected["conv1.weight"])
    assert torch.equal(model.layer3[1].bn2.running_var, expected["layer3.1.bn2.running_var"])
    assert model.fc.weight.shape == (4, 512)  # the 1000-class ImageNet head replaced
    assert (served / "hub" / "checkpoints" / weights_file.name).is_file()  # torchvision's cache under TORCH_HOME


def test_a_corrupted_download_fails_torchvisions_hash_check(served, weights_file, monkeypatch):
    bad = weights_file.with_name("resnet18-00000000.pth")
    bad.write_bytes(weights_file.read_bytes())
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url",
                        ResNet18_Weights.IMAGENET1K_V1.url.replace(weights_file.name, bad.name))
    with pytest.raises(CnnlabError, match="invalid hash value"):
        apply_pretrained(create_model("resnet18", num_classes=4), "resnet18", "imagenet")


def test_no_network_is_one_line_naming_the_offline_options(served, monkeypatch):
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url", "http://127.0.0.1:9/resnet18-f37072fd.pth")
    with pytest.raises(CnnlabError) as err:
        apply_pretrained(create_model("resnet18", num_classes=4), "resnet18", "imagenet")
    message = str(err.value)
    assert "\n" not in message and message.startswith("cannot download http://127.0.0.1:9/resnet18-f37072fd.pth")
    assert f"copy resnet18-f37072fd.pth to {served / 'hub' / 'checkpoints' / 'resnet18-f37072fd.pth'}" in message
    assert "`pretrained` /path/to/resnet18-f37072fd.pth" in message


def test_weights_preprocessing_is_torchvisions():
    prep = weights_preprocessing("resnet18", "imagenet")
    assert prep.size == 224 and prep.mean == pytest.approx((0.485, 0.456, 0.406))
    assert prep.for_channels(1).mean == pytest.approx((0.449,))


def test_cli_trains_resnet18_from_imagenet_weights_with_a_frozen_backbone(served, colour_folder, tmp_path, cli):
    code, out, err = cli("train", "--data", str(colour_folder), "--model", "resnet18", "--pretrained", "imagenet",
                         "--freeze", "backbone", "--epochs", "1", "--batch-size", "32", "--out", str(tmp_path),
                         "--name", "tv")
    assert code == 0, err
    code, out, _ = cli("summary", str(tmp_path / "tv"), "--json")
    stages = {row["stage"]: row for row in json.loads(out)["stages"]}
    assert stages["layer4"]["trainable"] == 0 and stages["head"]["trainable"] == stages["head"]["params"] == 512 * 3 + 3


def test_cli_offline_and_unknown_weights_are_one_line_errors(colour_folder, tmp_path, cli, served, monkeypatch):
    code, _, err = cli("train", "--data", str(colour_folder), "--model", "resnet18", "--pretrained", "imagenet21k",
                       "--out", str(tmp_path))
    assert code == 2 and "error: unknown weights 'imagenet21k' for resnet18" in err
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url", "http://127.0.0.1:9/resnet18-f37072fd.pth")
    code, _, err = cli("train", "--data", str(colour_folder), "--model", "resnet18", "--pretrained", "imagenet",
                       "--out", str(tmp_path))
    assert code == 2 and "error: cannot download" in err and "offline" in err and "Traceback" not in err
