#!/usr/bin/env bash
#   Deployment benchmark: a producer process -> gateway A -> gateway B -> a
#   consumer process, every party its own process as in a real deployment,
#   beside SciStream's data planes and raw ZeroMQ measured by
#   ../shared/bench/anchors.sh in the same run. It prints figures; it never
#   asserts a speed.
#
#   test/bench/deploy.sh [BUILD_DIR] [--quick] [--table FILE] [--keep]
#                        [--security LIST] [--client-set PATH=VALUE]...
#                        [--gateway-set PATH=VALUE]...
#
#   BUILD_DIR defaults to build/ (configured with -DSSTREAM_BUILD_TESTS=ON,
#   for test/bench_send and test/bench_recv). --quick moves about a tenth
#   of the data. On two busy cores (0.1 version of the data path) a full
#   run took 10 minutes, --quick 75 s. --security picks some of
#   sealed,all,wan,none.
#   --client-set passes a client option (e.g. client/window=256MiB) to
#   every producer and consumer, --gateway-set a config value (e.g.
#   gateway/buffer=128MiB) to both gateways. --keep keeps the temporary
#   folder (gateway logs, each program's output). SSTREAM_ANCHORS names
#   anchors.sh elsewhere, or "skip".
#
#   Security settings: sealed = payloads sealed end to end by the producer
#   for the consumer (AES-256-GCM), carried on the bulk paths beside the
#   links, with CURVE on the three links for everything else (the
#   default); all = CURVE on the three links, payloads included
#   (client/payload = hop); wan = CURVE on the gateway-to-gateway link only
#   (the clients' links have security none, as SciStream's stunnel plane
#   encrypts only its middle hop; payload hop); none = no security anywhere. For each, record sizes 64 B, 1 KiB, 64 KiB, 1 MiB and
#   8 MiB, sending as fast as the path takes them. Then one-way latency:
#   1 KiB records at 10000 per second for 5 s, every security but wan, with
#   client/linger=0 (left out, with a note, while the library refuses it),
#   beside its own anchor: test/zmq_latency, raw libzmq through two relays
#   in four processes, paced the same way (what libzmq's own thread
#   hand-offs cost on this machine).
#
#   Standard output, one JSON line each: the machine, the anchors as
#   anchors.sh prints them, one line per case, a summary. In a case line:
#     records_per_s, gbytes_per_s  as the consumer saw them: records after
#                  the first, over first record to end of stream (10^9 B)
#     producer_gbytes_per_s  first send to the consumer's acknowledged end
#     cpu_s_per_gb_{producer,consumer,gateway_a,gateway_b}  CPU seconds
#                  (user + system) each process spent per 10^9 bytes moved;
#                  their sum is what the path costs on this machine
#     vs_zmq_relay2_64B   64 B: records/s over zmq_relay2's 64 B msgs/s
#     vs_haproxy2, vs_zmq_relay2_1MiB  1 MiB: GB/s over the anchor's GB/s
#     vs_stunnel2  1 MiB, security wan and sealed: GB/s over stunnel's
#     error        the case failed (the run goes on, and exits 1 at the end)
#   Latency lines give p50/p99/p99.9/max in microseconds from the send time
#   each record carries to the moment the consumer's library returned it;
#   late_records > 0 means the sender fell behind its schedule.
#   A readable table with the same run's anchors goes to standard error, or
#   to --table FILE.
#
#   Figures are noisy, more so while anything else runs on the machine:
#   compare ratios to the anchors measured in one run, not absolute numbers
#   across runs or machines.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=""
quick=0
keep=0
table_file=""
securities="sealed,all,wan,none"
client_sets=()
gateway_sets=()
usage () { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^#   \{0,1\}//;s/^#//'; }
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --keep) keep=1 ;;
        --table) table_file=${2:?--table needs a FILE}; shift ;;
        --security) securities=${2:?--security needs a LIST}; shift ;;
        --client-set) client_sets+=("${2:?--client-set needs PATH=VALUE}"); shift ;;
        --gateway-set) gateway_sets+=("${2:?--gateway-set needs PATH=VALUE}"); shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "deploy.sh: error: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *) [ -z "$build" ] || { echo "deploy.sh: error: one BUILD_DIR only" >&2; exit 2; }
           build=$1 ;;
    esac
    shift
done
build=$(cd "${build:-$top/build}" && pwd)
pipe=$build/tools/sstream-pipe
send=$build/test/bench_send
recv=$build/test/bench_recv
anchors=${SSTREAM_ANCHORS:-$top/../shared/bench/anchors.sh}
for program in "$pipe" "$send" "$recv"; do
    [ -x "$program" ] || { echo "deploy.sh: error: $program is missing: build with -DSSTREAM_BUILD_TESTS=ON first" >&2; exit 2; }
done
for security in ${securities//,/ }; do
    case $security in sealed|all|wan|none) ;; *) echo "deploy.sh: error: --security takes sealed, all, wan, none" >&2; exit 2 ;; esac
done
command -v python3 > /dev/null || { echo "deploy.sh: error: needs python3" >&2; exit 2; }
command -v timeout > /dev/null || { echo "deploy.sh: error: needs timeout (coreutils)" >&2; exit 2; }

#   Record sizes and counts: 2 GiB per case from 64 KiB up, 1 GiB at 1 KiB,
#   2M records at 64 B; --quick a tenth of that
sizes=(64 1024 65536 1048576 8388608)
declare -A counts=([64]=2000000 [1024]=1048576 [65536]=32768 [1048576]=2048 [8388608]=256)
latency_count=50000         #   5 s at 10000 records/s
anchor_seconds=4
if [ $quick = 1 ]; then
    for size in "${sizes[@]}"; do counts[$size]=$(( counts[$size] / 10 )); done
    latency_count=20000
    anchor_seconds=2
fi
latency_rate=10000
call_timeout=30s            #   longest one send, receive or close may block
tick=$(getconf CLK_TCK)

work=$(mktemp -d "${TMPDIR:-/tmp}/sstream-deploy.XXXXXX")
pids=()                     #   everything started here, for cleanup
cleanup () {
    local pid
    for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill -TERM "$pid" 2> /dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill -KILL "$pid" 2> /dev/null || true; done
    if [ $keep = 1 ]; then echo "deploy.sh: logs, keys and outputs kept in $work" >&2
    else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started_at=$SECONDS
failures=0
results=$work/results.jsonl
: > "$results"

note () { echo "deploy.sh: $*" >&2; }

#   A process that was waited for leaves the list: its pid may be reused
forget () {
    local kept=() pid
    for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
    pids=("${kept[@]}")
}

#   JSON assembly, ratios and the table (python3, standard library only)
helper=$(cat <<'PY'
import json, sys

def last_json(path):
    try:
        lines = [line for line in open(path) if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None

def anchors(path):
    found = {}
    try:
        for line in open(path):
            try:
                item = json.loads(line)
            except ValueError:
                continue
            name = item.get("anchor")
            if name == "zmq_relay2":
                name += "_64B" if item.get("msg_size") == 64 else "_1MiB"
            if name:
                found[name] = item
    except OSError:
        pass
    return found

def ratio(value, anchor, key):
    if value is None or not anchor or not anchor.get(key):
        return None
    return round(value / anchor[key], 3)

def size_name(size):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return "%d %s" % (size // scale, unit)
    return "%d B" % size

def per_gb(cpu, nbytes):
    return round(cpu / (nbytes / 1e9), 3) if cpu is not None and nbytes else None

command = sys.argv[1]
if command == "case":
    security, size, send_out, recv_out, cpu_a, cpu_b, anchors_path = sys.argv[2:9]
    size = int(size)
    sent, got, marks = last_json(send_out), last_json(recv_out), anchors(anchors_path)
    nbytes = got["bytes"]
    line = {"case": "throughput", "security": security, "size": size,
            "records": got["records"], "bytes": nbytes,
            "records_per_s": got["records_per_s"], "gbytes_per_s": got["gbytes_per_s"],
            "producer_seconds": sent["seconds"], "producer_gbytes_per_s": sent["gbytes_per_s"],
            "cpu_s_per_gb_producer": sent["cpu_s_per_gb"], "cpu_s_per_gb_consumer": got["cpu_s_per_gb"],
            "cpu_s_per_gb_gateway_a": per_gb(float(cpu_a), nbytes),
            "cpu_s_per_gb_gateway_b": per_gb(float(cpu_b), nbytes)}
    if size == 64:
        line["vs_zmq_relay2_64B"] = ratio(got["records_per_s"], marks.get("zmq_relay2_64B"), "msgs_per_s")
    if size == 1 << 20:
        line["vs_haproxy2"] = ratio(got["gbytes_per_s"], marks.get("haproxy2"), "gbytes_per_s")
        line["vs_zmq_relay2_1MiB"] = ratio(got["gbytes_per_s"], marks.get("zmq_relay2_1MiB"), "gbytes_per_s")
        if security in ("wan", "sealed"):
            line["vs_stunnel2"] = ratio(got["gbytes_per_s"], marks.get("stunnel2"), "gbytes_per_s")
    print(json.dumps(line))
elif command == "latency":
    security, size, rate, linger, send_out, recv_out = sys.argv[2:8]
    sent, got = last_json(send_out), last_json(recv_out)
    line = {"case": "latency", "security": security, "size": int(size), "rate": int(rate),
            "client_linger": linger or None, "records": got["records"],
            "gbytes_per_s": got["gbytes_per_s"]}
    for key in ("latency_min_us", "latency_p50_us", "latency_p99_us", "latency_p999_us", "latency_max_us"):
        line[key] = got.get(key)
    line["late_records"] = sent.get("late_records")
    line["max_lag_us"] = sent.get("max_lag_us")
    print(json.dumps(line))
elif command == "error":
    security, size, kind, message = sys.argv[2:6]
    print(json.dumps({"case": kind, "security": security, "size": int(size), "error": message}))
elif command == "table":
    results_path, anchors_path, machine_path = sys.argv[2:5]
    machine = json.loads(open(machine_path).read())
    marks = anchors(anchors_path)
    rows = [json.loads(line) for line in open(results_path) if line.strip()]
    def fmt(value, pattern):
        return pattern % value if value is not None else "-"
    out = []
    out.append("sstream deployment benchmark, %s, %s%s" % (machine["date"], machine["commit"],
               " (--quick)" if machine["quick"] else ""))
    out.append("machine: %d cores, %s" % (machine["nproc"], machine["cpu_model"]))
    out.append("")
    out.append("%-6s %-7s %12s %8s | %-29s | %-24s" % ("", "", "", "",
               "CPU s per GB", "ratio to anchor, 1 run"))
    out.append("%-6s %-7s %12s %8s | %6s %6s %6s %6s %6s | %7s %7s %8s" % (
        "sec", "size", "records/s", "GB/s", "prod", "cons", "gw A", "gw B", "sum",
        "zmq_rl2", "hapx2", "stunnel2"))
    for row in rows:
        if row["case"] != "throughput":
            continue
        name = size_name(row["size"])
        if "error" in row:
            out.append("%-6s %-7s FAILED: %s" % (row["security"], name, row["error"][:90]))
            continue
        parts = [row.get("cpu_s_per_gb_" + who) for who in ("producer", "consumer", "gateway_a", "gateway_b")]
        total = sum(parts) if None not in parts else None
        zmq = row.get("vs_zmq_relay2_64B", row.get("vs_zmq_relay2_1MiB"))
        out.append("%-6s %-7s %12s %8s | %6s %6s %6s %6s %6s | %7s %7s %8s" % (
            row["security"], name, fmt(row["records_per_s"], "%.0f"), fmt(row["gbytes_per_s"], "%.3f"),
            fmt(parts[0], "%.2f"), fmt(parts[1], "%.2f"), fmt(parts[2], "%.2f"), fmt(parts[3], "%.2f"),
            fmt(total, "%.2f"), fmt(zmq, "%.3f"), fmt(row.get("vs_haproxy2"), "%.3f"),
            fmt(row.get("vs_stunnel2"), "%.3f")))
    latency = [row for row in rows if row["case"] == "latency"]
    if latency:
        out.append("")
        out.append("one-way latency, microseconds (records carry their send time)")
        out.append("%-6s %-7s %7s %8s %8s %8s %8s %8s %6s" % (
            "sec", "size", "rate/s", "min", "p50", "p99", "p99.9", "max", "late"))
        for row in latency:
            name = size_name(row["size"])
            if "error" in row:
                out.append("%-6s %-7s FAILED: %s" % (row["security"], name, row["error"][:90]))
                continue
            out.append("%-6s %-7s %7d %8s %8s %8s %8s %8s %6s%s" % (
                row["security"], name, row["rate"], fmt(row["latency_min_us"], "%.0f"),
                fmt(row["latency_p50_us"], "%.0f"), fmt(row["latency_p99_us"], "%.0f"),
                fmt(row["latency_p999_us"], "%.0f"), fmt(row["latency_max_us"], "%.0f"),
                fmt(row["late_records"], "%d"),
                "" if row["client_linger"] else "  (without client/linger)"))
        item = marks.get("zmq_relay2_latency")
        if item:
            out.append("%-6s %-7s %7d %8s %8.0f %8.0f %8.0f %8.0f %6s  (anchor: raw libzmq, 2 relays)" % (
                "zmq", size_name(item["msg_size"]), item["rate"], "-", item["p50_us"],
                item["p99_us"], item["p999_us"], item["max_us"], "-"))
    out.append("")
    out.append("anchors, same run (../shared/bench/anchors.sh):")
    if not marks:
        out.append("  none (anchors.sh skipped or failed)")
    for name, label in (("direct", "one TCP flow, iperf3"),
                        ("haproxy2", "SciStream's HAProxy plane, 2 plain hops"),
                        ("stunnel2", "SciStream's stunnel plane, 1 TLS hop"),
                        ("zmq_relay2_64B", "raw libzmq PUSH->relay->relay->PULL, 64 B"),
                        ("zmq_relay2_1MiB", "raw libzmq PUSH->relay->relay->PULL, 1 MiB")):
        item = marks.get(name)
        if item:
            extra = ", %.0f msgs/s" % item["msgs_per_s"] if "msgs_per_s" in item else ""
            out.append("  %-16s %6.3f GB/s%s  (%s)" % (name, item["gbytes_per_s"], extra, label))
        elif marks:
            #   anchors.sh ran but gave no figure for it (its line was
            #   missing or not JSON): say so, rather than leave it out
            out.append("  %-16s FAILED: anchors.sh printed no figure  (%s)" % (name, label))
    out.append("")
    out.append("Figures are noisy: compare the ratios of one run, not absolute numbers across runs.")
    print("\n".join(out))
PY
)
py () { python3 -c "$helper" "$@"; }

#   One line from a failed program's stderr: its first error, or its last line
first_error () {
    local line
    line=$(grep -m1 "error" "$1" 2> /dev/null || true)
    [ -n "$line" ] || line=$(tail -n1 "$1" 2> /dev/null || true)
    line=${line#*error: }
    echo "${line:-no message}"
}

#   Wait until FILE contains TEXT: $1 file, $2 text, $3 seconds, $4 a pid
#   that must stay alive meanwhile
wait_for_text () {
    local deadline=$(( SECONDS + $3 ))
    while [ $SECONDS -lt $deadline ]; do
        grep -qs -- "$2" "$1" && return 0
        kill -0 "$4" 2> /dev/null || { grep -qs -- "$2" "$1" && return 0; return 1; }
        sleep 0.1
    done
    grep -qs -- "$2" "$1"
}

#   CPU ticks (user + system) a process has used so far
cpu_ticks () {
    local stat
    stat=$(cat "/proc/$1/stat" 2> /dev/null) || { echo 0; return; }
    set -- ${stat##*) }         #   fields from the 3rd (state) on: utime is 14th
    echo $(( ${12} + ${13} ))
}

#   --------------------------------------------------------------------------
#   Keys, as in the README's walkthrough, fresh for this run
for pair in "gateway-a keys" "gateway-b keys" "producer keys/facility-a" \
            "consumer keys/facility-b" "operator keys/operators"; do
    set -- $pair
    "$pipe" keygen "$1" --dir "$work/$2" > /dev/null
done

#   The machine, first
machine=$work/machine.json
commit=$(git -C "$top" rev-parse --short HEAD 2> /dev/null || echo unknown)
python3 - "$quick" "$commit" > "$machine" <<'PY'
import json, os, sys, time
model = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
print(json.dumps({"case": "machine", "nproc": os.cpu_count(), "cpu_model": model,
                  "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": sys.argv[2],
                  "quick": sys.argv[1] == "1"}))
PY
cat "$machine"

#   --------------------------------------------------------------------------
#   Anchors, before any gateway runs, so that nothing competes with them
anchors_out=$work/anchors.jsonl
: > "$anchors_out"
if [ "$anchors" = skip ]; then
    note "anchors skipped (SSTREAM_ANCHORS=skip): no ratios"
elif [ ! -f "$anchors" ]; then
    note "error: no anchors script at $anchors (set SSTREAM_ANCHORS): no ratios"
    failures=$(( failures + 1 ))
else
    note "anchors: $anchors $anchor_seconds"
    #   It takes about 3 x SECONDS + 15 s; what it printed before a failure
    #   or a hang still counts
    anchor_limit=$(( 60 + 10 * anchor_seconds ))
    anchor_status=0
    timeout -k 5 $anchor_limit bash "$anchors" "$anchor_seconds" > "$anchors_out" \
        2> "$work/anchors.err" || anchor_status=$?
    if [ $anchor_status = 124 ]; then
        note "error: anchors.sh did not finish within $anchor_limit s; its missing lines have no ratios"
        failures=$(( failures + 1 ))
    elif [ $anchor_status != 0 ]; then
        note "error: anchors.sh failed (exit $anchor_status): $(first_error "$work/anchors.err")"
        failures=$(( failures + 1 ))
    fi
    grep '^{' "$anchors_out" || true
fi

#   --------------------------------------------------------------------------
#   Gateways

gateway_a=""; gateway_b=""; local_a=""; local_b=""
gateway_starts=0            #   each start its own log files: never read a stale one

#   $1: security setting; sets gateway_a/b (pids) and local_a/b (endpoints)
start_gateways () {
    local security=$1 local_security=curve peer_security=curve
    [ "$security" = all ] || [ "$security" = sealed ] || local_security=none
    [ "$security" = none ] && peer_security=none
    local which extra
    gateway_starts=$(( gateway_starts + 1 ))
    gateway_log=$work/gateway-$security-$gateway_starts
    for which in a b; do
        local peer=b; [ $which = b ] && peer=a
        local sets=(
            --set gateway/secret-key="$work/keys/gateway-$which.secret"
            --set local/trusted-keys="$work/keys/facility-$which"
            --set local/endpoint='tcp://127.0.0.1:*'
            --set local/security="$local_security"
            --set peer/public-key="$work/keys/gateway-$peer.pub"
            --set peer/security="$peer_security"
            --set control/endpoint='tcp://127.0.0.1:*'
            --set control/trusted-keys="$work/keys/operators")
        if [ $which = a ]; then sets+=(--set peer/endpoint='tcp://127.0.0.1:*')
        else sets+=(--set peer/endpoint="$peer_endpoint"); fi
        for extra in "${gateway_sets[@]:-}"; do [ -n "$extra" ] && sets+=(--set "$extra"); done
        local out=$gateway_log-$which.out err=$gateway_log-$which.err
        "$pipe" gateway -c "$top/conf/gateway-$which.cfg" "${sets[@]}" > "$out" 2> "$err" &
        local pid=$!
        pids+=($pid)
        if [ $which = a ]; then gateway_a=$pid; else gateway_b=$pid; fi
        if ! wait_for_text "$out" "ready local=" 10 $pid; then
            note "error: gateway $which ($security) did not start: $(first_error "$err")"
            return 1
        fi
        local ready
        ready=$(grep -m1 "ready local=" "$out")
        if [ $which = a ]; then
            local_a=$(sed -n 's/.*local=\([^ ]*\).*/\1/p' <<< "$ready")
            peer_endpoint=$(sed -n 's/.*peer=\([^ ]*\).*/\1/p' <<< "$ready")
            [ -n "$peer_endpoint" ] || { note "error: gateway a printed no peer endpoint: $ready"; return 1; }
        else
            local_b=$(sed -n 's/.*local=\([^ ]*\).*/\1/p' <<< "$ready")
        fi
    done
    #   As test/support/gateways.c: A logs " is up" (info level) once paired
    if ! wait_for_text "$gateway_log-a.err" " is up" 10 "$gateway_a"; then
        note "error: the gateways ($security) did not pair: $(first_error "$gateway_log-a.err")"
        return 1
    fi
}

#   Stop both, at most 10 s each; a gateway that does not stop cleanly is
#   reported (and killed)
stop_gateways () {
    local pid name
    for pid in $gateway_a $gateway_b; do kill -TERM "$pid" 2> /dev/null || true; done
    for pid in $gateway_a $gateway_b; do
        name=a; [ "$pid" = "$gateway_b" ] && name=b
        local deadline=$(( SECONDS + 10 ))
        while kill -0 "$pid" 2> /dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if kill -0 "$pid" 2> /dev/null; then
            note "warning: gateway $name did not stop within 10 s of SIGTERM: killed"
            kill -KILL "$pid" 2> /dev/null || true
        fi
        local status=0
        wait "$pid" 2> /dev/null || status=$?
        forget "$pid"
        [ $status = 0 ] || note "warning: gateway $name exited with status $status"
    done
    gateway_a=""; gateway_b=""
}

gateways_alive () {
    [ -n "$gateway_a" ] && [ -n "$gateway_b" ] && kill -0 "$gateway_a" 2> /dev/null \
        && kill -0 "$gateway_b" 2> /dev/null
}

#   --------------------------------------------------------------------------
#   One case: bench_recv, then bench_send, each its own process

case_serial=0
linger_refused=0

#   Client options for the current security setting
set_client_args () {
    if [ "$security" = all ] || [ "$security" = sealed ]; then
        producer_args=(-k "$work/keys/facility-a/producer.secret" -g "$work/keys/gateway-a.pub")
        consumer_args=(-k "$work/keys/facility-b/consumer.secret" -g "$work/keys/gateway-b.pub")
    else
        producer_args=(--security none)
        consumer_args=(--security none)
    fi
    if [ "$security" = sealed ]; then
        producer_args+=(--set client/readers="$work/keys/facility-b/consumer.pub")
    else
        producer_args+=(--set client/payload=hop)
        consumer_args+=(--set client/payload=hop)
    fi
}

#   $1 size, $2 count, $3 rate (empty: as fast as possible), then extra
#   options for bench_send. Leaves $case_dir/send.out and recv.out; returns
#   non-zero with $case_error set when the case failed.
run_pair () {
    local size=$1 count=$2 rate=$3
    shift 3
    case_serial=$(( case_serial + 1 ))
    local stream="deploy-$security-$size-$case_serial"
    case_dir=$work/case-$case_serial
    mkdir -p "$case_dir"
    case_error=""
    if ! gateways_alive; then
        note "gateways ($security) are gone: restarting them"
        stop_gateways 2> /dev/null || true
        start_gateways "$security" || { case_error="the gateways could not be (re)started"; return 1; }
    fi
    #   Bounded whatever happens: a stalled call fails after call_timeout,
    #   and a slow case after this many seconds
    local limit=$(( 60 + count / 10000 + size * count / 10000000 ))
    [ -z "$rate" ] || limit=$(( limit + count / rate ))
    local extra_sets=()
    local item
    for item in "${client_sets[@]:-}"; do [ -n "$item" ] && extra_sets+=(--set "$item"); done
    local recv_options=()
    [ -z "$rate" ] || recv_options+=(--latency)
    cpu_a0=$(cpu_ticks "$gateway_a"); cpu_b0=$(cpu_ticks "$gateway_b")
    timeout -k 5 "$limit" "$recv" "$local_b" "$stream" "${consumer_args[@]}" --timeout "$call_timeout" \
        "${recv_options[@]}" "${extra_sets[@]}" > "$case_dir/recv.out" 2> "$case_dir/recv.err" &
    local receiver=$!
    pids+=($receiver)
    local send_status=0 recv_status=0
    timeout -k 5 "$limit" "$send" "$local_a" "$stream" "${producer_args[@]}" --timeout "$call_timeout" \
        --size "$size" --count "$count" ${rate:+--rate "$rate"} "${extra_sets[@]}" "$@" \
        > "$case_dir/send.out" 2> "$case_dir/send.err" &
    local sender=$!
    pids+=($sender)
    wait $sender || send_status=$?     #   in the background, so that signals get through
    forget $sender
    if [ $send_status != 0 ]; then
        #   The consumer is told of an abort, and gets 5 s to say so; one
        #   whose producer never opened the stream would wait for nothing
        local deadline=$(( SECONDS + 5 ))
        grep -qs "error: open:" "$case_dir/send.err" && deadline=$SECONDS
        while kill -0 $receiver 2> /dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        kill -TERM $receiver 2> /dev/null || true
    fi
    wait $receiver || recv_status=$?
    forget $receiver
    cpu_a1=$(cpu_ticks "$gateway_a"); cpu_b1=$(cpu_ticks "$gateway_b")
    send_exit=$send_status
    if [ $send_status = 124 ]; then
        case_error="bench_send did not finish within ${limit} s"
    elif [ $send_status != 0 ]; then
        case_error="bench_send exit $send_status: $(first_error "$case_dir/send.err")"
    elif [ $recv_status = 124 ]; then
        case_error="bench_recv did not finish within ${limit} s"
    elif [ $recv_status != 0 ]; then
        case_error="bench_recv exit $recv_status: $(first_error "$case_dir/recv.err")"
    fi
    [ -z "$case_error" ]
}

case_failed () {     # $1 kind, $2 size
    note "error: $1 case security=$security size=$2: $case_error"
    py error "$security" "$2" "$1" "$case_error" | tee -a "$results"
    failures=$(( failures + 1 ))
}

throughput_case () {
    local size=$1
    if run_pair "$size" "${counts[$size]}" ""; then
        local line
        if line=$(py case "$security" "$size" "$case_dir/send.out" "$case_dir/recv.out" \
                     "$(awk -v t="$tick" -v d=$(( cpu_a1 - cpu_a0 )) 'BEGIN { print d / t }')" \
                     "$(awk -v t="$tick" -v d=$(( cpu_b1 - cpu_b0 )) 'BEGIN { print d / t }')" \
                     "$anchors_out"); then
            echo "$line" | tee -a "$results"
        else
            case_error="unreadable output: $(head -c 200 "$case_dir/send.out" "$case_dir/recv.out" | tr '\n' ' ')"
            case_failed throughput "$size"
        fi
    else
        case_failed throughput "$size"
    fi
}

latency_case () {
    local size=1024 linger=0 ok=1
    if [ $linger_refused = 0 ]; then
        if ! run_pair $size $latency_count $latency_rate --set client/linger=0; then
            if [ "$send_exit" = 3 ] && grep -qs "linger" "$case_dir/send.err"; then
                note "note: the library refuses client/linger ($(first_error "$case_dir/send.err")); latency runs without it"
                linger_refused=1
            else
                ok=0
            fi
        fi
    fi
    if [ $linger_refused = 1 ]; then
        linger=""
        run_pair $size $latency_count $latency_rate || ok=0
    fi
    local line
    if [ $ok = 1 ] && line=$(py latency "$security" $size $latency_rate "$linger" \
                                 "$case_dir/send.out" "$case_dir/recv.out"); then
        echo "$line" | tee -a "$results"
    else
        [ -n "$case_error" ] || case_error="unreadable output"
        case_failed latency $size
    fi
}

#   --------------------------------------------------------------------------
#   The run

#   The latency anchor: raw libzmq through two relays, paced the same way
latency_anchor=$build/test/zmq_latency
if [ "$anchors" != skip ] && [ -x "$latency_anchor" ]; then
    note "anchor: zmq_relay2 latency, $latency_count messages of 1024 bytes at $latency_rate/s"
    if timeout -k 5 120 "$latency_anchor" $latency_count 1024 $latency_rate \
           >> "$anchors_out" 2> "$work/zmq_latency.err"; then
        tail -n1 "$anchors_out"
    else
        note "error: zmq_latency failed: $(first_error "$work/zmq_latency.err")"
        failures=$(( failures + 1 ))
    fi
fi

for security in ${securities//,/ }; do
    note "security $security: starting gateways"
    set_client_args
    if ! start_gateways "$security"; then
        stop_gateways 2> /dev/null || true
        case_error="the gateways did not start"
        for size in "${sizes[@]}"; do case_failed throughput "$size"; done
        continue
    fi
    for size in "${sizes[@]}"; do
        note "security $security: ${counts[$size]} records of $size bytes"
        throughput_case "$size"
    done
    if [ "$security" != wan ]; then
        note "security $security: latency, $latency_count records of 1024 bytes at $latency_rate/s"
        latency_case
    fi
    stop_gateways
done

echo "{\"case\": \"summary\", \"seconds\": $(( SECONDS - started_at )), \"failures\": $failures}"
if [ -n "$table_file" ]; then
    py table "$results" "$anchors_out" "$machine" > "$table_file"
    note "table written to $table_file"
else
    py table "$results" "$anchors_out" "$machine" >&2
fi
[ $failures = 0 ]
