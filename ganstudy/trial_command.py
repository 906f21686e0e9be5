"""`ganstudy trial`: one configuration trained in this process (no Ray), its eval rows on
stdout (a table or JSON lines), a progress bar on stderr between evals (a terminal's only,
unless asked), a closing summary; on the torch threads of threads.py."""

from __future__ import annotations

import json
import os
import stat
import sys
import time

from ganstudy import trial_table
from ganstudy.config import TrialConfig
from ganstudy.messages import clip_middle, fail


def trial_command(
    config: TrialConfig, *, as_json: bool, threads: int | None, progress: bool | None
) -> int:
    """`ganstudy trial`: train `config`, print its rows (a table, or JSON lines with
    `as_json`), end with a summary. threads: None for threads.py's default; progress: the
    bar on stderr (None: when stderr is a terminal). Returns the exit status."""
    from ganstudy.engine.threads import threads_setting

    try:
        threads = threads_setting(threads)
    except ValueError as error:  # a bad GANSTUDY_THREADS
        return fail(str(error))
    from ganstudy.engine.trainer import Trainer  # torch import is slow; keep `--help` fast

    try:
        trainer = Trainer(config, threads=threads)
    except ValueError as error:
        return fail(str(error))
    if not as_json:
        print(trial_table.describe(config))
        print(trial_table.header(config))
    show = sys.stderr.isatty() if progress is None else progress
    started, printed, last = time.perf_counter(), 0, []
    with TrialProgress(trainer, show) as bar:
        for evaluation in evaluations(trainer, bar):
            for row in evaluation.rows:
                if as_json:
                    line = json.dumps({k: trial_table.json_number(v) for k, v in row.items()})
                else:
                    line = trial_table.format_row(row, config)
                bar.write(line)
                printed += 1
            last = evaluation.rows
    summary = trial_table.summary(
        last, config, seconds=time.perf_counter() - started, threads=threads, table=as_json
    )
    if as_json:  # stdout holds the rows alone; the summary says where they went
        summary.append(f"rows: {printed} JSON lines on stdout ({stdout_target()})")
    print("\n".join(summary), file=sys.stderr if as_json else sys.stdout, flush=True)
    return 0


# The progress bar's updates: a chunk of training lasts about this long. A chunk never
# spans an eval, and chunking changes nothing trained (tests/test_trial_progress.py).
CHUNK_S = 0.25


def evaluations(trainer, progress: TrialProgress):
    """trainer.run()'s evaluations (step 0 on a fresh trainer, then every eval_every, and
    the last step), training between them in chunks of about CHUNK_S so that `progress`
    hears of each chunk. Trainer.run() trains to the next eval in one call and has no hook."""
    c = trainer.config
    if not trainer.history:
        yield progress.evaluate(trainer.evaluate)
    chunk = 1
    while trainer.step < c.steps:
        next_eval = min((trainer.step // c.eval_every + 1) * c.eval_every, c.steps)
        while trainer.step < next_eval:
            steps = min(chunk, next_eval - trainer.step)
            began = time.perf_counter()
            trainer.train(steps)
            took = time.perf_counter() - began
            progress.advance(trainer.step)
            # Grow or shrink the next chunk toward CHUNK_S (at most 4x at a time).
            chunk = max(1, min(4 * chunk, round(steps * CHUNK_S / max(took, 1e-6))))
        yield progress.evaluate(trainer.evaluate)


class TrialProgress:
    """`ganstudy trial`'s progress bar (tqdm) on stderr: step, steps/s, ETA, and "eval"
    while an evaluation runs. Rows go through `write`, which keeps the bar below them on a
    terminal. Off (`show` false): rows are printed as they are, nothing else."""

    def __init__(self, trainer, show: bool):
        self.show = show
        self.bar = None
        if show:
            from tqdm import tqdm

            self.bar = tqdm(
                total=trainer.config.steps,
                initial=trainer.step,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
                leave=False,  # the summary says what the bar said
                bar_format="{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} steps "
                "[{elapsed}<{remaining}, {rate_fmt}]{postfix}",
            )

    def __enter__(self) -> TrialProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def advance(self, step: int) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)

    def evaluate(self, evaluate):
        """evaluate()'s result, with the bar saying "eval" meanwhile."""
        if self.bar is None:
            return evaluate()
        self.bar.set_postfix_str("eval", refresh=True)
        result = evaluate()
        self.bar.set_postfix_str("", refresh=False)
        return result

    def write(self, line: str) -> None:
        if self.bar is None:
            print(line, flush=True)
        else:
            self.bar.write(line, file=sys.stdout)
            sys.stdout.flush()


def stdout_target() -> str:
    """Where stdout goes, in words: a file's path, "a pipe", "this terminal"."""
    try:
        if sys.stdout.isatty():
            return "this terminal"
        mode = os.fstat(sys.stdout.fileno()).st_mode
        if stat.S_ISFIFO(mode):
            return "a pipe"
        if stat.S_ISREG(mode):
            return clip_middle(os.readlink(f"/proc/self/fd/{sys.stdout.fileno()}"))
    except (OSError, ValueError, AttributeError):  # no /proc, or stdout is no file (tests)
        pass
    return "redirected"
