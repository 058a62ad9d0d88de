"""What every fault scenario uses: HTTP calls, SSE readers that resume with Last-Event-ID, control of
the fleet's members (deploy/fleet, by PID), and the one result line each scenario prints.

Python 3 standard library only. Every wait is bounded: a scenario never hangs the run.
"""
import http.client
import json
import os
import subprocess
import threading
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FLEET = os.path.join(ROOT, "deploy", "fleet")
PORT = int(os.environ.get("FLEET_PORT", "18080"))
FLEET_DIR = os.environ.get("FLEET_DIR", os.path.join(ROOT, ".fleet"))
NGINX = ("127.0.0.1", PORT)
API_NODES = {f"api{n}": ("127.0.0.1", PORT + n) for n in (1, 2, 3)}
LEASE_MS = int(os.environ.get("SLUICE_TASK_LEASE_MS", "3000"))
REDIS_TIMEOUT_MS = 2000  # SLUICE_REDIS_TIMEOUT_MS, the fleet leaves the default


class Response:
    def __init__(self, status, body, seconds):
        self.status = status
        self.body = body
        self.seconds = seconds

    @property
    def ok(self):
        return 200 <= self.status < 300

    def json(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


def request(method, path, body=None, address=NGINX, headers=None, timeout=15.0):
    """One HTTP request on a fresh connection. status 0: no answer (refused, reset, timeout)."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"content-type": "application/json"} if data is not None else {}
        all_headers.update(headers or {})
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        payload = response.read()
        return Response(response.status, payload, time.monotonic() - started)
    except (OSError, http.client.HTTPException) as error:
        return Response(0, str(error).encode(), time.monotonic() - started)
    finally:
        connection.close()


def post(path, body, **kw):
    return request("POST", path, body, **kw)


def get(path, **kw):
    return request("GET", path, **kw)


def must(response, what):
    if not response.ok:
        raise ScenarioError(f"{what}: HTTP {response.status} {response.body[:200]!r}")
    return response.json()


class ScenarioError(Exception):
    pass


def put_sequence(definition):
    must(post("/sequences", definition), f"POST /sequences {definition['id']}")


def wait_for(predicate, seconds, what, interval=0.05):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise ScenarioError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(interval)


def instance_state(instance_id, address=NGINX):
    body = get(f"/instances/{urllib.parse.quote(instance_id)}", address=address).json()
    return body.get("state") if isinstance(body, dict) else None


def wait_terminal(ids, seconds):
    pending = set(ids)

    def done():
        for instance_id in list(pending):
            if instance_state(instance_id) in ("completed", "failed", "cancelled"):
                pending.discard(instance_id)
        return not pending

    wait_for(done, seconds, f"{len(pending)} instances to finish", interval=0.2)


# --- the fleet ---------------------------------------------------------------------------------

def start_held_step(server, sequence_id, name, instance_id, after=()):
    """Posts a sequence whose first step calls `server` (a StepServer, which holds the call until
    let go) followed by the blocks `after`, starts `instance_id` on it and waits for a runner of
    the fleet to make the call; returns that runner's fleet member name."""
    put_sequence({"id": sequence_id, "name": name, "blocks": [
        {"id": "call", "type": "step", "handler": "http_request", "retry": {"max_attempts": 3},
         "params": {"url": server.url(), "timeout_ms": 60000}}, *after]})
    must(post("/instances", {"sequence_id": sequence_id, "id": instance_id}), "POST /instances")
    calls = server.wait_calls(instance_id, 1, 30)
    if not calls or calls[0][0] is None:
        raise ScenarioError(f"no runner of the fleet called the step (calls: {calls})")
    return calls[0][0]


def fleet(*arguments, check=True):
    result = subprocess.run([FLEET, *arguments], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise ScenarioError(f"deploy/fleet {' '.join(arguments)}: {result.stderr.strip()}")
    return result.stdout.strip()


def member_pid(member):
    text = fleet("pid", member, check=False)
    return int(text) if text.isdigit() else None


def ensure_fleet():
    """Every member running (a scenario that failed half-way may have left one stopped)."""
    for member in ["redis", *API_NODES, "run1", "run2", "sweep1", "sweep2", "nginx"]:
        if member_pid(member) is None:
            fleet("start", member)


class NginxErrorLog:
    """What nginx logged about its upstreams from now on: counts per kind of error, by method."""
    KINDS = {"reset": "Connection reset by peer", "closed": "upstream prematurely closed",
             "refused": "Connection refused"}

    def __init__(self):
        self.path = os.path.join(FLEET_DIR, "nginx-error.log")
        self.offset = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def counts(self):
        counts = {}
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            for line in log.read().decode(errors="replace").splitlines():
                if "[error]" not in line or "upstream" not in line:
                    continue
                kind = next((k for k, text in self.KINDS.items() if text in line), "other")
                method = line.split('request: "', 1)[1].split(" ", 1)[0] if 'request: "' in line else "?"
                key = f"{kind} {method}"
                counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))


def metric(address, name):
    """Sum of a metric's samples (all label sets) on one API node's /metrics."""
    text = get("/metrics", address=address).body.decode(errors="replace")
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name):len(name) + 1] in (" ", "{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- SSE -------------------------------------------------------------------------------------

class StreamReader(threading.Thread):
    """Reads GET /instances/{id}/stream until `done` (or `error`), reconnecting with
    Last-Event-ID whenever the connection ends early, as a browser's EventSource would."""

    def __init__(self, instance_id, address=NGINX, deadline_s=120.0):
        super().__init__(daemon=True)
        self.instance_id = instance_id
        self.address = address
        self.deadline = time.monotonic() + deadline_s
        self.events = []          # (id, event, data) in arrival order
        self.arrivals = []        # time.monotonic() of each event's arrival
        self.connections = 0
        self.failures = []        # why connections ended early / could not be made
        self.finished = False     # saw `done` or `error`
        self.first_event_at = None
        self.lock = threading.Lock()

    def last_id(self):
        with self.lock:
            return self.events[-1][0] if self.events else None

    def run(self):
        while not self.finished and time.monotonic() < self.deadline:
            self.connections += 1
            try:
                self._read_once()
            except (OSError, http.client.HTTPException, ValueError) as error:
                self.failures.append(type(error).__name__)
            if not self.finished:
                time.sleep(0.05)

    def _read_once(self):
        connection = http.client.HTTPConnection(*self.address, timeout=30)
        try:
            headers = {"accept": "text/event-stream"}
            last = self.last_id()
            if last:
                headers["last-event-id"] = last
            connection.request("GET", f"/instances/{urllib.parse.quote(self.instance_id)}/stream", headers=headers)
            response = connection.getresponse()
            if response.status != 200:
                self.failures.append(f"HTTP {response.status}")
                response.read()
                return
            event_id, event, data = None, None, []
            while True:
                raw = response.readline()
                if not raw:
                    self.failures.append("closed")
                    return
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if event is not None:
                        with self.lock:
                            self.events.append((event_id, event, "\n".join(data)))
                            self.arrivals.append(time.monotonic())
                            if self.first_event_at is None:
                                self.first_event_at = time.monotonic()
                        if event in ("done", "error"):
                            self.finished = True
                            return
                    event_id, event, data = None, None, []
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "id":
                        event_id = value
                    elif field == "event":
                        event = value
                    elif field == "data":
                        data.append(value)
        finally:
            connection.close()


def full_history(instance_id, address):
    """The instance's whole event history, read in one go from one API node (the reference)."""
    reader = StreamReader(instance_id, address=address, deadline_s=30)
    reader.run()
    return [(i, e) for i, e, _ in reader.events] if reader.finished and reader.connections == 1 else None


def compare_streams(readers, reference_address):
    """Every reader got exactly the reference history: each event once, in order."""
    mismatched = []
    for reader in readers:
        got = [(i, e) for i, e, _ in reader.events]
        want = full_history(reader.instance_id, reference_address)
        if want is None or got != want:
            mismatched.append(reader.instance_id)
    return mismatched


# --- results ---------------------------------------------------------------------------------

RESULTS = []


def report(name, passed, **figures):
    RESULTS.append(passed)
    line = json.dumps({"scenario": name, "result": "PASS" if passed else "FAIL", **figures}, separators=(",", ":"))
    print(line, flush=True)


def note(name, **figures):
    """A measurement printed for the record, not a pass/fail result."""
    print(json.dumps({"scenario": name, "result": "INFO", **figures}, separators=(",", ":")), flush=True)
