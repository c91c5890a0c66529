"""How every benchmark runs: under a deadline, with SIGTERM cancelling like Ctrl-C does (so the
run's `finally` blocks stop every process it started), and an exit code: 0 fine, 1 failed or
timed out, 130 interrupted."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


async def in_workdir_and_reported(args: argparse.Namespace, prefix: str, run: Callable[[argparse.Namespace], Awaitable[T]],
                                  report: Callable[[T, argparse.Namespace], str], output: Path) -> T:
    """A mode of a benchmark: `run(args)` with `args.workdir` a fresh temporary folder (removed
    afterwards, whatever happens), then its report printed and written to `output`."""
    args.workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        results = await run(args)
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)
    text = report(results, args)
    print("\n" + text)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"written to {output}")
    return results


def run_bench(name: str, run: Callable[[argparse.Namespace], Awaitable[T]], args: argparse.Namespace,
              failed: Callable[[T], bool]) -> int:
    async def bounded() -> T:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        async with asyncio.timeout(args.timeout):
            return await run(args)

    try:
        results = asyncio.run(bounded())
    except TimeoutError:
        print(f"{name}: gave up after {args.timeout:.0f} s; every process it started was stopped", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"{name}: interrupted; every process it started was stopped", file=sys.stderr)
        return 130
    return 1 if failed(results) else 0
