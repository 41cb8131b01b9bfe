"""Running the job grid on a local process pool, with one progress bar per stage."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait

from tqdm import tqdm

from banana_grasp.agents.learners.training import TrainRun
from banana_grasp.agents.run.jobs import EvalJob, run_eval_job, run_train_job


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _result(future: Future, job: TrainRun | EvalJob, pool: ProcessPoolExecutor):
    """A job's result; if it failed, let running jobs finish (and save), drop queued ones, raise."""
    try:
        return future.result()
    except Exception as error:
        pool.shutdown(wait=True, cancel_futures=True)
        raise RuntimeError(f"{job.label} failed: {error!r}; finished jobs are saved, run again to resume") from error


def run_grid(train: list[TrainRun], evaluate: list[EvalJob], workers: int, progress: bool = True) -> None:
    """Run the training jobs, then the evaluation jobs, on ``workers`` processes; jobs already
    done are skipped."""
    pending_train = [j for j in train if not j.is_done()]
    pending_eval = [j for j in evaluate if not j.is_done()]
    done = {j.label: j.done_steps() for j in train}
    jobs_steps = {j.label: j.steps for j in train}
    bar = tqdm(total=sum(j.steps for j in train), initial=sum(done.values()), unit="step", desc="training",
               disable=not progress, dynamic_ncols=True, smoothing=0.05)  # fmt: skip
    if progress:
        tqdm.write(f"{len(train)} training jobs ({len(train) - len(pending_train)} already done), {len(evaluate)} "
                   f"evaluation jobs ({len(evaluate) - len(pending_eval)} already done), {workers} workers")  # fmt: skip
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(workers, mp_context=context) as pool:
        queue = manager.Queue()
        futures = {pool.submit(run_train_job, job, queue): job for job in pending_train}
        running: set[str] = set()
        finished_count = len(train) - len(pending_train)
        while futures:
            finished, _ = wait(futures, timeout=1.0, return_when=FIRST_COMPLETED)
            while not queue.empty():
                label, steps = queue.get()
                steps = min(steps, jobs_steps[label])  # the last rollout may overshoot the budget
                bar.update(max(0, steps - done[label]))
                done[label] = max(done[label], steps)
                running.add(label)
            for future in finished:
                job = futures.pop(future)
                _result(future, job, pool)
                bar.update(job.steps - done[job.label])
                done[job.label] = job.steps
                running.discard(job.label)
                finished_count += 1
            bar.set_postfix_str(f"{finished_count}/{len(train)} done; running: {', '.join(sorted(running))}")
        bar.close()
        eval_bar = tqdm(total=len(evaluate), initial=len(evaluate) - len(pending_eval), unit="job",
                        desc="evaluating", disable=not progress, dynamic_ncols=True)  # fmt: skip
        futures = {pool.submit(run_eval_job, job): job for job in pending_eval}
        for future in as_completed(futures):
            _result(future, futures[future], pool)
            eval_bar.update(1)
        eval_bar.close()
