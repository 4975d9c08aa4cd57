"""The int8 export's defaults, apart from quantize.py so that the command line shows them without importing torch."""

CALIBRATION_IMAGES = 256  # training images (a seeded draw) the activation ranges are calibrated on
CALIBRATION_SEED = 0
MAX_DROP = 0.5  # accuracy points the int8 model may lose against fp32 before the export fails
