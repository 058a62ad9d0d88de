"""A network stall: the runner in the middle of a step is stopped (SIGSTOP) for longer than its
lease, the other runner takes the instance over and finishes it, then the stopped one continues
(SIGCONT) with its step's answer in hand. Its late commit is fenced: the step's output is the
second runner's, recorded once; the instance completed once."""
import time

from harness import LEASE_MS, StreamReader, fleet, start_held_step, get, report, wait_for
from step_server import StepServer


def run(tag):
    server = StepServer()
    try:
        instance_id = f"stall-{tag}"
        stalled = start_held_step(server, "faults-stall", "stall", instance_id,
                                  after=[{"id": "after", "type": "step", "handler": "noop"}])
        fleet("pause", stalled)
        paused_at = time.monotonic()
        try:
            calls = server.wait_calls(instance_id, 2, LEASE_MS / 1000 * 4 + 10)
            wait_for(lambda: (get(f"/instances/{instance_id}").json() or {}).get("state") == "completed", 20, "completed by the other runner")
            server.let_go(instance_id)   # the stalled runner's answer waits in its socket
            time.sleep(0.2)
        finally:
            fleet("resume", stalled)
        paused_s = time.monotonic() - paused_at
        time.sleep(3.0)   # the continued runner commits (and is refused) or gives up
        outputs = [o for o in (get(f"/instances/{instance_id}/outputs").json() or []) if o.get("block_id") == "call"]
        body = (outputs[0].get("output") or {}).get("body") if outputs else None
        reader = StreamReader(instance_id, deadline_s=20)
        reader.run()
        call_outputs = sum(1 for _, e, d in reader.events if e == "output" and '"block_id":"call"' in d.replace(" ", ""))
        completions = sum(1 for _, e, d in reader.events if e == "state" and '"completed"' in d)
        state = (get(f"/instances/{instance_id}").json() or {}).get("state")
        passed = (calls is not None and len(calls) == 2 and calls[1][0] not in (None, stalled) and len(outputs) == 1
                  and body == {"hit": 2} and call_outputs == 1 and completions == 1 and state == "completed")
        report("Stall: SIGSTOP a runner past its lease, SIGCONT -> fenced", passed, stalled=stalled,
               lease_ms=LEASE_MS, paused_s=round(paused_s, 1), step_calls=[c[0] for c in calls or []],
               outputs=len(outputs), output_body=body, output_events=call_outputs, completed_events=completions, state=state)
    finally:
        server.close()
