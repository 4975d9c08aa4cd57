"""A run directory: config.json, metrics.jsonl, TensorBoard events and checkpoints/ of one training."""

import json
import time
from pathlib import Path

from cnnlab.errors import CnnlabError


class RunDir:
    """Reads and writes the files of one run directory."""

    def __init__(self, path: str | Path) -> None:
        """Wrap an existing or new run directory."""
        self.path = Path(path)

    @classmethod
    def create(cls, out: str | Path, name: str) -> "RunDir":
        """A new, empty run directory under `out` (a numeric suffix keeps names unique)."""
        base = Path(out) / name
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        path.mkdir(parents=True)
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """An existing run directory, or an error saying what is missing."""
        run = cls(path)
        if not (run.path / "config.json").is_file():
            raise CnnlabError(f"{run.path} is not a cnnlab run directory (no config.json)")
        return run

    @classmethod
    def of_job(cls, out: str | Path, job: str) -> "RunDir | None":
        """The newest run directory under `out` that the job `job` made (its config.json says so), if any."""
        made = []
        for config in Path(out).glob("*/config.json"):
            try:
                if json.loads(config.read_text()).get("job") == job:
                    made.append(config.parent)
            except (OSError, ValueError):  # a run being written, or not a run: not this job's
                continue
        return cls(max(made, key=lambda path: path.stat().st_mtime)) if made else None

    @property
    def checkpoints(self) -> Path:
        """The checkpoints folder."""
        return self.path / "checkpoints"

    @property
    def metrics_file(self) -> Path:
        """The metrics.jsonl file."""
        return self.path / "metrics.jsonl"

    def write_config(self, config: dict) -> None:
        """Write config.json."""
        (self.path / "config.json").write_text(json.dumps(config, indent=2) + "\n")

    def read_config(self) -> dict:
        """Read config.json."""
        return json.loads((self.path / "config.json").read_text())

    def append_metrics(self, row: dict) -> None:
        """Append one epoch's metrics as a JSON line."""
        with open(self.metrics_file, "a") as f:
            f.write(json.dumps(row) + "\n")

    def read_metrics(self) -> list[dict]:
        """Every metrics row so far."""
        if not self.metrics_file.exists():
            return []
        return [json.loads(line) for line in self.metrics_file.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, last_epoch: int) -> None:
        """Drop rows after `last_epoch` (written after the checkpoint a resume starts from)."""
        rows = [r for r in self.read_metrics() if r["epoch"] <= last_epoch]
        self.metrics_file.write_text("".join(json.dumps(r) + "\n" for r in rows))


def default_run_name(model: str, data: str) -> str:
    """`<model>-<data>-<yyyymmdd-hhmmss>` with characters safe for a folder name."""
    safe = lambda s: "".join(c if c.isalnum() or c in "-_." else "_" for c in s)  # noqa: E731
    return f"{safe(model)}-{safe(Path(data).name or data)}-{time.strftime('%Y%m%d-%H%M%S')}"
