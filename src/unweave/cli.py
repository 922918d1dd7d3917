"""The ``unweave`` command: demo, data, train, swap, traverse, probe, judge, evaluate, report,
compare, study, downstream.

Every user error is one sentence on stderr and exit status 2 (see ``errors.UnweaveError``).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated

import typer

from unweave.errors import UnweaveError, UnweaveWarning
from unweave.paths import check_writable_folder

app = typer.Typer(
    help="Disentangled representation learning: split sequences into what stays and what moves.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Build and list data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
judge_app = typer.Typer(
    help="The judge classifiers the sequential metrics use.", no_args_is_help=True
)
app.add_typer(judge_app, name="judge")

RootOption = Annotated[
    Path | None,
    typer.Option("--root", help="Folder of the real data set (default: $UNWEAVE_DATA/<set>)."),
]


def _quiet_library_warnings() -> None:
    for pattern in (
        ".*LeafSpec.*",
        ".*smaller than the logging interval.*",
        ".*does not have many workers.*",
        ".*exists and is not empty.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)


@app.command()
def train(
    method: Annotated[
        str,
        typer.Argument(
            help="dbse, dsvae, c-dsvae, spyl, skd, s3vae (video); dbse, seqvae (series); fhvae, dbse, beta-vae (speech); v3, "
            "two-step (content/style); beta-vae, beta-tcvae, factor-vae, did (images)."
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="A data set of 'unweave data list', e.g. toy-sprites, sprites, etth1, fsdd, "
            "coloured-digits, dsprites.",
        ),
    ] = "toy-sprites",
    root: RootOption = None,
    preset: Annotated[
        str,
        typer.Option(
            help="Preset: cpu or paper; reference, cpu-reference: the authors' code where it differs."
        ),
    ] = "cpu",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting, SECTION.KEY=VALUE; repeatable."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Run name (default: METHOD-DATA-PRESET).")
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder holding the runs.")] = Path("runs"),
    resume: Annotated[bool, typer.Option(help="Continue the run from its last.ckpt.")] = False,
) -> None:
    """Train METHOD on a data set; writes runs/NAME/ (checkpoints, logs, model.safetensors)."""
    from unweave.api import fit
    from unweave.training.config import parse_overrides
    from unweave.training.run import is_secondary_process

    run_dir = runs_dir / (name or f"{method}-{data}-{preset}")
    check_writable_folder(runs_dir, "Runs folder", "choose another --runs-dir")
    check_writable_folder(run_dir, "Run folder", "choose another --name")
    settings = parse_overrides(set_ or [])
    fit(method, data, preset=preset, run_dir=run_dir, root=root, resume=resume, settings=settings)
    if not is_secondary_process():
        typer.echo(f"Run written to {run_dir}/ (model.safetensors, metrics.csv, checkpoints/).")


@app.command()
def swap(
    run: Annotated[Path, typer.Argument(help="A run folder written by 'unweave train'.")],
    out: Annotated[
        Path | None, typer.Option(help="PNG path (default RUN/swap.png); a GIF goes beside it.")
    ] = None,
    n: Annotated[int, typer.Option(min=2, max=12, help="Clips per side of the grid.")] = 5,
    root: RootOption = None,
) -> None:
    """Swap grid: rows keep the static code of one clip, columns the dynamics of another.

    For a series run: swap.png (series decoded with another series' static code) and
    reconstruction.png. For a speech run: RUN/swaps/ with WAV files of utterances said in
    another speaker's voice (Griffin-Lim) and their spectrograms, audio-swaps.png. For a
    content/style run: swap.png (rows keep the style of one fragment, columns take the
    content of another); for notes also swap-audio/ with every swapped note as a WAV.
    """
    import torch

    from unweave.export import load
    from unweave.nn.frames import prepare_frames
    from unweave.training.run import load_run_data
    from unweave.viz.swap import pick_swap_sources, save_swap_gif, save_swap_png, swap_grid

    _check_out(out)
    model = load(run)
    test = load_run_data(run, "test", root)
    if model.modality == "series":
        _series_figures(model, test, out or run / "swap.png", n)
        return
    if model.modality == "audio":
        from unweave.viz.audio import save_audio_swaps

        paths = save_audio_swaps(model.eval(), test, out or run / "swaps", n=min(n, 6))
        typer.echo("Audio swaps:\n" + "\n".join(f"  {p}" for p in paths))
        return
    if model.modality == "fragments":
        from unweave.viz.fragments import save_fragment_swaps

        paths = save_fragment_swaps(model, test, out or run / "swap.png", n=n)
        typer.echo(f"Swap grid: {paths[0]}")
        if len(paths) > 1:
            typer.echo(f"Swapped notes: {len(paths) - 1} WAVs in {paths[1].parent}")
        return
    indices = pick_swap_sources(test, n)
    clips = prepare_frames(torch.from_numpy(test.x[indices]), model.config.image_size)
    grid = swap_grid(model, clips)
    png = save_swap_png(clips, grid, out or run / "swap.png", scale=2)
    gif = save_swap_gif(clips, grid, png.with_suffix(".gif"))
    typer.echo(f"Swap grid: {png}\nAnimated:  {gif}")


@app.command()
def traverse(
    run: Annotated[Path, typer.Argument(help="A run of an image model (dsprites, shapes3d).")],
    out: Annotated[Path | None, typer.Option(help="PNG path (default RUN/traversal.png).")] = None,
    n: Annotated[int, typer.Option(min=1, max=6, help="Images traversed side by side.")] = 3,
    root: RootOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the images drawn.")] = 0,
) -> None:
    """Latent traversals: one row per code dimension, moved from -2 to +2 around an image."""
    import numpy as np

    from unweave.export import load
    from unweave.metrics.images import model_representation
    from unweave.training.run import load_run_data
    from unweave.viz.traversal import save_traversals

    _check_out(out)
    model = load(run)
    if model.modality != "images":
        raise UnweaveError(f"{run} holds a {model.modality} model; traversals are for images.")
    data = load_run_data(run, "test", root)
    rng = np.random.default_rng(seed)
    images = data.observations_from_factors(data.sample_factors(n, rng), rng)
    spread = model_representation(model)(
        data.observations_from_factors(data.sample_factors(2000, rng), rng)
    ).std(0)
    path = save_traversals(model, images, out or run / "traversal.png", spread=spread)
    typer.echo(f"Traversals: {path}")


study_app = typer.Typer(
    help="Methods x data sets x seeds x a grid of settings on one data kind -> mean +- std "
    "over seeds.",
    invoke_without_command=True,
)
app.add_typer(study_app, name="study")


@study_app.callback()
def study(
    ctx: typer.Context,
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods, e.g. beta-vae,beta-tcvae,factor-vae.")
    ] = "beta-vae,beta-tcvae,factor-vae",
    data: Annotated[
        str,
        typer.Option(
            help="dsprites or shapes3d (classic metrics); sprites or toy-sprites (judged); "
            "comma-separated for several of one kind."
        ),
    ] = "dsprites",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    out: Annotated[
        Path | None, typer.Option(help="Study folder (default studies/DATA-PRESET).")
    ] = None,
    root: RootOption = None,
    preset: Annotated[
        str,
        typer.Option(
            help="Preset: cpu or paper; reference, cpu-reference: the authors' code where it "
            "differs."
        ),
    ] = "cpu",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting of every run, SECTION.KEY=VALUE."),
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            help="A grid axis, SECTION.KEY=V1,V2,...: every cell runs with each value; repeatable."
        ),
    ] = None,
    metric_preset: Annotated[
        str, typer.Option(help="'reference' (disentanglement_lib's samples) or 'fast'.")
    ] = "reference",
    curve_points: Annotated[
        int,
        typer.Option(
            min=0,
            help="Also score N checkpoints of each run (at 1/2^(N-1) ... 1/2 of its max_steps, "
            "and the last) and draw the scores against steps and minutes (curves/*.png); 0: "
            "none.",
        ),
    ] = 0,
    jobs: Annotated[
        int, typer.Option(min=1, help="Local engine: runs at a time (cores are shared).")
    ] = 1,
    engine: Annotated[
        str, typer.Option(help="'local' (processes here) or 'ray' (tasks on a Ray cluster).")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray: the cluster's address (ray start --head prints it); default: "
            "a Ray instance on this machine."
        ),
    ] = None,
    gpus: Annotated[float, typer.Option(min=0, help="Ray: GPUs per cell.")] = 0.0,
    group_by: Annotated[
        str | None,
        typer.Option(
            help="Table rows by these comma-separated axes: method, data, a grid "
            "key (default: every axis but the seed)."
        ),
    ] = None,
    report_only: Annotated[
        bool,
        typer.Option("--report-only", help="Train nothing: the table of the runs finished so far."),
    ] = False,
) -> None:
    """Methods x data sets x seeds x a grid of settings -> mean +- std over seeds: the
    classic metrics on a ground-truth image set; on labelled video the judge protocol, the
    probes' leakage, the training minutes and each run's swap grid. A table, a plot and every
    run's figures, written as each cell finishes. Rerun to resume where it stopped; a
    finished cell never trains again. 'unweave study OPTIONS run-cell --index N' runs one
    cell of that study (a SLURM array task)."""
    data_sets = [d.strip() for d in data.split(",") if d.strip()]
    folder = out or Path("studies") / f"{'+'.join(data_sets)}-{preset}"
    check_writable_folder(folder, "Study folder", "choose another --out")
    settings = {
        "methods": [m.strip() for m in methods.split(",") if m.strip()],
        "seeds": _integers(seeds, "--seeds"),
        "data": data_sets,
        "out": folder,
        "root": str(root) if root else None,
        "preset": preset,
        "overrides": set_ or [],
        "grid": grid or [],
        "metric_preset": metric_preset,
        "curve_points": curve_points,
    }
    if ctx.invoked_subcommand is not None:
        ctx.obj = settings  # the study its subcommand (run-cell) works on
        return
    from unweave.study import markdown, run_study

    summary = run_study(
        **settings, jobs=jobs, report_only=report_only, engine=engine, address=address,
        gpus=gpus, group_by=group_by.split(",") if group_by else None,
    )  # fmt: skip
    typer.echo(markdown(summary["table"], summary["seeds_per_method"], summary["unfinished"]))
    curves = ", curves/*.png" if curve_points else ""
    swaps = ", swaps/*.png" if "swap_grids" in summary else ""
    typer.echo(f"Written: {settings['out']}/study.json, study.md, study.png{curves}{swaps}")


@study_app.command("run-cell")
def study_run_cell(
    ctx: typer.Context,
    index: Annotated[int, typer.Option(help="The cell, 0-based (e.g. $SLURM_ARRAY_TASK_ID).")],
) -> None:
    """Run one cell of the study that the options before 'run-cell' describe, with every
    core of this machine: a scheduler's array task (SLURM, submitit). Then 'unweave study
    ... --report-only' gathers the table."""
    from unweave.study import run_cell

    typer.echo(f"Cell {index} done: {run_cell(index, **ctx.parent.obj)}")


def _check_out(out: Path | None) -> None:
    """One sentence, before any work, when ``--out`` cannot be written (its folder is a file,
    or not writable)."""
    if out is not None:
        check_writable_folder(out.parent, "The folder of --out", "choose another --out")


def _integers(text: str, option: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UnweaveError(f"{option} is '{text}'; expected comma-separated integers.") from None


def _reconstruction_path(swap_png: Path) -> Path:
    """``RUN/reconstruction.png`` beside ``RUN/swap.png``; ``NAME-reconstruction.png`` beside
    any other ``NAME.png``."""
    if swap_png.name == "swap.png":
        return swap_png.with_name("reconstruction.png")
    return swap_png.with_name(f"{swap_png.stem}-reconstruction.png")


def _series_figures(model, test, out: Path, n: int) -> None:
    """Write the static-swap and reconstruction figures of a series model."""
    import torch

    from unweave.metrics.probes import encode_series
    from unweave.viz.series import plot_reconstructions, save_static_swap

    png, rows, _ = save_static_swap(model, test, out, n)
    codes = encode_series(model, test, limit=len(rows))
    torch.manual_seed(0)  # the decoder's input noise: the same figure every time
    with torch.no_grad():
        recon = model.decode(
            torch.from_numpy(codes["static"]), torch.from_numpy(codes["dynamic"])
        ).numpy()
    rec = plot_reconstructions(
        test.x[rows], test.mask[rows], recon, list(test.feature_names), _reconstruction_path(out),
        window=getattr(model.config, "window", None), n_series=len(rows),
    )  # fmt: skip
    typer.echo(f"Static swap: {png}\nReconstructions: {rec}")


@app.command()
def probe(
    run: Annotated[Path, typer.Argument(help="A run folder written by 'unweave train'.")],
    root: RootOption = None,
    max_train: Annotated[int, typer.Option(help="Train clips used to fit the probes.")] = 5000,
) -> None:
    """Linear probes of every factor from the static and the dynamic code; writes probes.json."""
    from unweave.atomic import write_atomic
    from unweave.export import load
    from unweave.metrics.probes import (
        format_probe_table,
        format_series_probe_table,
        probe_report,
        series_probe_report,
    )
    from unweave.training.run import load_run_data

    model = load(run)
    train_data, test = load_run_data(run, "train", root), load_run_data(run, "test", root)
    if model.modality == "series":
        report = series_probe_report(model, train_data, test, max_train=max_train)
        table = format_series_probe_table(report)
    else:
        report = probe_report(model, train_data, test, max_train=max_train)
        table = format_probe_table(report, test)
    write_atomic(run / "probes.json", json.dumps(report, indent=1))
    typer.echo(table)


@app.command()
def downstream(
    run: Annotated[
        Path | None,
        typer.Argument(help="A series run folder; omit it (and give --data) for raw features."),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="etth1-ot, mortality, icu-type, month, level or family (default: all "
            "tasks of the run's data)."
        ),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="Data set of the raw-features baseline.")
    ] = None,
    root: RootOption = None,
    runs: Annotated[
        int | None, typer.Option(min=1, help="Repetitions (default: the protocol's).")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Predictor epochs (default: the protocol's).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first repetition.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="JSON file (default RUN/downstream.json).")
    ] = None,
) -> None:
    """The paper's downstream protocols on a frozen series model (or on raw features)."""
    import dataclasses

    from unweave.atomic import update_json
    from unweave.data.registry import load_data
    from unweave.downstream import (
        format_results,
        get_task,
        model_representation,
        raw_representation,
        run_task,
        tasks_for,
    )
    from unweave.export import load
    from unweave.training.run import load_run_data, read_run_config

    _check_out(out)
    if run is not None:
        model = load(run)
        if model.modality != "series":
            raise UnweaveError(f"{run} holds a {model.modality} model; downstream needs series.")
        data_name = read_run_config(run)["data"]["name"]
        represent, label = model_representation(model), f"{model.name} ({run.name})"
        train_data, test = load_run_data(run, "train", root), load_run_data(run, "test", root)
    elif data is not None:
        data_name, label = data, "raw features"
        train_data = load_data(data, "train", root)
        test = load_data(data, "test", root)
        window = {"physionet": 4}.get(data, 24)
        represent = raw_representation(window)
    else:
        raise UnweaveError("Give a run folder, or --data NAME for the raw-features baseline.")
    names = [task] if task else tasks_for(data_name)
    results = {}
    for name in names:
        spec = get_task(name, data_name)
        if epochs is not None:
            spec = dataclasses.replace(spec, epochs=epochs)
        results[f"{label} / {name}"] = run_task(spec, represent, train_data, test, runs, seed)
    path = out or (run / "downstream.json" if run is not None else None)
    if path is not None:
        note = update_json(path, {r["task"]: r for r in results.values()})
        if note:
            typer.echo(note, err=True)
    typer.echo(format_results(results))


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run folder written by 'unweave train'.")],
    metrics: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated metric groups: probes, judge, classic for video (default: "
            "all three); verification, content for speech (default: both); content_style for "
            "fragments; classic for images; probes, downstream for series (default: both)."
        ),
    ] = None,
    checkpoints: Annotated[
        str | None,
        typer.Option(
            help="Score training checkpoints instead of the exported model, each into "
            "RUN/evals/step-N.json: 'all' (every step-N.ckpt kept by "
            "train.keep_checkpoints_at, then last.ckpt), 'last', or steps such as 930,1860. "
            "Works on a run still training."
        ),
    ] = None,
    root: RootOption = None,
    niter: Annotated[int, typer.Option(min=1, help="Passes of the judge protocol.")] = 5,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch of the judge protocol.")] = 128,
    judge_epochs: Annotated[int, typer.Option(min=1, help="Epochs the judge was trained for.")] = 4,
    judge_batch_size: Annotated[
        int, typer.Option(min=1, help="Batch the judge was trained with.")
    ] = 128,
    judge_source: Annotated[
        str,
        typer.Option(
            "--judge",
            help="'trained' (by 'unweave judge train') or 'published' (the C-DSVAE/DBSE "
            "Sprites judge, by 'unweave judge import').",
        ),
    ] = "trained",
    lda_dims: Annotated[
        int | None,
        typer.Option(min=1, help="Speech: also score EERs after an LDA fitted on train speakers."),
    ] = None,
    metric_preset: Annotated[
        str,
        typer.Option(
            help="Images: 'reference' (disentanglement_lib's sample sizes; ~30 min of CPU) or "
            "'fast' (small samples)."
        ),
    ] = "reference",
    seed: Annotated[int, typer.Option(help="Seed of the metrics' random draws.")] = 0,
) -> None:
    """Evaluate a run (or its checkpoints); merges the figures into RUN/eval.json (or
    RUN/evals/step-N.json) and prints them."""
    from unweave.api import Run

    settings = {
        "niter": niter, "batch_size": batch_size, "judge_source": judge_source,
        "judge_training": {"epochs": judge_epochs, "batch_size": judge_batch_size},
        "lda_dims": lda_dims, "metric_preset": metric_preset, "seed": seed,
    }  # fmt: skip
    if checkpoints is None:
        results = Run(run).evaluate(metrics, root, **settings)
        _print_figures(results, run / "eval.json", run / "codebook.png")
        return
    for out, figure, figures in Run(run).evaluate_checkpoints(
        checkpoints, metrics, root, **settings
    ):
        step, seconds = figures.pop("step"), figures.pop("elapsed_s")
        minutes = "" if seconds is None else f", {seconds / 60:.1f} min of training"
        typer.echo(f"\nstep {step}{minutes}")
        _print_figures(figures, out, figure)


def _print_figures(results: dict[str, float], path: Path, figure: Path) -> None:
    """Print ``results`` (written to ``path``), each ``name_std`` beside its ``name``
    (``figure``: the codebook's, if drawn)."""
    if "codebook/purity" in results:
        typer.echo(f"codebook confusion matrix: {figure}")
    width = max(len(k) for k in results)
    for key, value in results.items():
        if not key.endswith("_std"):
            std = results.get(f"{key}_std")
            typer.echo(
                f"{key:<{width}}  {value:.4f}" + (f" +- {std:.4f}" if std is not None else "")
            )
    typer.echo(f"written to {path}")


@app.command()
def curve(
    runs: Annotated[
        list[Path], typer.Argument(help="Run folders scored by 'evaluate --checkpoints'.")
    ],
    metric: Annotated[
        str, typer.Option(help="A figure of RUN/evals/step-N.json, e.g. probe/static->level.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="PNG path (default FIRST_RUN/curve-METRIC.png); the JSON goes beside."),
    ] = None,
) -> None:
    """Plot a figure against training steps and minutes, one line per run (PNG + JSON)."""
    from unweave.atomic import write_atomic
    from unweave.viz.curves import curve_figure, read_curve
    from unweave.viz.plots import save_figure

    _check_out(out)
    names = [run.name for run in runs]
    labels = names if len(set(names)) == len(names) else [str(run) for run in runs]
    curves = {label: read_curve(run, metric) for label, run in zip(labels, runs, strict=True)}
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in metric)
    png = out or runs[0] / f"curve-{safe}.png"
    save_figure(curve_figure(curves, metric), png)
    table = png.with_suffix(".json")
    write_atomic(table, json.dumps({"metric": metric, "runs": curves}, indent=1))
    for label, points in curves.items():
        typer.echo(label)
        for p in points:
            minutes = "" if p["minutes"] is None else f"{p['minutes']:8.1f} min"
            typer.echo(f"  step {p['step']:>7}  {minutes}  {metric} {p['value']:.4f}")
    typer.echo(f"written to {png} and {table}")


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A run folder written by 'unweave train'.")],
    root: RootOption = None,
    out: Annotated[Path | None, typer.Option(help="HTML path (default RUN/report.html).")] = None,
) -> None:
    """One self-contained report.html: config, losses, metrics, swaps, code embeddings."""
    from unweave.report import write_report

    _check_out(out)
    typer.echo(f"Report: {write_report(run, root=root, out=out)}")


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="A run folder written by 'unweave train'.")],
    out: Annotated[Path, typer.Option(help="The folder to write (created if absent).")],
) -> None:
    """The run's model as a folder to share or upload to a model hub: config.json,
    model.safetensors and a README.md model card with the run's figures."""
    from unweave.model_card import export_folder

    folder = export_folder(run, out)
    typer.echo(f"Exported to {folder}/ (config.json, model.safetensors, README.md).")


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Two or more evaluated run folders.")],
    out: Annotated[Path | None, typer.Option(help="Bar chart PNG (default: none).")] = None,
) -> None:
    """Runs side by side: their eval.json figures as a table (and a bar chart with --out)."""
    from unweave.compare import compare_runs

    _check_out(out)
    typer.echo(compare_runs(runs, out))
    if out is not None:
        typer.echo(f"Bar chart: {out}")


DEMOS = {
    "video": ("toy-sprites", "DBSE on built-in toy sprites (4 static attributes, 9 motions)."),
    "series": (
        "synthetic-series",
        "DBSE on built-in synthetic series (static level and period, an amplitude regime per "
        "window).",
    ),
}


@app.command()
def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run folder (default runs/demo or runs/demo-series; replaced if a demo)."
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Training epochs (default: the cpu preset's).")
    ] = None,
    modality: Annotated[
        str, typer.Option(help="video (toy sprites, ~3 min) or series (synthetic, ~70 s).")
    ] = "video",
) -> None:
    """Train DBSE on built-in data (no files; ~3 min on 2 CPU cores), then swap and probe."""
    from unweave.training.config import resolve
    from unweave.training.run import read_run_config
    from unweave.training.run import train as run_training

    if modality not in DEMOS:
        raise UnweaveError(f"Unknown modality '{modality}'; expected one of: {', '.join(DEMOS)}.")
    data, headline = DEMOS[modality]
    out = out or Path("runs/demo" if modality == "video" else "runs/demo-series")
    check_writable_folder(out, "Demo folder", "choose another --out")
    if out.exists():
        previous = read_run_config(out) if (out / "config.yaml").exists() else {}
        if previous.get("data", {}).get("name") != data:
            raise UnweaveError(
                f"{out} exists and is not a {modality} demo run; choose another --out."
            )
        shutil.rmtree(out)
    start = time.time()
    typer.echo(f"unweave demo: {headline}")
    overrides = [f"train.max_epochs={epochs}"] if epochs else []
    config = resolve("dbse", data, "cpu", overrides=overrides)
    run_training(config, out)
    swap(out, None, 6 if modality == "video" else 3, None)
    probe(out, None, 2000)
    figures = (
        "swap.png and swap.gif (rows keep the look of the left clip, columns the motion of the "
        "top clip)"
        if modality == "video"
        else "swap.png (series decoded with another series' static code) and reconstruction.png"
    )
    typer.echo(
        f"\nDone in {time.time() - start:.0f} s. Outputs in {out}/: {figures}, "
        "probes.json, metrics.csv, model.safetensors."
    )


@data_app.command("list")
def data_list() -> None:
    """The data sets unweave knows and what is in the cache: each entry's size on disk; the
    temporaries of killed builds are removed (and said so), those of running builds shown."""
    from unweave.data import registry
    from unweave.data.cache import (
        COMPLETE_MARKER,
        build_temporaries,
        cache_root,
        disk_usage,
        remove_stale_builds,
    )

    for modality, what in registry.MODALITIES.items():
        typer.echo(f"{modality}: {what}")
        for name in registry.datasets_of(modality):
            entry = registry.DATASETS[name]
            where = {"none": "no files", "optional": "rendered, or read from --root"}.get(
                entry.files, f"--root {entry.root_help}"
            )
            typer.echo(f"  {name:<18} {entry.description} [{where}; {entry.licence}]")
    root = cache_root()
    typer.echo(f"Cache: {root}")
    total = 0
    for kind in sorted(p for p in root.glob("*") if p.is_dir()) if root.exists() else []:
        for path, size in remove_stale_builds(kind):
            typer.echo(f"  {kind.name}/{path.name}  {_mib(size)}  removed: left by a killed build")
        for temporary in build_temporaries(kind):
            size = disk_usage(temporary.path)
            host = f" on {temporary.host}" if temporary.host else ""
            state = (
                f"being built by process {temporary.pid}{host}"
                if temporary.live
                else "left by a killed build; could not be removed"
            )
            typer.echo(f"  {kind.name}/{temporary.path.name}  {_mib(size)}  {state}")
        for entry in sorted(p for p in kind.iterdir() if p.is_dir() and p.name[0] != "."):
            size = disk_usage(entry)
            total += size
            state = "" if (entry / COMPLETE_MARKER).exists() else "  incomplete (rebuilt on use)"
            typer.echo(f"  {kind.name}/{entry.name}  {_mib(size)}{state}")
    typer.echo(f"Cache size on disk: {_mib(total)}")


def _mib(size: int) -> str:
    """``size`` bytes in MiB, as the cache listing prints it."""
    return f"{size / 2**20:.1f} MiB"


@data_app.command("build")
def data_build(
    name: Annotated[str, typer.Argument(help="A data set of 'unweave data list'.")],
    root: RootOption = None,
) -> None:
    """Build (and cache) the data set's train and test splits, then print their sizes."""
    from unweave.data.registry import load_data

    for split in ("train", "test"):
        data = load_data(name, split, root)
        sizes = getattr(data, "factor_sizes", None)
        factors = ""
        if isinstance(sizes, dict):
            factors = "; " + ", ".join(f"{k} ({v})" for k, v in sizes.items())
        elif sizes is not None:
            named = zip(data.factor_names, sizes, strict=True)
            factors = "; " + ", ".join(f"{k} ({v})" for k, v in named)
        typer.echo(f"{name}/{split}: {len(data)} of shape {tuple(data.x.shape[1:])}{factors}")


@judge_app.command("train")
def judge_train(
    data: Annotated[
        str | None, typer.Option("--data", help="toy-sprites, sprites or frames.")
    ] = None,
    root: RootOption = None,
    run: Annotated[
        Path | None,
        typer.Option(help="Train the judge a run's evaluation needs (its data and frame size)."),
    ] = None,
    image_size: Annotated[
        int, typer.Option(help="Frame size the judge sees (a run's model.image_size).")
    ] = 64,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 4,
    batch_size: Annotated[int, typer.Option(min=1, help="Training batch size.")] = 128,
) -> None:
    """Train a judge on the labels of a data set (cached), then print its test accuracy."""
    from unweave.judges.train import train_judge
    from unweave.training.run import read_run_config

    if run is not None:
        config = read_run_config(run)
        spec, image_size = dict(config["data"]), config["model"]["image_size"]
    elif data is not None:
        spec = {"name": data, "root": None, "options": {}}
    else:
        raise UnweaveError("Name the data with --data NAME, or a run with --run RUN.")
    if root is not None:
        spec["root"] = str(root)
    folder = train_judge(spec, image_size, {"epochs": epochs, "batch_size": batch_size})
    accuracy = json.loads((folder / "judge.json").read_text())["test_accuracy"]
    typer.echo(
        f"Judge in {folder}\ntest accuracy: "
        + ", ".join(f"{k} {v:.4f}" for k, v in accuracy.items())
    )


@judge_app.command("import")
def judge_import(
    path: Annotated[Path, typer.Argument(help="The published judge: C-DSVAE's sprite_judge.tar.")],
    data: Annotated[str, typer.Option("--data", help="The data it judges: sprites.")] = "sprites",
    root: RootOption = None,
) -> None:
    """Import the published Sprites judge (keys mapped one-to-one; no pickled code runs) into
    the judge cache, then print its test accuracy; 'unweave evaluate --judge published' uses it."""
    from unweave.judges.published import import_judge

    spec = {"name": data, "root": str(root) if root else None, "options": {}}
    folder = import_judge(path, spec)
    accuracy = json.loads((folder / "judge.json").read_text())["test_accuracy"]
    typer.echo(
        f"Judge in {folder}\ntest accuracy: "
        + ", ".join(f"{k} {v:.4f}" for k, v in accuracy.items())
    )


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """An :class:`UnweaveWarning` as one ``warning:`` line on stderr; others as Python shows them."""
    if issubclass(category, UnweaveWarning):
        typer.echo(f"warning: {message}", err=True)
    else:
        _PYTHON_SHOW_WARNING(message, category, filename, lineno, file, line)


_PYTHON_SHOW_WARNING = warnings.showwarning


def main() -> None:
    """Entry point: run the app; user errors (and a full disk, a missing permission, a file in
    the way) become one line on stderr and exit status 2, unweave's warnings one line each."""
    from unweave.paths import os_error_sentence

    _quiet_library_warnings()
    warnings.filterwarnings("always", category=UnweaveWarning)  # output, even under -W ignore
    warnings.showwarning = _show_warning
    try:
        app()
    except UnweaveError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except OSError as err:
        sentence = os_error_sentence(err)
        if sentence is None:
            raise
        typer.echo(f"error: {sentence}", err=True)
        sys.exit(2)
