"""Rolling restart: SIGTERM each API node in turn (then start it again) under load through nginx:
creates, reads, decisions, checkpoints and SSE streams. Zero failed requests seen by the clients,
zero lost events (every stream gets each event exactly once, in order)."""
import itertools
import threading
import time

from harness import (API_NODES, StreamReader, compare_streams, fleet, get, post, put_sequence, report,
                     wait_terminal)

GATE = {"id": "faults-roll-gate", "name": "rolling gate", "blocks": [
    {"id": "review", "type": "human_input", "prompt": "ok?", "store_as": "decision",
     "choices": [{"label": "Approve", "value": "approved"}]},
    {"id": "after", "type": "step", "handler": "noop"}]}
STREAMED = {"id": "faults-roll-stream", "name": "rolling stream", "blocks": [
    {"id": f"s{n}", "type": "step", "handler": "sleep", "params": {"ms": 300}} for n in range(12)]}


def run(tag):
    put_sequence(GATE)
    put_sequence(STREAMED)
    stop = threading.Event()
    lock = threading.Lock()
    answers = []           # (what, status)
    created = []
    readers = []
    counter = itertools.count()

    def record(what, response):
        with lock:
            answers.append((what, response.status, response.body[:200] if not response.ok else b""))

    def creator():
        while not stop.is_set():
            n = next(counter)
            instance_id = f"roll-{tag}-{n}"
            response = post("/instances", {"sequence_id": GATE["id"], "id": instance_id})
            record("create", response)
            if response.ok:
                with lock:
                    created.append(instance_id)

    def streamer():
        while not stop.is_set():
            instance_id = f"roll-{tag}-s{next(counter)}"
            response = post("/instances", {"sequence_id": STREAMED["id"], "id": instance_id})
            record("create", response)
            if response.ok:
                reader = StreamReader(instance_id, deadline_s=120)
                reader.start()
                with lock:
                    readers.append(reader)
            time.sleep(0.1)

    taken = [0]   # created[:taken] are handled (each instance by one toucher only)

    def toucher():
        while not stop.is_set():
            with lock:
                pending = created[taken[0]:taken[0] + 1]
                taken[0] += len(pending)
                decided = taken[0]
            if not pending:
                time.sleep(0.01)
                continue
            instance_id = pending[0]
            record("read", get(f"/instances/{instance_id}"))
            record("checkpoint", post(f"/instances/{instance_id}/checkpoints", {"checkpoint_data": {"n": decided}}))
            record("decide", post(f"/instances/{instance_id}/signals",
                                  {"signal_type": "human_input:review", "payload": {"decision": "approved"}}))

    threads = [threading.Thread(target=t, daemon=True) for t in (creator, creator, streamer, toucher, toucher)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    started = time.monotonic()
    restarts = {}
    for node in API_NODES:
        began = time.monotonic()
        fleet("stop", node)
        stopped = time.monotonic() - began
        fleet("start", node)
        restarts[node] = {"stop_s": round(stopped, 2), "back_s": round(time.monotonic() - began, 2)}
        time.sleep(1.0)
    rolled_s = time.monotonic() - started
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    with lock:
        streams = list(readers)
    wait_terminal([r.instance_id for r in streams], 90)
    for reader in streams:
        reader.join(timeout=30)
    mismatched = compare_streams(streams, API_NODES["api1"])
    unfinished = sum(1 for r in streams if not r.finished)
    failed = [a for a in answers if not 200 <= a[1] < 300]
    reconnected = sum(1 for r in streams if r.connections > 1)
    passed = not failed and not mismatched and unfinished == 0 and reconnected > 0
    report("Rolling restart of the API nodes under load", passed, requests=len(answers), failed_requests=len(failed),
           failures=[(w, s, b.decode(errors="replace")) for w, s, b in failed[:3]], streams=len(streams),
           streams_reconnected=reconnected, stream_mismatches=len(mismatched), streams_unfinished=unfinished,
           restarts=restarts, rolled_s=round(rolled_s, 1))
