#!/usr/bin/env bash
# Set up ./.venv on first use (CPU PyTorch 2.13.0, then unweave with its test extras), then run:
#   scripts/dev.sh demo [ARGS]   -> unweave demo
#   scripts/dev.sh test [ARGS]   -> pytest (the whole suite, real data from ../shared/data)
#   scripts/dev.sh ARGS          -> unweave ARGS
# GPU users: install the torch build for your CUDA into the venv first; the range in
# pyproject.toml accepts it and this script will not replace it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -f .venv/.unweave-installed ] || [ pyproject.toml -nt .venv/.unweave-installed ]; then
  echo "Setting up .venv (first run only; about a minute)..." >&2
  "$PY" -m venv .venv
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -e ".[test]"
  # The note renderer: its wheel declares pyaudio (live playback, never used here), which
  # only builds from source against PortAudio, so it is installed without dependencies.
  .venv/bin/pip install -q --no-deps "tinysoundfont>=0.3.7"
  touch .venv/.unweave-installed
fi
case "${1:-}" in
  demo) shift; exec .venv/bin/unweave demo "$@" ;;
  test)
    shift
    # Chromium for the report's browser test (tests/test_report.py), from Debian's packages.
    if ! command -v chromium >/dev/null; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "Installing Chromium for the browser test..." >&2
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null
      else
        echo "warning: no chromium; install it (Debian: apt-get install chromium) or the browser test skips (fails under CI=true)" >&2
      fi
    fi
    exec .venv/bin/pytest "$@" ;;
  *) exec .venv/bin/unweave "$@" ;;
esac
