"""Progress of long runs on stderr: a bar on a terminal, a line per 10 % otherwise.

One class for every command that waits on many pieces of work (run, sweep, campaign,
calibrate, validate), so they all report alike.
"""

from __future__ import annotations

import sys
import time


class Progress:
    """Pieces of work done out of `total` (replications, emulator cells, nights...).

    `initial` counts what was done before this run (a resumed sweep); `timed` adds the seconds
    since the start to each line.
    """

    def __init__(
        self,
        total: int,
        *,
        enabled: bool = True,
        label: str = "replications",
        initial: int = 0,
        unit: str = "rep",
        timed: bool = False,
    ) -> None:
        self.total = total
        self.done = initial
        self.enabled = enabled and total > 0
        self.label = label
        self.timed = timed
        self._bar = None
        self._next_decile = initial * 10 // total + 1 if total > 0 else 1
        self._start = time.perf_counter()
        if self.enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                unit=unit,
                desc=label,
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )

    def update(self, count: int = 1) -> None:
        """Count `count` more pieces done."""
        self.done += count
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(count)
            return
        decile = self.done * 10 // self.total
        if decile >= self._next_decile:
            elapsed = f", {time.perf_counter() - self._start:.0f} s" if self.timed else ""
            print(
                f"{self.label}: {self.done}/{self.total} ({100 * self.done // self.total} %"
                f"{elapsed})",
                file=sys.stderr,
                flush=True,
            )
            self._next_decile = decile + 1

    def close(self) -> None:
        """Remove the bar (lines already printed stay)."""
        if self._bar is not None:
            self._bar.close()
