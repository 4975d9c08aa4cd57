"""A summary's values as the text its tables show (the terminal's and the notebook's): shapes as 64x56x56, counts
with K/M/G suffixes, byte sizes, receptive fields and strides, parameters marked when frozen."""

from cnnlab.analysis.summary import LayerRow, Summary

COLUMNS = ("Layer", "Type", "Output", "Params", "FLOPs", "RF", "Stride")


def shape_text(dims: tuple[int, ...] | None) -> str:
    """Dimensions as `64x56x56`."""
    return "-" if dims is None else "x".join(map(str, dims))


def si(value: float, unit: str = "") -> str:
    """A count with a K/M/G/T suffix, e.g. 3.63G."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:.2f}{prefix}{unit}"
    return f"{value:.0f}{unit}"


def byte_size(count: int) -> str:
    """A byte count in KiB/MiB/GiB."""
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def axes_text(values: tuple[int, ...] | str | None) -> str:
    """One value for square fields and strides, HxW when the axes differ, or the word for a non-local field."""
    if values is None:
        return "-"
    if isinstance(values, str):
        return "?" if values == "unknown" else values
    return str(values[0]) if len(set(values)) == 1 else shape_text(values)


def params_text(row: LayerRow) -> str:
    """A layer's parameter count, marked when some or all of them are frozen."""
    if not row.params:
        return ""
    if row.trainable == row.params:
        return f"{row.params:,}"
    return f"{row.params:,} {'frozen' if row.trainable == 0 else 'part-frozen'}"


def row_cells(row: LayerRow) -> tuple[str, ...]:
    """One layer as the table's cells, in COLUMNS' order."""
    return (row.name, row.type, shape_text(row.output_shape), params_text(row), si(row.flops) if row.flops else "",
            axes_text(row.receptive_field), axes_text(row.stride))


def totals_lines(summary: Summary) -> list[tuple[str, str]]:
    """The totals: parameters, FLOPs, activation memory and input size, each with what it counts."""
    totals = summary.totals
    return [
        ("Params", f"{totals.params:,} ({totals.trainable_params:,} trainable)"),
        ("FLOPs", f"{si(totals.flops)} ({totals.flops:,}; 2 x multiply-accumulates, one image)"),
        ("Activations", f"{byte_size(totals.activation_bytes)} (sum of layer outputs, one image)"),
        ("Input", f"{byte_size(totals.input_bytes)} ({shape_text(summary.input_shape)})"),
    ]


def stage_state(stage: dict) -> str:
    """Whether a stage trains, is frozen, or partly."""
    return "trains" if stage["trainable"] == stage["params"] else "frozen" if not stage["trainable"] else "part"
