# Sourced by bench/engine, bench/checkpoints and bench/approvals: the Redis a bench runs against,
# and what that Redis did during a measured window, node by node. See bench/README.md →
# "Pointing a bench at another Redis".
#
#   (neither set)                                   a private redis-server on a unix socket in $WORK
#   BENCH_REDIS_URL=redis://127.0.0.1:6379          an existing single Redis (also unix:///path/redis.sock)
#   BENCH_REDIS_CLUSTER=redis://h1:p1,redis://h2:p2 an existing Redis Cluster (seeds; the nodes are discovered)
#   BENCH_REDIS_FLUSH=1                             an existing Redis that holds keys is emptied first
#                                                   (FLUSHALL on every primary); without it the bench refuses it
#
# The caller defines die() and WORK before sourcing. After redis_target_start:
#   SLUICE_REDIS_ENV   arguments for `env` that point sluice at it (SLUICE_REDIS_URL or SLUICE_REDIS_CLUSTER)
#   REDIS_TOPOLOGY     private | single | cluster
#   PRIMARIES, NODES   primaries, and every node (replicas too), as host:port or unix:/path
# and these functions:
#   rcli ARGS          a command on the node that holds its keys (redis-cli -c on a cluster)
#   rnode NODE ARGS    a command on one node
#   redis_eval SCRIPT KEY... -- ARG...   the script once per primary, with the keys that primary holds;
#                      in the script KEYS and ARGV are as usual; prints one line per primary (the reply's
#                      elements separated by spaces)
#   redis_scan PATTERN every key matching PATTERN, on every primary
#   redis_reset_stats, redis_commandstats   CONFIG RESETSTAT / INFO commandstats over the primaries
#   redis_cpu_ticks    CPU time of every node (INFO cpu), in clock ticks like /proc/PID/stat
#   redis_mark FILE    per-node counters now (commands processed, CPU), for redis_window_json
#   redis_window_json FILE0 FILE1 SECONDS OPS   what each node did between two marks, as a JSON object

REDIS_TOPOLOGY=""
REDIS_PRIVATE_PID=""
SLUICE_REDIS_ENV=()
PRIMARIES=()
NODES=()
declare -A REDIS_SLOT_OF=()     # hash tag (or key) -> slot, cluster only
REDIS_SLOT_RANGES=()            # "first last node" per slot range of a primary, cluster only

rnode() {  # node args...
    local node="$1"; shift
    if [[ "$node" == unix:* ]]; then
        redis-cli -s "${node#unix:}" "$@"
    else
        redis-cli -h "${node%:*}" -p "${node##*:}" "$@"
    fi
}

rcli() {
    if [[ "$REDIS_TOPOLOGY" == cluster ]]; then
        local seed="${PRIMARIES[0]}"
        redis-cli -c -h "${seed%:*}" -p "${seed##*:}" "$@"
    else
        rnode "${PRIMARIES[0]}" "$@"
    fi
}

# The cluster's nodes and slot ranges, from CLUSTER NODES on the first seed that answers.
redis_discover_cluster() {
    local seeds="$1" seed hostport nodes="" line
    for seed in ${seeds//,/ }; do
        hostport="${seed#redis://}"; hostport="${hostport%%/*}"
        nodes="$(rnode "$hostport" CLUSTER NODES 2>/dev/null)" && [[ "$nodes" == *master* ]] && break
        nodes=""
    done
    [[ -n "$nodes" ]] || die "no seed of BENCH_REDIS_CLUSTER ($seeds) answers CLUSTER NODES"
    [[ "$(rnode "$hostport" CLUSTER INFO | tr -d '\r' | grep '^cluster_state:')" == cluster_state:ok ]] \
        || die "the cluster at $hostport is not in cluster_state:ok"
    PRIMARIES=(); NODES=(); REDIS_SLOT_RANGES=()
    while read -r line; do
        [[ -n "$line" ]] || continue
        local fields=($line)
        local address="${fields[1]%@*}" flags="${fields[2]}"
        [[ "$flags" == *fail* || "$flags" == *noaddr* ]] && continue
        NODES+=("$address")
        [[ "$flags" == *master* ]] || continue
        PRIMARIES+=("$address")
        local range
        for range in "${fields[@]:8}"; do
            [[ "$range" == \[* ]] && continue   # a slot being migrated
            REDIS_SLOT_RANGES+=("${range%-*} ${range#*-} $address")
        done
    done < <(tr -d '\r' <<<"$nodes")
    (( ${#PRIMARIES[@]} > 0 )) || die "the cluster at $hostport has no primary"
}

redis_target_start() {
    local sock="$WORK/redis.sock"
    if [[ -n "${BENCH_REDIS_URL:-}" && -n "${BENCH_REDIS_CLUSTER:-}" ]]; then
        die "BENCH_REDIS_URL and BENCH_REDIS_CLUSTER are both set: use one"
    elif [[ -n "${BENCH_REDIS_CLUSTER:-}" ]]; then
        REDIS_TOPOLOGY=cluster
        SLUICE_REDIS_ENV=(-u SLUICE_REDIS_URL "SLUICE_REDIS_CLUSTER=$BENCH_REDIS_CLUSTER")
        redis_discover_cluster "$BENCH_REDIS_CLUSTER"
    elif [[ -n "${BENCH_REDIS_URL:-}" ]]; then
        REDIS_TOPOLOGY=single
        SLUICE_REDIS_ENV=(-u SLUICE_REDIS_CLUSTER "SLUICE_REDIS_URL=$BENCH_REDIS_URL")
        case "$BENCH_REDIS_URL" in
        unix://*) PRIMARIES=("unix:${BENCH_REDIS_URL#unix://}") ;;
        redis://*) local hostport="${BENCH_REDIS_URL#redis://}"; hostport="${hostport##*@}"; PRIMARIES=("${hostport%%/*}") ;;
        *) die "BENCH_REDIS_URL: redis://host:port or unix:///path (got $BENCH_REDIS_URL)" ;;
        esac
        [[ "$(rnode "${PRIMARIES[0]}" PING 2>/dev/null)" == PONG ]] || die "no Redis answers at $BENCH_REDIS_URL"
        NODES=("${PRIMARIES[@]}")
    else
        # A private Redis on a unix socket, no persistence; stopped and removed by redis_target_stop.
        REDIS_TOPOLOGY=private
        redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save "" --appendonly no \
            --dir "$WORK" --logfile "$WORK/redis.log" --daemonize no &
        REDIS_PRIVATE_PID=$!
        PRIMARIES=("unix:$sock"); NODES=("unix:$sock")
        SLUICE_REDIS_ENV=(-u SLUICE_REDIS_CLUSTER "SLUICE_REDIS_URL=unix://$sock")
        for _ in $(seq 100); do
            [[ -S "$sock" ]] && [[ "$(rcli ping 2>/dev/null)" == PONG ]] && break
            kill -0 "$REDIS_PRIVATE_PID" 2>/dev/null || die "redis-server exited: $(tail -3 "$WORK/redis.log" 2>/dev/null)"
            sleep 0.1
        done
        [[ "$(rcli ping 2>/dev/null)" == PONG ]] || die "redis-server did not answer on $sock"
        echo "redis-server pid $REDIS_PRIVATE_PID on $sock" >&2
        return 0
    fi
    # An existing Redis: it must be empty, or emptied on request (the benches count every key).
    local node keys=0
    for node in "${PRIMARIES[@]}"; do keys=$(( keys + $(rnode "$node" DBSIZE) )); done
    if (( keys > 0 )); then
        [[ "${BENCH_REDIS_FLUSH:-}" == 1 ]] || die "the Redis at ${PRIMARIES[*]} holds $keys keys; BENCH_REDIS_FLUSH=1 empties it first (FLUSHALL)"
        for node in "${PRIMARIES[@]}"; do rnode "$node" FLUSHALL >/dev/null; done
    fi
    echo "redis: $REDIS_TOPOLOGY, primaries ${PRIMARIES[*]}${NODES[${#PRIMARIES[@]}]:+, $(( ${#NODES[@]} - ${#PRIMARIES[@]} )) replicas}" >&2
}

redis_target_stop() {
    [[ -n "$REDIS_PRIVATE_PID" ]] || return 0
    kill "$REDIS_PRIVATE_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$REDIS_PRIVATE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$REDIS_PRIVATE_PID" 2>/dev/null || true
    wait "$REDIS_PRIVATE_PID" 2>/dev/null || true
    REDIS_PRIVATE_PID=""
    rm -f "$WORK/redis.sock" "$WORK/dump.rdb"
}

# The slot of each hash tag, asked once (one redis-cli for all new tags) and kept in
# $WORK/redis-slots, so callers in subshells (pipes, $(...)) share it and a measured window does not
# see CLUSTER KEYSLOT calls after the first use of a key.
redis_learn_slots() {  # key...: fills REDIS_SLOT_OF for their hash tags (cluster only)
    local file="$WORK/redis-slots" key tag slot missing=()
    if [[ -f "$file" ]]; then while read -r tag slot; do REDIS_SLOT_OF[$tag]="$slot"; done <"$file"; fi
    for key in "$@"; do
        tag="$key"; [[ "$key" =~ ^[^{]*\{([^}]+)\} ]] && tag="{${BASH_REMATCH[1]}}"
        [[ -n "${REDIS_SLOT_OF[$tag]:-}" || " ${missing[*]} " == *" $tag "* ]] || missing+=("$tag")
    done
    (( ${#missing[@]} > 0 )) || return 0
    local slots=()
    mapfile -t slots < <(for tag in "${missing[@]}"; do printf 'CLUSTER KEYSLOT %s\n' "$tag"; done \
        | rnode "${PRIMARIES[0]}" | tr -d '\r')
    (( ${#slots[@]} == ${#missing[@]} )) || die "CLUSTER KEYSLOT answered ${#slots[@]} slots for ${#missing[@]} tags"
    local i
    for i in "${!missing[@]}"; do
        [[ "${slots[$i]}" =~ ^[0-9]+$ ]] || die "CLUSTER KEYSLOT ${missing[$i]}: ${slots[$i]}"
        REDIS_SLOT_OF[${missing[$i]}]="${slots[$i]}"
        echo "${missing[$i]} ${slots[$i]}" >>"$file"
    done
}

redis_node_of() {  # key: REDIS_NODE = the primary that holds its slot (after redis_learn_slots)
    local key="$1" tag="$1"
    REDIS_NODE="${PRIMARIES[0]}"
    [[ "$REDIS_TOPOLOGY" == cluster ]] || return 0
    [[ "$key" =~ ^[^{]*\{([^}]+)\} ]] && tag="{${BASH_REMATCH[1]}}"
    local slot="${REDIS_SLOT_OF[$tag]}" range
    for range in "${REDIS_SLOT_RANGES[@]}"; do
        set -- $range
        if (( slot >= $1 && slot <= $2 )); then REDIS_NODE="$3"; return 0; fi
    done
    die "no primary serves slot $slot ($key)"
}

# The keys reach the script as ARGV (EVAL ... 0), so that one call may read keys of many slots on
# one node (allow-cross-slot-keys); the header turns them back into KEYS and ARGV.
redis_eval() {  # script key... -- arg...
    local script="$1"; shift
    local keys=() args=() seen_separator=0 item
    for item in "$@"; do
        if [[ "$item" == -- && $seen_separator == 0 ]]; then seen_separator=1; continue; fi
        if (( seen_separator )); then args+=("$item"); else keys+=("$item"); fi
    done
    local header='#!lua flags=allow-cross-slot-keys
local n = tonumber(ARGV[1]) local KEYS, ARGV = {unpack(ARGV, 2, n + 1)}, {unpack(ARGV, n + 2)}
'
    declare -A by_node=()
    local key node
    [[ "$REDIS_TOPOLOGY" != cluster ]] || redis_learn_slots "${keys[@]}"
    for key in "${keys[@]}"; do
        redis_node_of "$key"
        by_node[$REDIS_NODE]+="$key"$'\n'
    done
    for node in "${PRIMARIES[@]}"; do
        [[ -n "${by_node[$node]:-}" ]] || continue
        local node_keys=()
        mapfile -t node_keys < <(printf '%s' "${by_node[$node]}")
        rnode "$node" EVAL "$header$script" 0 "${#node_keys[@]}" "${node_keys[@]}" "${args[@]}" | tr '\n' ' '
        echo
    done
}

redis_scan() {  # pattern
    local node
    for node in "${PRIMARIES[@]}"; do rnode "$node" --scan --pattern "$1"; done
}

redis_reset_stats() {
    local node
    for node in "${NODES[@]}"; do rnode "$node" CONFIG RESETSTAT >/dev/null; done
}

redis_commandstats() {  # "name calls usec" per command, summed over the primaries
    local node
    for node in "${PRIMARIES[@]}"; do rnode "$node" INFO commandstats; done | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_/ {
        sub(/^cmdstat_/, "", $1); calls[$1] += $3; usec[$1] += $5 } END { for (c in calls) print c, calls[c], usec[c] }'
}

redis_cpu_ticks() {
    local node hz; hz="$(getconf CLK_TCK)"
    for node in "${NODES[@]}"; do rnode "$node" INFO cpu; done | tr -d '\r' | awk -F: -v hz="$hz" '
        /^used_cpu_(sys|user):/ { s += $2 } END { printf "%d\n", s * hz }'
}

redis_mark() {  # file: "node role commands cpu_seconds" per node
    local node
    for node in "${NODES[@]}"; do
        rnode "$node" INFO | tr -d '\r' | awk -F: -v node="$node" '
            /^role:/ { role = ($2 == "master") ? "primary" : "replica" }
            /^total_commands_processed:/ { commands = $2 }
            /^used_cpu_(sys|user):/ { cpu += $2 }
            END { printf "%s %s %d %.6f\n", node, role, commands, cpu }'
    done >"$1"
}

# {"topology":..,"primaries":..,"replicas":..,"commands_per_op":..,"busiest_primary_share":..,"nodes":[..]}
# commands: every command the node executed, those run inside scripts included (total_commands_processed;
# the INFO calls of the marks too). Shares and per-op figures are over the primaries.
redis_window_json() {  # file0 file1 seconds ops
    awk -v topology="$REDIS_TOPOLOGY" -v seconds="$3" -v ops="$4" '
        FNR == NR { c0[$1] = $3; cpu0[$1] = $4; next }
        {   n++; node[n] = $1; role[n] = $2; cmd[n] = $3 - c0[$1]; cpu[n] = $4 - cpu0[$1]
            if ($2 == "primary") { primaries++; total += cmd[n]; if (cmd[n] > busiest) busiest = cmd[n] } else replicas++ }
        END {
            printf "{\"topology\":\"%s\",\"primaries\":%d,\"replicas\":%d,\"seconds\":%.3f,\"ops\":%d,", topology, primaries, replicas, seconds, ops
            printf "\"commands\":%d,\"commands_per_op\":%.2f,\"busiest_primary_share\":%.3f,\"nodes\":[", total, (ops > 0) ? total / ops : 0, (total > 0) ? busiest / total : 0
            for (i = 1; i <= n; i++) {
                printf "%s{\"node\":\"%s\",\"role\":\"%s\",\"commands\":%d,\"commands_per_second\":%.0f,", (i > 1) ? "," : "", node[i], role[i], cmd[i], (seconds > 0) ? cmd[i] / seconds : 0
                printf "\"commands_per_op\":%.2f,\"command_share\":%.3f,", (ops > 0) ? cmd[i] / ops : 0, (role[i] == "primary" && total > 0) ? cmd[i] / total : 0
                printf "\"cpu_seconds\":%.2f,\"cpu_us_per_op\":%.1f,\"cpu_busy\":%.3f}", cpu[i], (ops > 0) ? 1e6 * cpu[i] / ops : 0, (seconds > 0) ? cpu[i] / seconds : 0
            }
            printf "]}"
        }' "$1" "$2"
}
