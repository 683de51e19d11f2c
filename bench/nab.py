"""NAB score of a detector (prints figures; not a test).

Runs ``detect-file``'s logic (:func:`villagewatch.detect.filerun.run_file`) over every
NAB file in ``../shared/data/nab/data`` and scores the results with
``../shared/tools/nab_score.py`` (NAB's rules: one threshold per profile for the
whole set). Besides the full set it scores two halves of it, every other file in
name order, so a change tuned to one half can be checked on the other.

    .venv/bin/python bench/nab.py                       # anomaly, full set and halves
    .venv/bin/python bench/nab.py --detector sensor_health --no-halves
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from villagewatch.detect.filerun import run_file

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
NAB = SHARED / "data" / "nab"
SCORER = SHARED / "tools" / "nab_score.py"


def run_all(detector: str, keys: list[str], out: Path) -> tuple[int, float]:
    """Write ``out/<category>/<name>.csv`` for every key; rows and seconds taken."""
    rows, started = 0, time.perf_counter()
    for key in keys:
        target = out / key
        target.parent.mkdir(parents=True, exist_ok=True)
        rows += run_file(detector, None, NAB / "data" / key, target).rows
    return rows, time.perf_counter() - started


def score(results: Path, labels: dict[str, list[list[str]]], keys: list[str]) -> dict[str, float]:
    """The three profiles' normalised scores of ``keys`` (nab_score.py's JSON line)."""
    subset = results / "labels.json"
    subset.write_text(json.dumps({k: labels[k] for k in keys}))
    done = subprocess.run(
        [sys.executable, str(SCORER), str(results), str(subset)],
        capture_output=True,
        text=True,
        check=True,
    )
    scores: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return scores


def main() -> None:
    """Run, score and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="anomaly")
    parser.add_argument("--no-halves", action="store_true", help="Score the full set only.")
    args = parser.parse_args()
    labels = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    keys = sorted(labels)
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp)
        rows, seconds = run_all(args.detector, keys, results)
        print(f"{args.detector}: {len(keys)} files, {rows} rows in {seconds:.1f} s")
        sets = {"full set": keys}
        if not args.no_halves:
            sets |= {"half A": keys[0::2], "half B": keys[1::2]}
        print(f"{'set':10} {'files':>5} {'standard':>9} {'low FP':>7} {'low FN':>7}")
        for name, subset in sets.items():
            s = score(results, labels, subset)
            print(
                f"{name:10} {len(subset):5d} {s['standard']:9.2f} "
                f"{s['reward_low_FP_rate']:7.2f} {s['reward_low_FN_rate']:7.2f}"
            )


if __name__ == "__main__":
    main()
