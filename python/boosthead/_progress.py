"""Runs a fit on a worker thread so that Python sees each stage as it ends.

A TorchScript custom class cannot call into Python, but its methods release the GIL: the fit runs
on a thread while this one waits for finished stages, prints progress and calls the user's
callback, whose verdict the fit waits for; when it returns False (or on Ctrl-C, or when the
callback raises) the trainer stops after that stage.
"""

import sys
import threading
import time

# How long one wait for the next stage lasts before the worker's liveness is checked again.
_POLL_SECONDS = 0.1


def run_fit(trainer, x, y, x_valid, y_valid, verbose=0, callback=None, metric="metric"):
    """trainer.fit_tabular(...) with per-stage progress; returns its summary."""
    if not verbose and callback is None:
        return trainer.fit_tabular(x, y, x_valid, y_valid)

    outcome = {}

    def work():
        try:
            outcome["summary"] = trainer.fit_tabular(x, y, x_valid, y_valid)
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e

    planned = int(trainer.options()["stages"])
    every = 1 if verbose >= 2 else max(1, planned // 20)
    reporter = _Reporter(planned, every, metric) if verbose else None
    # With a callback, each stage waits for its verdict (the fit is paused meanwhile).
    trainer.set_lockstep(callback is not None)
    worker = threading.Thread(target=work, name="boosthead-fit", daemon=True)
    worker.start()
    seen = 0
    try:
        while True:
            finished = not worker.is_alive()
            records = trainer.progress(seen, _POLL_SECONDS)
            if not records and not finished:
                worker.join(0.01)  # the fit has not begun its first stage yet
            for record in records:
                seen += 1
                record = dict(record, planned_stages=planned)
                if reporter:
                    reporter.stage(record)
                keep_going = callback is None or callback(record) is not False
                trainer.acknowledge(seen, keep_going)
            if finished:
                break
    except BaseException:
        trainer.request_stop()
        worker.join()
        raise
    finally:
        trainer.set_lockstep(False)
    if "error" in outcome:
        raise outcome["error"]
    if reporter:
        reporter.done(outcome["summary"])
    return outcome["summary"]


class _Reporter:
    def __init__(self, planned, every, metric):
        self.planned, self.every, self.metric = planned, every, metric
        self.start = time.perf_counter()

    def stage(self, r):
        if r["stage"] % self.every and r["stage"] != self.planned:
            return
        line = f"stage {r['stage']}/{self.planned}  train loss {r['train_loss']:.5g}"
        if r["valid_loss"] is not None:
            line += f"  valid loss {r['valid_loss']:.5g}  valid {self.metric} {r['valid_metric']:.4f}"
        rate = r["stage"] / max(r["seconds"], 1e-9)
        line += f"  {rate:.1f} stages/s"
        print(line, file=sys.stdout, flush=True)

    def done(self, summary):
        line = f"fit: {summary['num_stages']} stages"
        if summary["stop_reason"] != "completed":
            line += f", stopped: {summary['stop_reason']}"
        print(line + f", {summary['fit_seconds']:.2f} s", file=sys.stdout, flush=True)
