"""The prove job works one window of ``concurrency`` problems at a time (both arms), reading its work lazily."""

import asyncio

from .prove_worker import make_job


def test_attempts_run_in_bounded_windows(coq, store, tmp_path):
    job = make_job(str(tmp_path / "out"), store, coq, n=5, attempts=1, concurrency=2, evolve_every=0)
    state = {"in_flight": 0, "max": 0, "started": []}
    inner = job._attempt

    async def counted(arm, attempt, problem):
        state["in_flight"] += 1
        state["max"] = max(state["max"], state["in_flight"])
        state["started"].append((problem.name, state["in_flight"]))
        try:
            return await inner(arm, attempt, problem)
        finally:
            state["in_flight"] -= 1

    job._attempt = counted
    st = asyncio.run(job.run())
    assert st.done == st.total == 10 and st.errors == 0
    assert state["max"] == 4  # 2 problems x 2 arms, never more
    # windows: q0,q1 together, then q2,q3, then q4 alone (a window starts when the last one ended)
    names = [n for n, _ in state["started"]]
    assert sorted(names[:4]) == ["q0", "q0", "q1", "q1"] and sorted(names[4:8]) == ["q2", "q2", "q3", "q3"]
    assert names[8:] == ["q4", "q4"] and state["started"][8][1] == 1
