"""Model spec strings: `name:key=value,key=value` <-> a name and a variant dict (values become bool/int/float/str)."""

from cnnlab.errors import CnnlabError

VariantValue = bool | int | float | str

_EXAMPLE = "simplecnn:pooling=strided,kernel_size=5,se=true"


def parse_value(text: str) -> VariantValue:
    """Read `true`/`false` (any case) as bool, then try int, then float, else keep the text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def format_value(value: VariantValue) -> str:
    """Write a variant value the way `parse_value` reads it back."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def parse_spec(spec: str) -> tuple[str, dict[str, VariantValue]]:
    """Split `simplecnn:pooling=strided,se=true` into ("simplecnn", {"pooling": "strided", "se": True})."""
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    if not name:
        raise CnnlabError(f"malformed model spec {spec!r}: it needs a model name, e.g. {_EXAMPLE}")
    variant: dict[str, VariantValue] = {}
    for item in filter(str.strip, rest.split(",")):
        key, eq, text = (part.strip() for part in item.partition("="))
        if not eq or not key:
            raise CnnlabError(f"malformed model spec {spec!r}: expected name:key=value,key=value, e.g. {_EXAMPLE}")
        if key in variant:
            raise CnnlabError(f"malformed model spec {spec!r}: {key!r} is given twice")
        variant[key] = parse_value(text)
    return name, variant


def format_spec(name: str, variant: dict[str, VariantValue]) -> str:
    """Join a name and a variant into a spec string that `parse_spec` reads back."""
    if not variant:
        return name
    return name + ":" + ",".join(f"{key}={format_value(value)}" for key, value in variant.items())
