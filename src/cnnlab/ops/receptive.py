"""The receptive field of a stack of layers: how many input pixels one output unit sees, its stride and centre (the
course's formula, which analysis/field_tracker.py applies to real models)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """Receptive field of one output unit: its size in input pixels, the effective stride (jump) and the centre of unit 0."""

    size: int = 1
    jump: int = 1
    start: float = 0.5

    def then(self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> "Field":
        """The field after one more layer with this kernel, stride, padding and dilation."""
        span = dilation * (kernel - 1) + 1
        return Field(
            size=self.size + (span - 1) * self.jump,
            jump=self.jump * stride,
            start=self.start + ((span - 1) / 2 - padding) * self.jump,
        )


def receptive_field(layers: list[tuple[int, ...]]) -> list[Field]:
    """Fields after each layer of a stack; a layer is (kernel[, stride[, padding[, dilation]]])."""
    fields, field = [], Field()
    for layer in layers:
        field = field.then(*layer)
        fields.append(field)
    return fields
