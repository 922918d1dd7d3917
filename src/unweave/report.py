"""One self-contained HTML page per run: config, environment, losses, metrics, swaps, codes.

``write_report`` reads a finished run folder (see ``training/run.py``) and writes
``report.html`` with every figure inline as a base64 data URI: no external CSS, scripts,
fonts or images, so the file can be mailed or archived on its own.
"""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from unweave.errors import UnweaveError

SWAP_CLIPS = 6  # clips per side of a freshly computed swap grid

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1100px; padding: 1.5rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
.sub { color: #666; margin-top: 0; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 0.8rem; overflow-x: auto;
      font-size: 0.85rem; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
td.num { text-align: right; font-family: ui-monospace, Menlo, Consolas, monospace; }
th { background: #f2f2f2; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
img.pixels { image-rendering: pixelated; }
.note { color: #8a5a00; background: #fff8e5; border: 1px solid #f0d890; padding: 0.5rem 0.8rem; }
figure { margin: 1rem 0; }
figcaption { color: #555; font-size: 0.9rem; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; }
.cols pre { margin-top: 0; }
"""

# Counts the images that decoded, for readers (and tests) that check the page renders.
SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  document.body.dataset.imagesLoaded = String(loaded.length);
  document.body.dataset.imagesTotal = String(images.length);
});
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _img(data: bytes, mime: str, ident: str, alt: str, pixels: bool = False) -> str:
    """An <img> holding ``data`` as a base64 data URI."""
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    cls = ' class="pixels"' if pixels else ""
    return f'<img id="{_esc(ident)}" src="{uri}" alt="{_esc(alt)}"{cls}>'


def _figure(image: str, caption: str) -> str:
    return f"<figure>{image}<figcaption>{_esc(caption)}</figcaption></figure>"


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UnweaveError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}).") from None


def _metrics_table(figures: dict[str, Any]) -> str:
    """``eval.json`` as an HTML table: one row per metric, value +- std."""
    rows = []
    for key, value in figures.items():
        if key.endswith("_std"):
            continue
        std = figures.get(f"{key}_std")
        shown = f"{value:.4f}" if isinstance(value, (int, float)) else str(value)
        if isinstance(std, (int, float)):
            shown += f" &plusmn; {std:.4f}"
        rows.append(f'<tr><td>{_esc(key)}</td><td class="num">{shown}</td></tr>')
    return (
        '<table id="metrics-table"><thead><tr><th>metric</th><th>value</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _swap_images(run_dir: Path, model, test) -> tuple[bytes, bytes, str]:
    """PNG and GIF bytes of the run's swap grid, and where they came from.

    The run's own ``swap.png`` + ``swap.gif`` are used when both exist; otherwise a grid is
    computed from the test split (nothing is written into the run folder).
    """
    png, gif = run_dir / "swap.png", run_dir / "swap.gif"
    if png.is_file() and gif.is_file():
        return png.read_bytes(), gif.read_bytes(), f"from {png.name} and {gif.name}"
    import torch

    from unweave.nn.frames import prepare_frames
    from unweave.viz.swap import pick_swap_sources, save_swap_gif, save_swap_png, swap_grid

    indices = pick_swap_sources(test, min(SWAP_CLIPS, len(test)))
    clips = prepare_frames(torch.from_numpy(np.asarray(test.x[indices])), model.config.image_size)
    grid = swap_grid(model, clips)
    with tempfile.TemporaryDirectory() as folder:
        png_bytes = save_swap_png(clips, grid, Path(folder) / "swap.png", scale=2).read_bytes()
        gif_bytes = save_swap_gif(clips, grid, Path(folder) / "swap.gif").read_bytes()
    source = f"computed from {len(indices)} clips of the test split (test clips {indices.tolist()})"
    return png_bytes, gif_bytes, source


def _other_swaps(run_dir: Path, model, test) -> str:
    """The swap section of a run that is not video: a series model's static swap (the
    first test series decoded with the static code of series from the other end of the
    split), else a pointer to ``unweave swap``."""
    if model.modality != "series":
        return _note(f"Swap figures of {model.modality} runs: unweave swap {run_dir}")
    from unweave.viz.series import save_static_swap

    with tempfile.TemporaryDirectory() as folder:
        try:
            png_path, rows, partners = save_static_swap(model, test, Path(folder) / "swap.png")
        except UnweaveError as err:  # a model without a static code
            return _note(str(err))
        png = png_path.read_bytes()
    alt = "Static swap: series decoded with another series' static code"
    caption = (
        f"Test series {rows.tolist()} decoded with the static code of test series "
        f"{partners.tolist()}, beside both (feature {test.feature_names[0]})."
    )
    return _figure(_img(png, "image/png", "swap-grid", alt), caption)


def _embeddings(model, test, max_clips: int) -> tuple[bytes, bytes, int]:
    """PNGs of the static and the time-averaged dynamic code, coloured by every factor."""
    from unweave.metrics.probes import encode_dataset
    from unweave.viz.plots import embedding_png

    codes = encode_dataset(model, test, limit=max_clips)
    n = len(codes["static"])
    labels = {k: np.asarray(v[:n]) for k, v in {**test.static, **test.dynamic}.items()}
    static = embedding_png(codes["static"], labels, "static code", test.value_names)
    dynamic = embedding_png(
        codes["dynamic"].mean(axis=1), labels, "dynamic code (averaged over time)", test.value_names
    )
    return static, dynamic, n


def _run_summary(run_dir: Path, info: dict[str, Any], config: dict[str, Any]) -> str:
    data = info.get("data", {})
    rows = [
        ("run folder", str(run_dir.resolve())),
        ("method", info.get("method", config.get("method", "?"))),
        ("data", f"{data.get('name', config['data']['name'])}"),
        ("frames", f"{data.get('seq_len', '?')} x {data.get('frame_shape', '?')}"),
        ("static factors", ", ".join(data.get("static_factors", [])) or "-"),
        ("dynamic factors", ", ".join(data.get("dynamic_factors", [])) or "-"),
        ("files", ", ".join(sorted(p.name for p in run_dir.iterdir() if p.is_file()))),
    ]
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f'<table id="summary">{body}</table>'


def render_report(run_dir: Path, root: Path | None = None, max_clips: int = 1000) -> str:
    """The HTML text of the report of ``run_dir`` (see :func:`write_report`)."""
    from unweave.export import load, read_model_info
    from unweave.training.run import load_run_data, read_run_config
    from unweave.viz.plots import loss_curves_png

    run_dir = Path(run_dir)
    if not (run_dir / "model.safetensors").is_file():
        raise UnweaveError(
            f"Run folder {run_dir} has no model.safetensors; finish training it with "
            "'unweave train' (or --resume) before writing a report."
        )
    if max_clips < 1:
        raise UnweaveError(f"max_clips is {max_clips}; expected at least 1 clip to embed.")
    config = read_run_config(run_dir)
    info = read_model_info(run_dir)
    method = info.get("method", config.get("method", "?"))
    name = run_dir.resolve().name
    model = load(run_dir)
    test = load_run_data(run_dir, "test", root)

    parts = [
        f"<h1>{_esc(name)} <small>({_esc(method)})</small></h1>",
        f'<p class="sub">unweave run report, written {_esc(time.strftime("%Y-%m-%d %H:%M"))}</p>',
        _run_summary(run_dir, info, config),
    ]

    env_json = run_dir / "env.json"
    if env_json.is_file():
        env = f'<pre id="environment">{_esc(json.dumps(_read_json(env_json), indent=2))}</pre>'
    else:
        env = _note(f"{env_json} is missing.")
    parts.append(
        '<div class="cols"><div><h2>Configuration</h2>'
        f'<pre id="config">{_esc(yaml.safe_dump(config, sort_keys=False))}</pre></div>'
        f"<div><h2>Environment</h2>{env}</div></div>"
    )

    parts.append("<h2>Training losses</h2>")
    metrics_csv = run_dir / "metrics.csv"
    try:
        curves = loss_curves_png(metrics_csv)
    except UnweaveError as err:
        parts.append(_note(f"No loss curves: {err}"))
    else:
        alt = "Training loss curves: one panel per logged term against the step"
        parts.append(_figure(_img(curves, "image/png", "loss-curves", alt), "From metrics.csv."))

    parts.append("<h2>Metrics</h2>")
    eval_json = run_dir / "eval.json"
    if eval_json.is_file():
        figures = _read_json(eval_json)
        if not isinstance(figures, dict):
            raise UnweaveError(f"{eval_json} holds {type(figures).__name__}; expected an object.")
        parts.append(_metrics_table(figures))
    else:
        parts.append(_note(f"not evaluated yet: run unweave evaluate {run_dir}"))

    parts.append("<h2>Swaps</h2>")
    if model.modality != "video":
        parts.append(_other_swaps(run_dir, model, test))
        return _page(name, method, parts)
    png, gif, source = _swap_images(run_dir, model, test)
    caption = (
        "Each row keeps the static code of the clip on the left, each column takes the dynamic "
        f"code of the clip on top; the diagonal is the reconstruction. Swap grid {source}."
    )
    alt = "Swap grid: rows keep the static code of a clip, columns take another clip's dynamics"
    parts.append(_figure(_img(png, "image/png", "swap-grid", alt, pixels=True), caption))
    alt = "Animated swap grid: every cell plays its decoded clip"
    parts.append(
        _figure(_img(gif, "image/gif", "swap-clip", alt, pixels=True), "The same grid, animated.")
    )

    parts.append("<h2>Code embeddings</h2>")
    static, dynamic, n = _embeddings(model, test, max_clips)
    parts.append(
        _figure(
            _img(static, "image/png", "embedding-static", "PCA of the static code by factor"),
            f"Static code (posterior mean) of {n} test clips, coloured by each factor: "
            "static factors should form clusters, dynamic ones should not.",
        )
    )
    parts.append(
        _figure(
            _img(dynamic, "image/png", "embedding-dynamic", "PCA of the dynamic code by factor"),
            f"Dynamic code (posterior mean, averaged over time) of the same {n} clips.",
        )
    )

    return _page(name, method, parts)


def _page(name: str, method: str, parts: list[str]) -> str:
    """The whole HTML page of the report's ``parts``."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(name)} ({_esc(method)}): unweave report</title>"
        f"<style>{CSS}</style><script>{SCRIPT}</script></head>\n"
        f"<body>\n{chr(10).join(parts)}\n</body></html>\n"
    )


def write_report(
    run_dir: Path, root: Path | None = None, out: Path | None = None, max_clips: int = 1000
) -> Path:
    """Write the self-contained HTML report of ``run_dir`` (default ``run_dir/report.html``).

    ``root`` overrides the data folder of the run's config; ``max_clips`` test clips are
    embedded. The file appears whole (temporary file, then a rename) or not at all.
    """
    run_dir = Path(run_dir)
    text = render_report(run_dir, root=root, max_clips=max_clips)
    out = Path(out) if out is not None else run_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
