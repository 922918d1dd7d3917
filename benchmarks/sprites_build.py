"""Benchmark: build Sprites from the LPC sheets into a fresh cache; wall time and peak memory.

The build runs in a child process (fresh interpreter, ``UNWEAVE_CACHE`` set to a temporary
folder) so its peak resident memory (``ru_maxrss``) is its own. Writes
``benchmarks/results/sprites_build.json`` and prints a table.

    python benchmarks/sprites_build.py [--root ../shared/data/sprites-lpc]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "sprites-lpc"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "sprites_build.json"


def max_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MB (``ru_maxrss`` is KB on Linux, bytes on macOS)."""
    rss = resource.getrusage(who).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def folder_mb(folder: Path) -> float:
    """Total size in MB of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def child(root: Path) -> None:
    """Run in the child: import, build, reload from the cache; print one JSON line."""
    t0 = time.perf_counter()
    from unweave.data.sprites import build_sprites_from_sheets, load_sprites

    import_s = time.perf_counter() - t0
    import_rss = max_rss_mb()
    t1 = time.perf_counter()
    folder = build_sprites_from_sheets(root)
    build_s = time.perf_counter() - t1
    build_rss = max_rss_mb()
    t2 = time.perf_counter()
    train, test = load_sprites(root, "train"), load_sprites(root, "test")
    hit_s = time.perf_counter() - t2
    result = {
        "import_seconds": round(import_s, 3),
        "build_seconds": round(build_s, 3),
        "cache_hit_seconds": round(hit_s, 3),
        "import_peak_rss_mb": round(import_rss, 1),
        "build_peak_rss_mb": round(build_rss, 1),
        "n_train": len(train),
        "n_test": len(test),
        "frame_shape": [int(s) for s in train.x.shape[1:]],
        "dtype": str(train.x.dtype),
        "cache_mb": round(folder_mb(folder), 1),
    }
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="LPC sheets folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = args.root.resolve()
    if args.child:
        child(root)
        return
    if not root.is_dir():
        sys.exit(f"Sprites sheets folder {root} does not exist; pass --root.")

    with tempfile.TemporaryDirectory(prefix="unweave-bench-cache-") as cache:
        env = {**os.environ, "UNWEAVE_CACHE": cache}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", "--root", str(root)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        process_s = time.perf_counter() - t0
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(lines[-1][len("RESULT ") :])

    import numpy as np

    result.update(
        process_seconds=round(process_s, 3),
        process_peak_rss_mb=round(max_rss_mb(resource.RUSAGE_CHILDREN), 1),
        root=str(root),
        machine={
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu_count": os.cpu_count(),
        },
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")

    rows = [
        ("clips train / test", f"{result['n_train']} / {result['n_test']}"),
        ("frames per clip", " x ".join(map(str, result["frame_shape"])) + f" {result['dtype']}"),
        ("build wall time", f"{result['build_seconds']:.2f} s"),
        ("cache-hit load (both splits)", f"{result['cache_hit_seconds']:.3f} s"),
        ("child process wall time", f"{result['process_seconds']:.2f} s"),
        ("peak RSS after imports", f"{result['import_peak_rss_mb']:.0f} MB"),
        ("peak RSS after build", f"{result['build_peak_rss_mb']:.0f} MB"),
        ("cache entry on disk", f"{result['cache_mb']:.0f} MB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
