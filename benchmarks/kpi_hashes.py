"""Print the SHA-256 of ``kpis.json`` for the bundled sample and a generated sample.

A refactoring that must not change a number (issue 15) is checked by running this before
and after it: the hashes must be equal. The generated sample is written with the same seed
every time, so its ``kpis.json`` depends only on the code.

Usage::

    .venv/bin/python -m benchmarks.kpi_hashes [--customers 100000] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

from crmlib.report import render
from crmlib.sample import write_sample

ROOT = Path(__file__).resolve().parent.parent


def kpi_hash(data: Path, out: Path) -> tuple[str, str]:
    """Render every report of ``data`` into ``out``; return (sha256 of kpis.json, its path)."""
    result = render(data, out=out, progress=lambda m: None)
    failed = [(r.name, r.error) for r in result.notebooks if r.status != "ok"]
    if failed:
        raise SystemExit(f"{data}: reports failed: {failed}")
    path = result.folder / "kpis.json"
    return hashlib.sha256(path.read_bytes()).hexdigest(), str(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="keep the renders here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        generated = out / f"sample-{args.customers}"
        if not generated.exists():
            write_sample(generated, args.customers, seed=args.seed, fmt="parquet")
        for name, data in (("bundled sample", ROOT / "data" / "sample"), ("generated", generated)):
            digest, path = kpi_hash(data, out / f"reports-{data.name}")
            print(f"{name:>15}: sha256 {digest}  {path}")


if __name__ == "__main__":
    main()
