"""A Grad-CAM heatmap laid over the uploaded image, as a PNG data URL the web page shows."""

import base64

import torch
import torch.nn.functional as F
from torchvision.io import encode_png

from cnnlab.data.decode import decode_image

DISPLAY_SIDE = 224


def display_size(input_shape: tuple[int, int, int]) -> int | tuple[int, int]:
    """The size to show an image at: the model's crop (square, or its H x W) scaled so its longer side is 224."""
    _, height, width = input_shape
    if height == width:
        return DISPLAY_SIDE
    scale = DISPLAY_SIDE / max(height, width)
    return round(height * scale), round(width * scale)


def overlay(data: bytes, heatmap: torch.Tensor, input_shape: tuple[int, int, int], alpha: float = 0.45) -> torch.Tensor:
    """uint8 RGB (3, H, W): the image cropped as the model saw it, blended with the heatmap in the jet colour map."""
    return blend(decode_image(data, channels=3, size=display_size(input_shape)), heatmap, alpha)


def blend(image: torch.Tensor, heatmap: torch.Tensor, alpha: float = 0.45) -> torch.Tensor:
    """uint8 RGB (3, H, W): a uint8 image (1 or 3 channels) blended with a heatmap in [0, 1] (any size) in jet."""
    from matplotlib import colormaps  # loads only when a heatmap is asked for

    image = image.float().expand(3, -1, -1)
    heat = F.interpolate(heatmap[None, None].float(), size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    colours = torch.from_numpy(colormaps["jet"](heat.clamp(0, 1).numpy())[..., :3]).permute(2, 0, 1).float() * 255
    return ((1 - alpha) * image + alpha * colours).round().clamp(0, 255).to(torch.uint8)


def png_data_url(image: torch.Tensor) -> str:
    """A uint8 (C, H, W) image as a `data:image/png;base64,...` URL."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image).numpy().tobytes()).decode()
