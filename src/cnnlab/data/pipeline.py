"""A run's data from its settings: the dataset (reported), the training batches' augmentation, and the loaders."""

import dataclasses

import torch

from cnnlab import events
from cnnlab.data.augment import AugmentConfig, build_augment
from cnnlab.data.dataset import Dataset
from cnnlab.data.holdout import hold_out
from cnnlab.data.labels import label_file
from cnnlab.data.loader import DeviceLoader
from cnnlab.data.policies import Mixer, Policy
from cnnlab.data.sources import load_dataset
from cnnlab.errors import CnnlabError, SettingError
from cnnlab.models.pretrained import weights_channels, weights_preprocessing
from cnnlab.settings import Settings

INIT_SAMPLE = 5000  # training images that data-dependent initialisations (patch whitening) see
EVAL_BATCH = 256


def load_data(settings: Settings) -> Dataset:
    """The dataset the settings name, sized and normalised as they say (or as the pretrained weights expect)."""
    data, model = settings.data, settings.model
    weights = None
    if model.preprocess == "weights":
        if data.image_size is not None:
            raise SettingError("image_size", "conflicts with `preprocess` weights, which sizes images as the weights "
                               "were trained")
        weights = weights_preprocessing(model.model, model.pretrained)
    channels = weights_channels(model.pretrained) if model.pretrained else None
    dataset = load_dataset(data.data, data_dir=data.data_dir, download=data.download, val_split=data.val_split,
                           seed=settings.run.seed, channels=channels, size=weights.size if weights else data.image_size,
                           stream=data.stream, labels=label_file(data))
    dataset = hold_out(dataset, data.holdout, data.fold, settings.run.seed)
    if "workers" in settings.explicit() and not dataset.streamed:
        raise SettingError("workers", f"applies to images streamed from disk (`stream`); {dataset.name} is held in "
                           "memory")
    if weights:
        adapted = weights.for_channels(dataset.input_shape[0])
        dataset.mean, dataset.std = adapted.mean, adapted.std
    events.emit(events.DataReady(dataset.name, len(dataset.train), len(dataset.val), len(dataset.classes),
                                 dataset.input_shape, dataset.skipped, dataset.multi_label))
    return dataset


def train_augment(settings: Settings, data: Dataset) -> AugmentConfig:
    """The dataset's usual augmentation with the run's settings applied."""
    augment = settings.augment
    try:
        base = AugmentConfig.for_dataset(data.name)
    except CnnlabError:  # a folder of the user's: natural images
        base = AugmentConfig.for_dataset("folder")
    if data.streamed:  # the workers' random resized crop already shifts and scales each image
        base = dataclasses.replace(base, crop_padding=0)
    flip = base.flip if augment.flip is None else (0.5 if augment.flip else 0.0)
    crop_padding = base.crop_padding if augment.crop_padding is None else augment.crop_padding
    if crop_padding == 0 and "pad_mode" in settings.explicit():
        raise SettingError("pad_mode", f"applies to the random crop, which is off for {data.name} (`crop_padding` 0, "
                           "the default for images streamed from disk, which the workers crop)")
    return AugmentConfig(
        crop_padding=crop_padding,
        pad_mode=augment.pad_mode,
        flip=0.0 if augment.alternate_flip else flip,
        rotation=augment.rotation,
        brightness=augment.jitter,
        contrast=augment.jitter,
        saturation=augment.jitter,
        cutout=augment.cutout,
        erasing=augment.erasing,
    )


def mixing(settings: Settings, data: Dataset, device: torch.device) -> tuple[Policy | None, Mixer | None]:
    """The run's augmentation policy and MixUp/CutMix mixer (None when off), each announced."""
    augment = settings.augment
    for name in ("mixup", "cutmix"):
        if getattr(augment, name) and data.multi_label:
            raise SettingError(name, "mixes the one-class targets of single-label data; this data is multi-label "
                               "(several labels per image)")
    policy = None if augment.policy == "none" else Policy(augment.policy, device, data.input_shape[0])
    mixer = Mixer(len(data.classes), augment.mixup, augment.cutmix) if augment.mixup or augment.cutmix else None
    for part in (policy, mixer):
        if part is not None:
            events.note(part.describe())
    return policy, mixer


def loaders(settings: Settings, data: Dataset, device: torch.device, sample_weights: torch.Tensor | None = None,
            rank: int = 0, ranks: int = 1) -> tuple[DeviceLoader, DeviceLoader]:
    """The training loader (shuffled or weighted, augmented, mixed) and the evaluation loader, on `device`, of
    rank `rank` of `ranks` processes (which read only their share of streamed files)."""
    policy, mixer = mixing(settings, data, device)
    common = dict(mean=data.mean, std=data.std, device=device, channels_last=settings.run.channels_last,
                  workers=settings.data.workers)
    train = DeviceLoader(data.train, settings.optim.batch_size, shuffle=True,
                         augment=build_augment(train_augment(settings, data)), seed=settings.run.seed,
                         random_crop=True, sample_weights=sample_weights, alternate_flip=settings.augment.alternate_flip,
                         policy=policy, mixer=mixer, shard=(rank, ranks, True), **common)
    val = DeviceLoader(data.val, max(EVAL_BATCH, settings.optim.batch_size), shard=(rank, ranks, False), **common)
    return train, val


def init_sample(settings: Settings, data: Dataset, device: torch.device) -> torch.Tensor:
    """A seeded random sample of up to INIT_SAMPLE normalised, unaugmented training images (for data-dependent init)."""
    loader = DeviceLoader(data.train, INIT_SAMPLE, data.mean, data.std, device, shuffle=True, seed=settings.run.seed,
                          channels_last=settings.run.channels_last, workers=settings.data.workers)
    return next(iter(loader))[0]
