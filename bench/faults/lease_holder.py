"""A worker process that takes one task, saves a checkpoint, prints the task as one JSON line and
then holds it without heartbeats until it is killed (R7: a worker that dies mid-task).
Usage: lease_holder.py HANDLER WORKER_ID"""
import json
import sys
import time

from harness import post

handler, worker_id = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    tasks = post("/workers/tasks/poll", {"handler": handler, "worker_id": worker_id, "limit": 1, "wait_ms": 5000}).json()
    if isinstance(tasks, list) and tasks:
        task = tasks[0]
        saved = post(f"/instances/{task['instance_id']}/checkpoints", {"checkpoint_data": {"cursor": 42}})
        print(json.dumps({"task": task, "checkpoint_status": saved.status}), flush=True)
        time.sleep(600)
sys.exit(1)
