"""R2: Redis restarted (AOF everysec) under a mixed load of creates, decisions, checkpoints and
streams. Processes reconnect by themselves within 2 s; every write answered 2xx is still there after
the restart; requests during the outage get 503 within the Redis timeout, none hangs; a stream opened
after the restart gets its events in < 25 ms."""
import itertools
import threading
import time
import urllib.parse

from harness import (API_NODES, REDIS_TIMEOUT_MS, StreamReader, ScenarioError, compare_streams, fleet, get, must,
                     post, put_sequence, report, wait_for, wait_terminal)

GATE = {"id": "faults-r2-gate", "name": "R2 gate", "blocks": [
    {"id": "review", "type": "human_input", "prompt": "ok?", "store_as": "decision",
     "choices": [{"label": "Approve", "value": "approved"}, {"label": "Reject", "value": "rejected"}]},
    {"id": "after", "type": "step", "handler": "noop"}]}
QUICK = {"id": "faults-r2-quick", "name": "R2 quick", "blocks": [{"id": "only", "type": "step", "handler": "noop"}]}
OUTAGE_S = 1.5
SLACK_S = 0.5   # scheduling noise on a busy 2-core machine, on top of SLUICE_REDIS_TIMEOUT_MS


class Load:
    """Writers that run until stopped and record every answer: (kind, key, status, sent, seconds)."""

    def __init__(self, tag):
        self.tag = tag
        self.stop = threading.Event()
        self.answers = []
        self.lock = threading.Lock()
        self.created = []          # ids answered 2xx, in order
        self.counter = itertools.count()
        self.readers = []
        self.unexpected = []       # (kind, status, body) of answers neither 2xx nor 503

    def record(self, kind, key, response, sent):
        if response.status not in (0, 503) and not response.ok:
            self.unexpected.append((kind, response.status, response.body[:300].decode(errors="replace")))
        with self.lock:
            self.answers.append((kind, key, response.status, sent, response.seconds, response.json() if response.ok else None))

    def creator(self):
        while not self.stop.is_set():
            instance_id = f"r2-{self.tag}-{next(self.counter)}"
            sent = time.monotonic()
            response = post("/instances", {"sequence_id": GATE["id"], "id": instance_id, "context": {"n": 1}})
            self.record("create", instance_id, response, sent)
            if response.ok:
                with self.lock:
                    self.created.append(instance_id)
                    if len(self.created) % 10 == 0 and len(self.readers) < 40:
                        reader = StreamReader(instance_id, deadline_s=90)
                        self.readers.append(reader)
                        reader.start()

    def pick(self, offset):
        with self.lock:
            return self.created[-offset] if len(self.created) >= offset else None

    def decider(self):
        decided = set()
        while not self.stop.is_set():
            instance_id = self.pick(5)
            if instance_id is None or instance_id in decided:
                time.sleep(0.01)
                continue
            decided.add(instance_id)
            sent = time.monotonic()
            response = post(f"/instances/{instance_id}/signals",
                            {"signal_type": "human_input:review", "payload": {"decision": "approved"}})
            self.record("decide", instance_id, response, sent)

    def checkpointer(self):
        while not self.stop.is_set():
            instance_id = self.pick(2)
            if instance_id is None:
                time.sleep(0.01)
                continue
            sent = time.monotonic()
            response = post(f"/instances/{instance_id}/checkpoints", {"checkpoint_data": {"at": sent}})
            self.record("checkpoint", instance_id, response, sent)

    def start(self):
        self.threads = [threading.Thread(target=t, daemon=True) for t in
                        (self.creator, self.creator, self.decider, self.checkpointer)]
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def verify_durable(answers):
    """Every 2xx write is visible now: instance, decision, checkpoint. Returns the missing ones."""
    missing = []
    for kind, key, status, _, _, body in answers:
        if not 200 <= status < 300:
            continue
        path = f"/instances/{urllib.parse.quote(key)}"
        if kind == "create":
            if get(path).status != 200:
                missing.append((kind, key))
        elif kind == "decide":
            instance = get(path).json() or {}
            decisions = instance.get("decisions")
            present = isinstance(decisions, list) and any(d.get("block_id") == "review" for d in decisions if isinstance(d, dict)) \
                or isinstance(decisions, dict) and "review" in decisions
            if not present:
                missing.append((kind, key))
        elif kind == "checkpoint":
            checkpoint_id = (body or {}).get("id")
            if not checkpoint_id or get(f"{path}/checkpoints/{checkpoint_id}").status != 200:
                missing.append((kind, key))
    return missing


def wake_latency(tag, trials=5):
    """A stream opened now: from sending the deciding signal to the stream's next event, per trial."""
    latencies = []
    for n in range(trials):
        instance_id = f"r2-{tag}-wake-{n}"
        must(post("/instances", {"sequence_id": GATE["id"], "id": instance_id}), "POST /instances (wake)")
        wait_for(lambda: (get(f"/instances/{instance_id}").json() or {}).get("state") == "waiting", 20, "gate reached")
        reader = StreamReader(instance_id, deadline_s=30)
        reader.start()
        wait_for(lambda: any(e == "state" and '"waiting"' in d for _, e, d in list(reader.events)), 10, "history replayed")
        time.sleep(0.2)   # the stream is now idle, parked on its wake-up
        seen = len(reader.events)
        sent = time.monotonic()
        must(post(f"/instances/{instance_id}/signals", {"signal_type": "human_input:review", "payload": {"decision": "approved"}}), "decide (wake)")
        wait_for(lambda: len(reader.arrivals) > seen, 10, "event after decision", interval=0.001)
        latencies.append(round((reader.arrivals[seen] - sent) * 1000, 1))
        reader.join(timeout=20)
    return latencies


def run(tag):
    put_sequence(GATE)
    put_sequence(QUICK)
    load = Load(tag)
    load.start()
    time.sleep(3.0)
    stop_began = time.monotonic()
    fleet("stop", "redis")
    time.sleep(OUTAGE_S)
    fleet("start", "redis")
    redis_up = time.monotonic()
    # Reconnect: each API node ready again, and a runner advancing a new instance.
    ready_after = {}
    for name, address in API_NODES.items():
        wait_for(lambda: get("/readyz", address=address, timeout=5).status == 200, 10, f"{name} ready")
        ready_after[name] = round(time.monotonic() - redis_up, 2)
    quick_id = f"r2-{tag}-quick"
    must(post("/instances", {"sequence_id": QUICK["id"], "id": quick_id}), "POST /instances (quick)")
    wait_for(lambda: (get(f"/instances/{quick_id}").json() or {}).get("state") == "completed", 10, "runner after restart")
    runner_after = round(time.monotonic() - redis_up, 2)
    time.sleep(2.0)
    load.finish()

    answers = list(load.answers)
    outage = [a for a in answers if a[3] >= stop_began - 0.1 and a[3] <= redis_up]
    failed = [a for a in answers if not 200 <= a[2] < 300]
    not_503 = sorted({a[2] for a in failed if a[2] != 503})
    slowest_failure = max((a[4] for a in failed), default=0.0)
    hung = [a for a in answers if a[2] == 0]
    before = [a for a in answers if 200 <= a[2] < 300 and a[3] + a[4] < stop_began]
    missing = verify_durable(answers)

    # Streams of the load: every one finishes, each event once, in order (decided instances end).
    undecided = [r.instance_id for r in load.readers]
    for instance_id in undecided:
        post(f"/instances/{instance_id}/signals", {"signal_type": "human_input:review", "payload": {"decision": "approved"}})
    wait_terminal(undecided, 60)
    for reader in load.readers:
        reader.join(timeout=30)
    stream_mismatches = compare_streams(load.readers, API_NODES["api1"])
    unfinished = sum(1 for r in load.readers if not r.finished)

    latencies = wake_latency(tag)
    passed = (not missing and not hung and not not_503 and slowest_failure <= REDIS_TIMEOUT_MS / 1000 + SLACK_S
              and max(ready_after.values()) <= 2.0 and runner_after <= 2.0 + 1.0
              and not stream_mismatches and unfinished == 0 and max(latencies) < 25 and len(before) > 0 and len(outage) > 0)
    report("R2 Redis restart under mixed load", passed,
           writes_2xx=sum(1 for a in answers if 200 <= a[2] < 300), writes_2xx_before_restart=len(before),
           missing_after_restart=len(missing), examples=missing[:3],
           requests_during_outage=len(outage), non_2xx=len(failed), non_503_statuses=not_503, hung=len(hung),
           slowest_non_2xx_s=round(slowest_failure, 3), ready_after_redis_s=ready_after, runner_after_redis_s=runner_after,
           streams=len(load.readers), stream_mismatches=len(stream_mismatches), streams_unfinished=unfinished,
           wake_ms_after_restart=latencies, unexpected_answers=load.unexpected[:3])
