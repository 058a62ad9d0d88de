"""Rolling restart: SIGTERM each API node in turn (then start it again) under load through nginx:
creates, reads, decisions, checkpoints and SSE streams.

Pass/fail: the procedure of `deploy/fleet restart` (the node out of nginx's upstream list first,
SIGTERM once nginx has nothing in flight on it, back in once ready): zero failed requests seen by
the clients, zero lost events (every stream gets each event exactly once, in order).

For the record (INFO, not pass/fail): the same load and the same SIGTERMs without the balancer
step. nginx's health checks are passive, so a request it sends on a pooled connection as the
stopping node closes it is reset, and nginx does not re-send a POST it already sent (502)."""
import itertools
import threading
import time

from harness import (API_NODES, NginxErrorLog, StreamReader, compare_streams, fleet, get, note, post, put_sequence,
                     report, wait_terminal)

GATE = {"id": "faults-roll-gate", "name": "rolling gate", "blocks": [
    {"id": "review", "type": "human_input", "prompt": "ok?", "store_as": "decision",
     "choices": [{"label": "Approve", "value": "approved"}]},
    {"id": "after", "type": "step", "handler": "noop"}]}
STREAMED = {"id": "faults-roll-stream", "name": "rolling stream", "blocks": [
    {"id": f"s{n}", "type": "step", "handler": "sleep", "params": {"ms": 300}} for n in range(12)]}


def restart_out_of_balancer(node):
    fleet("restart", node)


def restart_sigterm_only(node):
    fleet("stop", node)
    fleet("start", node)


def under_load(tag, restart):
    """The mixed load through nginx while `restart` is applied to each API node in turn."""
    stop = threading.Event()
    lock = threading.Lock()
    answers = []           # (what, status)
    created = []
    readers = []
    counter = itertools.count()
    errors = NginxErrorLog()

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
        restart(node)
        restarts[node] = round(time.monotonic() - began, 2)
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
    failed = [a for a in answers if not 200 <= a[1] < 300]
    return {
        "requests": len(answers),
        "failed": failed,
        "streams": streams,
        "mismatched": compare_streams(streams, API_NODES["api1"]),
        "unfinished": sum(1 for r in streams if not r.finished),
        "reconnected": sum(1 for r in streams if r.connections > 1),
        "restart_s": restarts,
        "rolled_s": round(rolled_s, 1),
        "upstream_errors": errors.counts(),
    }


def figures(result):
    return {"requests": result["requests"], "failed_requests": len(result["failed"]),
            "failures": [(w, s, b.decode(errors="replace")[:80]) for w, s, b in result["failed"][:3]],
            "streams": len(result["streams"]), "streams_reconnected": result["reconnected"],
            "stream_mismatches": len(result["mismatched"]), "streams_unfinished": result["unfinished"],
            "restart_s": result["restart_s"], "rolled_s": result["rolled_s"],
            "nginx_upstream_errors": result["upstream_errors"]}


def run(tag):
    put_sequence(GATE)
    put_sequence(STREAMED)
    result = under_load(tag, restart_out_of_balancer)
    passed = (not result["failed"] and not result["mismatched"] and result["unfinished"] == 0
              and result["reconnected"] > 0)
    report("Rolling restart of the API nodes under load (deploy/fleet restart: out of nginx, SIGTERM, back)",
           passed, **figures(result))
    measured = under_load(f"{tag}t", restart_sigterm_only)
    note("Rolling restart, SIGTERM only (no balancer step): what clients see without it", **figures(measured))
