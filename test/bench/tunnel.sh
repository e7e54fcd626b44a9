#!/usr/bin/env bash
#   Tunnel benchmark: the time to open a tunnel's two sessions through two
#   gateways (median of 100), and iperf3 through a tunnel, beside SciStream's
#   data planes measured by ../shared/bench/anchors.sh in the same run.
#
#   test/bench/tunnel.sh [BUILD_DIR] [SECONDS]     (defaults: build, 5)
#
#   Prints JSON lines: the anchors' {"anchor": ..., "gbytes_per_s": ...},
#   bench_sessions' timings, and {"path": ..., "gbytes_per_s": ...} for
#   iperf3 through the tunnel, forward (the client at the outbound end
#   sends) and reverse (iperf3 -R: the server sends), with the tunnel's
#   bytes sealed by the gateways and carried on the WAN link's bulk path
#   (the default), under the WAN link's CURVE (tunnels/payload = hop), and
#   with no security on the WAN link at all.
#   Set SSTREAM_ANCHORS to anchors.sh elsewhere, or to "skip".
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
secs=${2:-5}
pipe=$build/tools/sstream-pipe
bench=$build/test/bench_sessions
anchors=${SSTREAM_ANCHORS:-$top/../shared/bench/anchors.sh}
for program in "$pipe" "$bench"; do
    [ -x "$program" ] || { echo "tunnel.sh: $program is missing: build first" >&2; exit 2; }
done
command -v iperf3 > /dev/null || { echo "tunnel.sh: needs iperf3 (apt-get install iperf3)" >&2; exit 2; }

if [ "$anchors" != skip ]; then
    [ -x "$anchors" ] || [ -f "$anchors" ] || { echo "tunnel.sh: no $anchors (set SSTREAM_ANCHORS)" >&2; exit 2; }
    bash "$anchors" "$secs"
fi

work=$(mktemp -d)
pids=()
cleanup () {
    for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2> /dev/null || true; done
    #   Every job of ours, an iperf3 server that never got its client too:
    #   a failed case must end the script, not leave it waiting
    for pid in $(jobs -p); do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
#   Ports the gateways do not pick themselves (tunnel ports, the iperf3
#   server's) come from below the range the kernel hands out to outgoing
#   connections, so that no connection of anybody's takes them meanwhile
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
base=$(( 10000 + (RANDOM % ((ephemeral_low - 10200) / 100)) * 100 ))
port () { echo $(( base + $1 )); }

for pair in "gateway-a keys" "gateway-b keys" "operator keys/operators" \
            "producer keys/facility-a" "consumer keys/facility-b"; do
    set -- $pair
    "$pipe" keygen "$1" --dir "$work/$2" > /dev/null
done

#   The endpoint a gateway's "ready local=... peer=... control=..." names
ready_field () {    #   $1 gateway (a or b), $2 field
    sed -n "s/.* $2=\([^ ]*\).*/\1/p; s/^ready $2=\([^ ]*\).*/\1/p" "$work/gateway-$1.out" | head -1
}

#   Two gateways from conf/, on endpoints they bind themselves ("tcp://...:*")
#   and report; $1: WAN security, $2: tunnels/payload
start_gateways () {
    local security=$1 payload=$2 which peer_endpoint=""
    for which in a b; do
        local tunnel_low peer=b
        [ $which = b ] && peer=a
        if [ $which = a ]; then tunnel_low=$(port 10); else tunnel_low=$(port 60); fi
        "$pipe" gateway -c "$top/conf/gateway-$which.cfg" \
            --set gateway/secret-key="$work/keys/gateway-$which.secret" \
            --set local/trusted-keys="$work/keys/facility-$which" \
            --set local/endpoint='tcp://127.0.0.1:*' \
            --set peer/endpoint="${peer_endpoint:-tcp://127.0.0.1:*}" \
            --set peer/public-key="$work/keys/gateway-$peer.pub" \
            --set peer/security="$security" \
            --set control/endpoint='tcp://127.0.0.1:*' \
            --set control/trusted-keys="$work/keys/operators" \
            --set tunnels/ports="$tunnel_low-$(( tunnel_low + 49 ))" \
            --set tunnels/payload="$payload" \
            > "$work/gateway-$which.out" 2> "$work/gateway-$which.err" &
        pids+=($!)
        for _ in $(seq 100); do grep -q ready "$work/gateway-$which.out" && break; sleep 0.1; done
        grep -q ready "$work/gateway-$which.out" || { cat "$work/gateway-$which.err" >&2; exit 1; }
        [ $which = a ] && peer_endpoint=$(ready_field a peer)
    done
    control_a=$(ready_field a control)
    control_b=$(ready_field b control)
    #   Paired: A says so once B has said hello
    for _ in $(seq 100); do grep -q " is up" "$work/gateway-a.err" && break; sleep 0.1; done
    grep -q " is up" "$work/gateway-a.err" || { cat "$work/gateway-a.err" >&2; exit 1; }
}

stop_gateways () {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    pids=()
}

gbps_of () {    # iperf3 JSON on stdin -> GB/s received
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f" % (d["end"]["sum_received"]["bytes"]/d["end"]["sum_received"]["seconds"]/1e9))'
}

#   iperf3 through a tunnel; $1: label, $2: parallel streams, $3: "-R" for
#   the reverse direction (the server sends)
through_tunnel () {
    local label=$1 streams=$2 reverse=${3:-} server_port direction=forward
    [ -n "$reverse" ] && direction=reverse
    server_port=$(port 5)
    iperf3 -s -1 -B 127.0.0.1 -p "$server_port" > /dev/null 2>&1 &
    local server=$!
    "$pipe" tunnel bench 127.0.0.1:"$server_port" \
        --inbound "$control_a" --inbound-key "$work/keys/gateway-a.pub" \
        --outbound "$control_b" --outbound-key "$work/keys/gateway-b.pub" \
        -k "$work/keys/operators/operator.secret" > "$work/tunnel.out" 2> "$work/tunnel.err" &
    local tunnel=$!
    for _ in $(seq 100); do grep -qs "connect to" "$work/tunnel.out" && break; sleep 0.1; done
    local address
    address=$(grep -o "connect to [0-9.]*:[0-9]*" "$work/tunnel.out" | cut -d' ' -f3 | head -1)
    [ -n "$address" ] || { echo "tunnel.sh: the tunnel did not open:" >&2; cat "$work/tunnel.err" >&2; exit 1; }
    local rate
    rate=$(iperf3 -c "${address%:*}" -p "${address#*:}" -t "$secs" -P "$streams" $reverse -J | gbps_of)
    echo "{\"path\": \"iperf3 through an sstream tunnel, $label\", \"direction\": \"$direction\", \"streams\": $streams, \"gbytes_per_s\": $rate}"
    kill -INT "$tunnel"; wait "$tunnel" || true
    wait "$server" 2> /dev/null || true
}

#   Each security setting: 1 and 4 streams forward, 1 stream reverse
run_case () {
    through_tunnel "$1" 1
    through_tunnel "$1" 4
    through_tunnel "$1" 1 -R
}

start_gateways curve sealed
"$bench" "$control_a" "$work/keys/gateway-a.pub" \
         "$control_b" "$work/keys/gateway-b.pub" "$work/keys/operators/operator.secret" 100
run_case "sealed by the gateways, on the bulk path"
stop_gateways

start_gateways curve hop
run_case "CURVE on the WAN link"
stop_gateways

start_gateways none hop
run_case "no security on the WAN link"
stop_gateways
