"""The course's math from scratch in NumPy: convolution, pooling, activations, shapes and receptive fields."""

from cnnlab.ops.activations import activate, gelu, leaky_relu, relu
from cnnlab.ops.conv import conv2d, conv2d_backward
from cnnlab.ops.explain import explain_conv, explain_output_size, explain_pool, layer_shape
from cnnlab.ops.im2col import col2im, im2col
from cnnlab.ops.pool import avg_pool2d, global_avg_pool2d, max_pool2d
from cnnlab.ops.receptive import Field, receptive_field
from cnnlab.ops.shapes import conv_axis, output_size

__all__ = [
    "Field",
    "activate",
    "avg_pool2d",
    "col2im",
    "conv2d",
    "conv2d_backward",
    "conv_axis",
    "explain_conv",
    "explain_output_size",
    "explain_pool",
    "gelu",
    "global_avg_pool2d",
    "im2col",
    "layer_shape",
    "leaky_relu",
    "max_pool2d",
    "output_size",
    "receptive_field",
    "relu",
]
