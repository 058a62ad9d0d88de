#!/usr/bin/env python3
"""Pending approvals for bench/approvals (S3), generated without running a million instances.

Item i (0, 1, 2, ...) is a deterministic function of i and --now, so a queue can be filled in
steps (--from/--to) and what the server must list can be predicted exactly:

- instance id: a UUIDv7-shaped 36-character id; partition = zlib.crc32(id) mod --partitions,
  as Sluice computes it (KeySchema.partition, CRC32.swift: the zlib polynomial);
- tenant  tenant-<i mod T>, namespace ns-<(i div T) mod N>: every tenant × namespace pair once
  per T × N items;
- 80% with a deadline (timeout 1 h / 1 d / 3 d / 7 d, waiting since up to half the timeout
  ago, so every deadline is in the future and the sweeper leaves them alone), 20% without
  (waiting since up to 7 days ago); index score = deadline ms, or 1e13 + waiting_since ms
  (ApprovalStore.undatedBase), as ApprovalStore.enter passes it to enter_gate.lua;
- item JSON as ApprovalStore.item writes it: the fields sorted, compact, `escalated_at` last;
  550-600 bytes.

Commands:
  generate  RESP EVALSHA calls of bench/approvals-populate.lua for items [--from, --to), for
            `redis-cli --pipe`; one call per (partition, tenant, namespace), so every call
            touches one hash slot and gets the keys enter_gate.lua gets
  check     reads a GET /approvals response (stdin) and checks it against items [0, --to):
            total, the ids of the page in queue order (soonest deadline first, undated after,
            ties by id), and that every item is the JSON that was stored
  keys      compares the fields of a populated item with a real item from the server (stdin)
"""
import argparse
import json
import sys
import zlib
from datetime import datetime, timezone

UNDATED_BASE = 10_000_000_000_000
TIMEOUTS = (3600, 86400, 259200, 604800)
PURPOSES = ("Q1 marketing offsite", "conference travel to Berlin", "new laptops for the data team",
            "annual software licences", "customer dinner", "office furniture", "cloud credits top-up",
            "recruiting agency fee")
DEPARTMENTS = ("marketing", "engineering", "sales", "finance", "operations", "support")


def mix(i):
    """A well-spread 64-bit hash of i (splitmix64)."""
    z = (i + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def rfc3339(ms):
    return datetime.fromtimestamp(ms // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


class Items:
    def __init__(self, args):
        self.now = args.now
        self.tenants = args.tenants
        self.namespaces = args.namespaces
        self.partitions = args.partitions

    def instance_id(self, i):
        return "0190b3c4-%04x-7%03x-8%03x-%012x" % ((i >> 40) & 0xFFFF, (i >> 28) & 0xFFF, (i >> 16) & 0xFFF, i)

    def tenant(self, i):
        return "tenant-%03d" % (i % self.tenants)

    def namespace(self, i):
        return "ns-%d" % ((i // self.tenants) % self.namespaces)

    def timing(self, i):
        """(waiting_since ms, deadline ms or None, timeout s or None, score)"""
        h = mix(i)
        if h % 10 < 8:
            timeout = TIMEOUTS[(h >> 4) % 4]
            since = self.now - (h >> 8) % (timeout * 500)
            deadline = since + timeout * 1000
            return since, deadline, timeout, deadline
        since = self.now - (h >> 8) % (7 * 86_400_000)
        return since, None, None, UNDATED_BASE + since

    def score(self, i):
        return self.timing(i)[3]

    def item(self, i):
        h = mix(i)
        since, deadline, timeout, score = self.timing(i)
        amount = 100 + (h >> 12) % 9900
        purpose = PURPOSES[(h >> 28) % len(PURPOSES)]
        escalation = '"escalate-to-director"' if deadline is not None and (h >> 32) % 2 == 0 else "null"
        # Keys in sorted order (JSONValue.encoded), escalated_at appended last (ApprovalStore.item).
        text = (
            '{"block_id":"manager-review",'
            '"choices":[{"label":"Approve","value":"approved"},{"label":"Reject","value":"rejected"}],'
            '"deadline":%s,"escalation_handler":%s,"instance_id":"%s",'
            '"metadata":{"amount":%d,"department":"%s","requester":"user%04d@company.com"},'
            '"namespace":"%s","prompt":"Approve expense of $%d for %s?",'
            '"sequence_id":"expense-approval","sequence_name":"Expense Approval Flow","store_as":"decision",'
            '"tenant_id":"%s","timeout_seconds":%s,"waiting_since":"%s","escalated_at":null}'
        ) % (
            '"%s"' % rfc3339(deadline) if deadline is not None else "null", escalation, self.instance_id(i),
            amount, DEPARTMENTS[(h >> 44) % len(DEPARTMENTS)], (h >> 48) % 5000,
            self.namespace(i), amount, purpose, self.tenant(i), timeout if timeout is not None else "null",
            rfc3339(since),
        )
        return text, score, deadline

    def partition(self, i):
        return zlib.crc32(self.instance_id(i).encode()) % self.partitions


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def generate(args):
    items = Items(args)
    groups = {}
    for i in range(args.start, args.end):
        key = (items.partition(i), items.tenant(i), items.namespace(i))
        groups.setdefault(key, []).append(i)
    out = sys.stdout.buffer
    chunk = []
    size = 0
    for (p, tenant, namespace), members in groups.items():
        tag = "{%s:%d}" % (args.prefix, p)
        keys = [tag + ":appritems", tag + ":deadlines", tag + ":appr", "%s:appr:t:%s" % (tag, tenant),
                "%s:appr:n:%s" % (tag, namespace), "%s:appr:tn:%s|%s" % (tag, tenant, namespace)]
        argv = []
        for i in members:
            text, score, deadline = items.item(i)
            argv += [items.instance_id(i), str(score), "" if deadline is None else str(deadline), text]
        command = resp(["EVALSHA", args.sha, str(len(keys))] + keys + argv)
        chunk.append(command)
        size += len(command)
        if size > 1 << 20:
            out.write(b"".join(chunk))
            chunk, size = [], 0
    out.write(b"".join(chunk))
    out.flush()
    print("%d calls for %d items" % (len(groups), args.end - args.start), file=sys.stderr)


def check(args):
    items = Items(args)
    body = json.load(sys.stdin)
    wanted = [i for i in range(0, args.end) if args.tenant is None or items.tenant(i) == args.tenant]
    problems = []
    if body.get("total") != len(wanted):
        problems.append("total is %r, %d were populated" % (body.get("total"), len(wanted)))
    # The page the server must return: the first `limit` in queue order.
    wanted.sort(key=lambda i: (items.score(i), items.instance_id(i).encode()))
    expected = [items.instance_id(i) for i in wanted[:args.limit]]
    got = [entry.get("instance_id") for entry in body.get("items", [])]
    if got != expected:
        problems.append("page ids differ from the queue order: got %s..., expected %s..." % (got[:3], expected[:3]))
    by_id = {items.instance_id(i): i for i in wanted[:args.limit]}
    for entry in body.get("items", []):
        i = by_id.get(entry.get("instance_id"))
        if i is None or entry != json.loads(items.item(i)[0]):
            problems.append("item %s is not the stored item" % entry.get("instance_id"))
            break
    if problems:
        print("; ".join(problems), file=sys.stderr)
        sys.exit(1)
    sizes = [len(json.dumps(e, separators=(",", ":"))) for e in body["items"]]
    print("total %d, %d items in queue order, %d-%d bytes each" % (body["total"], len(got), min(sizes or [0]), max(sizes or [0])),
          file=sys.stderr)


def keys(args):
    """The real item (stdin, the server's text) and a populated one: same fields, same order."""
    real_text = sys.stdin.read()
    real = json.loads(real_text)
    items = Items(args)
    # The first populated item with a deadline and an escalation handler, like the real one.
    populated_text = next(text for text in (items.item(i)[0] for i in range(1000)) if '"escalation_handler":null' not in text)
    populated = json.loads(populated_text)
    def shape(value):
        if isinstance(value, dict):
            return [(k, shape(v)) for k, v in value.items()] if value.keys() != {"amount", "department", "requester"} else "metadata"
        if isinstance(value, list):
            return [shape(v) for v in value]
        return type(value).__name__
    if list(real.keys()) != list(populated.keys()) or shape(real) != shape(populated):
        print("populated item does not have the fields of a real one:\n  real      %s\n  populated %s" % (real_text, populated_text),
              file=sys.stderr)
        sys.exit(1)
    print("populated items have the fields of a real item, in the same order (real %d bytes, populated %d bytes)"
          % (len(real_text.encode()), len(populated_text.encode())), file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("generate", "check", "keys"))
    parser.add_argument("--now", type=int, required=True, help="the reference time, ms since 1970")
    parser.add_argument("--from", dest="start", type=int, default=0)
    parser.add_argument("--to", dest="end", type=int, default=0)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--prefix", default="sluice")
    parser.add_argument("--sha", help="generate: SHA1 of approvals-populate.lua (SCRIPT LOAD)")
    parser.add_argument("--tenant", help="check: the tenant_id filter of the response")
    parser.add_argument("--limit", type=int, default=50, help="check: the limit of the response")
    args = parser.parse_args()
    {"generate": generate, "check": check, "keys": keys}[args.command](args)


if __name__ == "__main__":
    main()
