"""R3 with 2 sweepers: gates whose deadlines pass together; each escalation handler is invoked
exactly once. The sweepers are paused (SIGSTOP) while the gates are made, so that every deadline
has passed when both continue at the same moment and race over the same deadline index."""
import collections
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from harness import ScenarioError, fleet, get, must, post, put_sequence, report, wait_for

GATES = int(os.environ.get("FAULTS_R3_GATES", "10000"))
HANDLER = "faults-r3-escalate"


def run(tag):
    namespace = f"r3-{tag}"
    put_sequence({"id": "faults-r3", "name": "R3 escalation", "blocks": [
        {"id": "review", "type": "human_input", "prompt": "ok?", "timeout_seconds": 1,
         "escalation_handler": HANDLER, "choices": [{"label": "Yes", "value": "yes"}]}]})
    for sweeper in ("sweep1", "sweep2"):
        fleet("pause", sweeper)
    try:
        started = time.monotonic()
        ids = [f"r3-{tag}-{n}" for n in range(GATES)]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: post("/instances", {"sequence_id": "faults-r3", "id": i, "namespace": namespace}), ids))
        bad = [a.status for a in answers if not a.ok]
        if bad:
            raise ScenarioError(f"{len(bad)} creates failed: {sorted(set(bad))}")
        created_s = time.monotonic() - started

        def queued():
            return (get(f"/approvals?namespace={namespace}&limit=1").json() or {}).get("total") == GATES
        wait_for(queued, 300, f"{GATES} gates in the approvals queue", interval=0.5)
        time.sleep(1.5)  # every deadline (1 s) has passed
    finally:
        for sweeper in ("sweep1", "sweep2"):
            fleet("resume", sweeper)
    resumed = time.monotonic()

    # Workers serving the escalation handler: every task once, completed at once.
    per_instance = collections.Counter()
    task_ids = collections.Counter()
    lock = threading.Lock()
    last_task = [time.monotonic()]
    stop = threading.Event()

    def worker(n):
        while not stop.is_set():
            tasks = post("/workers/tasks/poll", {"handler": HANDLER, "worker_id": f"r3-w{n}", "limit": 100, "wait_ms": 1000}).json()
            for task in tasks if isinstance(tasks, list) else []:
                with lock:
                    per_instance[task.get("instance_id")] += 1
                    task_ids[task.get("task_id")] += 1
                    last_task[0] = time.monotonic()
                post(f"/workers/tasks/{task.get('task_id')}/complete", {"worker_id": f"r3-w{n}", "output": {"ok": True}})

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(4)]
    for thread in workers:
        thread.start()
    deadline = time.monotonic() + 300
    # Done when every gate was escalated and no task came for 2 lease lengths (a duplicate would).
    while time.monotonic() < deadline:
        with lock:
            complete = len(per_instance) >= GATES
            quiet = time.monotonic() - last_task[0]
        if complete and quiet > 6.0:
            break
        time.sleep(0.2)
    stop.set()
    for thread in workers:
        thread.join(timeout=5)
    escalated_s = last_task[0] - resumed

    ours = {i for i in per_instance if isinstance(i, str) and i.startswith(f"r3-{tag}-")}
    twice = [i for i in ours if per_instance[i] > 1]
    missing = GATES - len(ours)
    escalated_items = sum(1 for item in (get(f"/approvals?namespace={namespace}&limit=1000").json() or {}).get("items", [])
                          if isinstance(item, dict) and item.get("escalated_at"))
    passed = not twice and missing == 0 and not [t for t, c in task_ids.items() if c > 1]
    report("R3 2 sweepers, gates due together: one escalation each", passed, gates=GATES, sweepers=2,
           escalation_tasks=sum(per_instance[i] for i in ours), instances_escalated=len(ours), escalated_twice=len(twice),
           not_escalated=missing, items_marked_escalated_first_page=escalated_items,
           create_s=round(created_s, 1), escalate_s=round(escalated_s, 1))
