"""The ``README.md`` model card of an export: what the model is, how it was trained, what it
scored and how to load it, with the metadata header model hubs read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from unweave.atomic import write_atomic


def _json(path: Path) -> Any:
    """``path``'s JSON, or None when it is absent or unreadable (a card never fails on it)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def model_card(run_dir: str | Path, folder: str | Path | None = None) -> str:
    """The card of the export in ``run_dir`` (``folder``: where it will be loaded from,
    default ``run_dir``): method, data, training command and settings, the figures of
    ``eval.json`` when the run was evaluated, and the lines that load it."""
    from unweave import __version__
    from unweave.export import read_model_info

    run_dir = Path(run_dir)
    info = read_model_info(run_dir)
    method, modality = info["method"], info.get("modality", "video")
    data = (info.get("data") or {}).get("name", "?")
    header = {
        "library_name": "unweave",
        "tags": ["unweave", "disentanglement", method, modality],
        "datasets": [data],
    }
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).strip(),
        "---",
        f"# {method} on {data}",
        "",
        f"A {modality} model of unweave {__version__} (method `{method}`), trained on `{data}`.",
        "The weights are `model.safetensors`; `config.json` describes the model.",
        "",
        "## Load it",
        "```python",
        "import unweave",
        "",
        f'run = unweave.load("{Path(folder or run_dir).as_posix()}")  # safetensors, no pickle',
        "model = run.model  # a torch.nn.Module: encode, decode (see the method in docs/methods.md)",
        "```",
    ]
    env = _json(run_dir / "env.json") or {}
    argv = env.get("argv") or []
    if argv and Path(str(argv[0])).name == "unweave":
        lines += ["", "## Training", "```bash", " ".join(["unweave", *argv[1:]]), "```"]
    config = run_dir / "config.yaml"
    if config.is_file():
        lines += ["", "Settings (`config.yaml`):", "```yaml", config.read_text().strip(), "```"]
    figures = _json(run_dir / "eval.json")
    if isinstance(figures, dict) and figures:
        lines += ["", "## Metrics", "", "| figure | value |", "|---|---|"]
        for name, value in sorted(figures.items()):
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            lines.append(f"| `{name}` | {shown} |")
        lines += ["", "From `unweave evaluate` (`eval.json`)."]
    else:
        lines += ["", "Not evaluated yet: `unweave evaluate RUN` adds its figures here."]
    return "\n".join(lines) + "\n"


def write_model_card(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the card of ``run_dir`` as ``out/README.md`` (default ``run_dir``), atomically."""
    path = Path(out or run_dir) / "README.md"
    write_atomic(path, model_card(run_dir, out))
    return path


def export_folder(run_dir: str | Path, out: str | Path) -> Path:
    """The run's model as a folder to share or upload to a hub: ``config.json``,
    ``model.safetensors`` and ``README.md`` (with the run's figures); ``out``."""
    import shutil

    from unweave.errors import UnweaveError
    from unweave.export import INFO_NAME, read_model_info

    run_dir, out = Path(run_dir), Path(out)
    info = read_model_info(run_dir)
    weights = run_dir / "model.safetensors"
    if not weights.is_file():
        raise UnweaveError(f"{weights} is missing; expected the weights of a finished run.")
    if out.resolve() == run_dir.resolve():
        raise UnweaveError(f"{out} is the run folder itself; choose another --out folder.")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, out / "model.safetensors.tmp")
    (out / "model.safetensors.tmp").replace(out / "model.safetensors")
    write_atomic(out / INFO_NAME, json.dumps(info, indent=1))  # config.json, also for old runs
    write_model_card(run_dir, out)
    return out
