"""Image data: sources, decoding, the in-memory cache or streaming from disk, batched augmentation."""
