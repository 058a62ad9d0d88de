#!/usr/bin/env python3
"""bench/cluster's report: one scenario's JSON line from the single Redis and from the cluster
(as bench/approvals, bench/checkpoints and bench/engine print them) in, one JSON line per topology
out, with the throughput, its ratio to the single Redis, and what each Redis node did.

    cluster-report.py S6 single.json cluster.json
"""
import json
import re
import sys

# Per scenario: the throughput field, what the latency is of, and where p50/p99 come from.
SCENARIOS = {
    "S1": {"name": "S1-decide", "unit": "decisions_per_second", "throughput": lambda r: r["decisions_rps"],
           "latency_of": "POST /instances/{id}/signals (a decision)",
           "p50": lambda r: r.get("p50_ms"), "p99": lambda r: r.get("p99_ms"),
           "errors": lambda r: r["non_2xx"] + r["socket_errors"], "sluice_cpu": lambda r: r["cpu_seconds"]["sluice"]},
    "S2": {"name": "S2-save", "unit": "saves_per_second", "throughput": lambda r: r["saves_per_second"],
           "latency_of": "POST /instances/{id}/checkpoints (1 KiB)",
           "p50": lambda r: wrk_ms(r["latency"]["save_p50"]), "p99": lambda r: wrk_ms(r["latency"]["save_p99"]),
           "errors": lambda r: r["save_errors"], "sluice_cpu": lambda r: r["cpu_seconds"]["saves"]["sluice"]},
    "S6": {"name": "S6-engine", "unit": "instances_per_second", "throughput": lambda r: r["instances_per_second"],
           "latency_of": "POST /instances (the create; completion is asynchronous)",
           "p50": lambda r: r.get("create_p50_ms"), "p99": lambda r: r.get("create_p99_ms"),
           "errors": lambda r: r["create_errors"] + r["instances"] - r["completed"],
           "sluice_cpu": lambda r: r["cpu_seconds"]["sluice"]},
}


def wrk_ms(text):
    """wrk's '9.65ms' / '512.00us' / '1.20s' in milliseconds."""
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text or "")
    if not match:
        return None
    return round(float(match.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[match.group(2)], 3)


def line(scenario, topology, result, single):
    spec = SCENARIOS[scenario]
    redis = result["redis"]
    primaries = [n for n in redis["nodes"] if n["role"] == "primary"]
    throughput = spec["throughput"](result)
    out = {
        "scenario": spec["name"], "topology": topology,
        "primaries": redis["primaries"], "replicas": redis["replicas"],
        "metric": spec["unit"], "throughput": throughput,
        "ratio_to_single": round(throughput / spec["throughput"](single), 3) if spec["throughput"](single) else None,
        "http_floor_rps": result["http_floor_rps"],
        # Against the same run's hello-world route: less sensitive to what else the machine does.
        "x_floor": round(throughput / result["http_floor_rps"], 3) if result["http_floor_rps"] else None,
        "latency_of": spec["latency_of"], "p50_ms": spec["p50"](result), "p99_ms": spec["p99"](result),
        "errors": spec["errors"](result), "pass": result["pass"],
        # CPU of the sluice process per operation (HTTP, engine, Redis client), over the same run.
        "sluice_cpu_us_per_op": round(1e6 * spec["sluice_cpu"](result) / redis["ops"], 1) if redis["ops"] else None,
        "redis_commands_per_op": redis["commands_per_op"],
        "redis_cpu_us_per_op": round(sum(n["cpu_us_per_op"] for n in primaries), 1),
        "busiest_primary_share": redis["busiest_primary_share"],
        "nodes": [{k: n[k] for k in ("node", "role", "commands_per_second", "commands_per_op", "command_share",
                                      "cpu_us_per_op", "cpu_busy")} for n in redis["nodes"]],
    }
    if topology == "cluster":
        # If Redis were the bottleneck and each primary had a machine of its own, the busiest primary
        # would saturate first: the Redis tier carries 1/busiest_share times one node's load, and in
        # CPU terms, the single Redis's CPU per op over the busiest primary's.
        busiest_cpu = max(n["cpu_us_per_op"] for n in primaries)
        single_cpu = sum(n["cpu_us_per_op"] for n in single["redis"]["nodes"] if n["role"] == "primary")
        out["redis_scale_out"] = {
            "by_commands": round(1 / redis["busiest_primary_share"], 2) if redis["busiest_primary_share"] else None,
            "by_cpu": round(single_cpu / busiest_cpu, 2) if busiest_cpu else None,
        }
    return out


def main():
    scenario, single_path, cluster_path = sys.argv[1:4]
    with open(single_path) as f:
        single = json.loads(f.read())
    with open(cluster_path) as f:
        cluster = json.loads(f.read())
    for topology, result in (("single", single), ("cluster", cluster)):
        print(json.dumps(line(scenario, topology, result, single), separators=(",", ":")))


if __name__ == "__main__":
    main()
