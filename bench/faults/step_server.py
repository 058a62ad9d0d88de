"""A loopback HTTP server that an `http_request` step calls: it holds the first call of each
instance until told, answers later calls at once, and says which fleet member made each call
(the process owning the calling socket, read with `ss`), so a scenario can kill or stop the runner
that is in the middle of that step."""
import http.server
import json
import re
import subprocess
import threading
import urllib.parse

from harness import member_pid


class StepServer:
    def __init__(self):
        self.calls = {}          # instance id -> [(member, pid)]
        self.release = {}        # instance id -> threading.Event for the held first call
        self.arrived = threading.Condition()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                instance_id = (query.get("i") or [""])[0]
                pid = server.caller_pid(self.client_address[1])
                with server.arrived:
                    calls = server.calls.setdefault(instance_id, [])
                    calls.append((server.member_of(pid), pid))
                    hit = len(calls)
                    held = server.release.setdefault(instance_id, threading.Event()) if hit == 1 else None
                    server.arrived.notify_all()
                if held is not None:
                    held.wait(timeout=120)
                body = json.dumps({"hit": hit}).encode()
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the caller was killed meanwhile

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, instance_template="{{instance.id}}"):
        return f"http://127.0.0.1:{self.port}/step?i={instance_template}"

    @staticmethod
    def caller_pid(client_port):
        out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{client_port} )"],
                             capture_output=True, text=True, timeout=10).stdout
        match = re.search(r"pid=(\d+)", out)
        return int(match.group(1)) if match else None

    @staticmethod
    def member_of(pid):
        for member in ("run1", "run2"):
            if pid is not None and member_pid(member) == pid:
                return member
        return None

    def wait_calls(self, instance_id, count, seconds):
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.calls.get(instance_id, [])) >= count, timeout=seconds)
            return list(self.calls.get(instance_id, [])) if ok else None

    def let_go(self, instance_id):
        with self.arrived:
            self.release.setdefault(instance_id, threading.Event()).set()

    def close(self):
        for event in list(self.release.values()):
            event.set()
        self.httpd.shutdown()
