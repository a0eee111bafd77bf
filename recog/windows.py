"""Long inputs in overlapping windows: a 10-minute recording (or a very long line) is cut into windows the
model reads one batch at a time, and the output frames are stitched back into one sequence.

Each window sees `context` extra input columns on each side of the part it keeps, so every kept output frame
has the recurrent encoder's context from both directions, as if the whole input had been read at once (up to
what lies beyond the context). Window starts are multiples of the front end's stride, so window-local output
frame j is global output frame start // stride + j, and the kept parts tile the global frames exactly:

    input     |<------------------------------- length ------------------------------->|
    window 0  [=========== keep ===========|ctx]
    window 1                     [ctx|========== keep ==========|ctx]
    window 2                                                [ctx|======== keep ========]
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    start: int  # first input column
    end: int  # input columns [start, end)
    keep_start: int  # global output frames this window contributes: [keep_start, keep_end)
    keep_end: int | None  # None: to the window's last output frame (the final window)

    def first_frame(self, stride: int) -> int:
        """Global index of this window's first output frame."""
        return self.start // stride


def plan_windows(length: int, window: int, context: int, stride: int) -> list[Window]:
    """Windows covering input columns [0, length): one window if it fits, else overlapping ones.

    window and context are rounded down to multiples of stride; the step (window - 2 * context) must stay
    positive.
    """
    window, context = window // stride * stride, context // stride * stride
    step = window - 2 * context
    if step <= 0:
        raise ValueError(f"a window of {window} columns leaves nothing to keep with {context} columns of context "
                         "on each side: make the window longer than twice the context")
    if length <= window:
        return [Window(0, length, 0, None)]
    windows, start = [], 0
    while True:
        keep_start = 0 if start == 0 else (start + context) // stride
        if start + window >= length:
            windows.append(Window(start, length, keep_start, None))
            return windows
        windows.append(Window(start, start + window, keep_start, (start + window - context) // stride))
        start += step
