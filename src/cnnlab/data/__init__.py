"""Image data: sources, decoding, the in-memory cache, batched augmentation."""
