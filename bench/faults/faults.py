"""make faults: each scenario against the running fleet (deploy/fleet up), one JSON line each.
Exits 1 when any scenario failed. Usage: faults.py [SCENARIO...] (default: all, in order)."""
import sys
import time
import traceback

import harness
import r1_kill_api_node
import r2_redis_restart
import r3_sweepers_escalate_once
import r7_leases
import rolling_restart
import stall_fenced

SCENARIOS = {
    "r1": (r1_kill_api_node, "R1 kill -9 API node under 200 SSE clients"),
    "r2": (r2_redis_restart, "R2 Redis restart under mixed load"),
    "r3": (r3_sweepers_escalate_once, "R3 2 sweepers, gates due together: one escalation each"),
    "r7": (r7_leases, "R7 worker and runner kill -9"),
    "rolling": (rolling_restart, "Rolling restart of the API nodes under load (deploy/fleet restart: out of nginx, SIGTERM, back)"),
    "stall": (stall_fenced, "Stall: SIGSTOP a runner past its lease, SIGCONT -> fenced"),
}


def main(names):
    tag = time.strftime("%H%M%S")
    for name in names or list(SCENARIOS):
        module, title = SCENARIOS[name]
        try:
            harness.ensure_fleet()
            module.run(tag)
        except Exception as error:  # a scenario that breaks down is a failed scenario, with its reason
            traceback.print_exc(file=sys.stderr)
            harness.report(title, False, error=f"{type(error).__name__}: {error}")
    harness.ensure_fleet()  # leave the fleet whole (scenarios kill and stop members)
    failed = harness.RESULTS.count(False)
    print(f"faults: {len(harness.RESULTS) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
