"""R1: 200 SSE clients through nginx on running instances; kill -9 one API node mid-stream. Every
client reconnects with Last-Event-ID and receives every event exactly once, in order."""
import time

from harness import API_NODES, StreamReader, compare_streams, fleet, must, post, put_sequence, report

CLIENTS = 200
STEPS = 16        # sleep steps of 250 ms: each instance runs ~6 s and writes ~50 events
VICTIM = "api2"


def run(tag):
    put_sequence({"id": "faults-r1", "name": "R1 stream", "blocks": [
        {"id": f"s{n}", "type": "step", "handler": "sleep", "params": {"ms": 250}} for n in range(STEPS)]})
    ids = [f"r1-{tag}-{n}" for n in range(CLIENTS)]
    readers = [StreamReader(i, deadline_s=120) for i in ids]
    started = time.monotonic()
    for instance_id, reader in zip(ids, readers):
        must(post("/instances", {"sequence_id": "faults-r1", "id": instance_id}), "POST /instances")
        reader.start()
    time.sleep(2.0)
    streaming_before_kill = sum(1 for r in readers if r.events)
    running_at_kill = sum(1 for r in readers if not r.finished)
    fleet("kill", VICTIM)
    for reader in readers:
        reader.join(timeout=max(1.0, 150 - (time.monotonic() - started)))
    elapsed = time.monotonic() - started
    finished = sum(1 for r in readers if r.finished)
    reconnected = sum(1 for r in readers if r.connections > 1)
    mismatched = compare_streams(readers, API_NODES["api1"])
    events = sum(len(r.events) for r in readers)
    passed = finished == CLIENTS and not mismatched and reconnected > 0 and streaming_before_kill == CLIENTS and running_at_kill == CLIENTS
    report("R1 kill -9 API node under 200 SSE clients", passed, clients=CLIENTS, killed=VICTIM,
           streaming_at_kill=streaming_before_kill, running_at_kill=running_at_kill, finished=finished, reconnected=reconnected,
           events=events, mismatched=len(mismatched), examples=mismatched[:3], seconds=round(elapsed, 1))
