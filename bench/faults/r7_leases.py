"""R7 on separate processes: a worker killed (-9) mid-task, and a runner killed (-9) mid-step.
The worker's task is handed out again with attempt + 1 and the latest checkpoint; the dead worker's
late completion gets 409 and changes nothing. The runner's instance is taken over by the other
runner once its lease expires, and its step's output is recorded once."""
import os
import signal
import subprocess
import sys
import time

from harness import LEASE_MS, ScenarioError, fleet, start_held_step, get, must, post, put_sequence, report, wait_for
from step_server import StepServer

HANDLER = "faults-r7-work"


def outputs_of(instance_id):
    return get(f"/instances/{instance_id}/outputs").json() or []


def worker_killed(tag):
    put_sequence({"id": "faults-r7-worker", "name": "R7 worker", "blocks": [
        {"id": "work", "type": "step", "handler": HANDLER, "retry": {"max_attempts": 3}}]})
    instance_id = f"r7-{tag}-worker"
    holder = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "lease_holder.py"), HANDLER, "r7-dying"],
                              stdout=subprocess.PIPE, text=True)
    try:
        must(post("/instances", {"sequence_id": "faults-r7-worker", "id": instance_id}), "POST /instances")
        line = holder.stdout.readline()
        if not line:
            raise ScenarioError("the worker took no task")
        import json
        first = json.loads(line)["task"]
    finally:
        holder.send_signal(signal.SIGKILL)   # the process this scenario started, by its PID
        holder.wait(timeout=10)
    killed_at = time.monotonic()

    def handed_out_again():
        tasks = post("/workers/tasks/poll", {"handler": HANDLER, "worker_id": "r7-second", "limit": 1, "wait_ms": 1000}).json()
        return tasks[0] if isinstance(tasks, list) and tasks else None
    second = wait_for(handed_out_again, LEASE_MS / 1000 * 4 + 10, "task handed out again")
    again_after = time.monotonic() - killed_at
    stale = post(f"/workers/tasks/{first['task_id']}/complete", {"worker_id": "r7-dying", "output": {"by": "dead worker"}})
    after_stale = outputs_of(instance_id)
    done = post(f"/workers/tasks/{second['task_id']}/complete", {"worker_id": "r7-second", "output": {"by": "second worker"}})
    wait_for(lambda: (get(f"/instances/{instance_id}").json() or {}).get("state") == "completed", 20, "instance completed")
    outputs = [o for o in outputs_of(instance_id) if o.get("block_id") == "work"]
    checkpoint = (second.get("latest_checkpoint") or {}).get("checkpoint_data")
    passed = (second.get("instance_id") == instance_id and second.get("attempt") == first.get("attempt", 0) + 1
              and checkpoint == {"cursor": 42} and stale.status == 409 and not after_stale and done.status == 200
              and len(outputs) == 1 and outputs[0].get("output") == {"by": "second worker"})
    report("R7 worker kill -9 mid-task", passed, first_attempt=first.get("attempt"), second_attempt=second.get("attempt"),
           latest_checkpoint=checkpoint, handed_out_again_s=round(again_after, 1), stale_complete_status=stale.status,
           outputs_after_stale=len(after_stale), complete_status=done.status, outputs=len(outputs))


def runner_killed(tag, server):
    instance_id = f"r7-{tag}-runner"
    victim = start_held_step(server, "faults-r7-runner", "R7 runner", instance_id)
    fleet("kill", victim)
    killed_at = time.monotonic()
    calls = server.wait_calls(instance_id, 2, LEASE_MS / 1000 * 4 + 10)
    taken_over_after = time.monotonic() - killed_at
    server.let_go(instance_id)
    wait_for(lambda: (get(f"/instances/{instance_id}").json() or {}).get("state") == "completed", 20, "instance completed")
    fleet("start", victim)
    outputs = [o for o in outputs_of(instance_id) if o.get("block_id") == "call"]
    body = (outputs[0].get("output") or {}).get("body") if outputs else None
    passed = bool(calls) and len(calls) == 2 and calls[1][0] not in (None, victim) and len(outputs) == 1 and body == {"hit": 2}
    report("R7 runner kill -9 mid-step", passed, killed=victim, step_calls=[c[0] for c in calls or []],
           taken_over_s=round(taken_over_after, 1), outputs=len(outputs), output_body=body)


def run(tag):
    worker_killed(tag)
    server = StepServer()
    try:
        runner_killed(tag, server)
    finally:
        server.close()
