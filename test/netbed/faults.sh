#!/usr/bin/env bash
#   The fault table of issue 10: a stream of numbered records from the
#   instrument to the analysis host of a test bed (netbed.sh), through real
#   sstream-pipe gateway processes with real keys and the shipped configs,
#   and one fault per row while it runs. Each row prints what was sent and
#   delivered, duplicates, records lost, the longest stall the consumer's
#   application saw, and the resumes both ends logged; a row is clean when
#   every record came exactly once, in order, unchanged, and send and recv
#   both exited 0. The last row measures the proxied path against a direct
#   TCP flow (iperf3) under the same tbf cap on the WAN.
#
#   Run as root from anywhere; exits 0 only when every row is clean, and
#   skips (exit 77, said loudly) where network namespaces cannot be made.
#
#   Copyright the sstream authors. Licensed under the Apache License 2.0.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
netbed=$here/netbed.sh
records=$here/records.py

usage () {
    cat <<'EOF'
Usage: faults.sh [options] BUILD_DIR

  --bytes SIZE     each row's stream, in MiB (default 2048: 2 GiB)
  --cap RATE       tbf cap on the WAN for every row (default 1gbit; off: none)
  --cases LIST     rows to run, comma-separated (default: all, in order):
                   none kill-a kill-b stop-a stop-b wan-down-5 wan-down-30
                   drop-1 stall-consumer pair-lost wrong-pin key-rewrite direct
  --seed N         for the random moments of the kills (default: the time)
  --keep           keep the work folder (logs, configs) even when all is clean
  -h, --help       this help

BUILD_DIR holds tools/sstream-pipe and the plugins (cmake -B BUILD_DIR).
The table goes to standard output, progress to standard error; each row's
logs stay in the work folder when it is not clean.

Example:
  sudo bash test/netbed/faults.sh build
  sudo bash test/netbed/faults.sh --bytes 256 --cases kill-a,wan-down-5 build
EOF
}

die () { echo "faults: $*" >&2; exit 1; }
say () { echo "faults: $*" >&2; }

mebibytes=2048 cap=1gbit cases="" seed=$(date +%s) keep=false build=""
while (($#)); do
    case $1 in
        --bytes) mebibytes=${2:?--bytes needs a size in MiB}; shift ;;
        --cap) cap=${2:?--cap needs a rate}; shift ;;
        --cases) cases=${2:?--cases needs a list}; shift ;;
        --seed) seed=${2:?--seed needs a number}; shift ;;
        --keep) keep=true ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "faults: unknown option '$1' (faults.sh --help)" >&2; exit 2 ;;
        *) [[ -z $build ]] || { echo "faults: one BUILD_DIR only" >&2; exit 2; }; build=$1 ;;
    esac
    shift
done
[[ -n $build ]] || { echo "faults: no BUILD_DIR given (faults.sh --help)" >&2; exit 2; }
[[ $mebibytes =~ ^[0-9]+$ && $mebibytes -ge 16 ]] || { echo "faults: --bytes: at least 16 (MiB)" >&2; exit 2; }
[[ $seed =~ ^[0-9]+$ ]] || { echo "faults: --seed: a whole number" >&2; exit 2; }
all_cases="none kill-a kill-b stop-a stop-b wan-down-5 wan-down-30 drop-1 stall-consumer pair-lost wrong-pin key-rewrite direct"
[[ -n $cases ]] || cases=$all_cases
cases=${cases//,/ }
for case_name in $cases; do
    [[ " $all_cases " == *" $case_name "* ]] || { echo "faults: unknown case '$case_name'" >&2; exit 2; }
done
pipe=$(cd "$build" 2>/dev/null && pwd)/tools/sstream-pipe
[[ -x $pipe ]] || die "no $build/tools/sstream-pipe (build first: cmake --build $build)"
bytes=$((mebibytes << 20))
RANDOM=$seed

if ! why=$(bash "$netbed" check 2>&1); then
    echo "faults: SKIPPED: no test bed can be made here: $why" >&2
    exit 77
fi
command -v nft >/dev/null || die "nft is missing (apt-get install nftables)"
command -v iperf3 >/dev/null || die "iperf3 is missing (apt-get install iperf3)"

work=$(mktemp -d /tmp/sstream-faults.XXXXXX)
bed=flt$$
children=()
cleanup () {
    local pid
    for pid in "${children[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    bash "$netbed" down "$bed" >/dev/null 2>&1
    if $keep; then say "logs kept in $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

#   Keys and configs: the shipped ones (conf/), with the bed's addresses
keys () {
    mkdir -p "$work/keys/facility-a" "$work/keys/facility-b" "$work/keys/operators"
    "$pipe" keygen gateway-a --dir "$work/keys" >/dev/null &&
    "$pipe" keygen gateway-b --dir "$work/keys" >/dev/null &&
    "$pipe" keygen impostor --dir "$work/keys" >/dev/null &&
    "$pipe" keygen producer --dir "$work/keys/facility-a" >/dev/null &&
    "$pipe" keygen consumer --dir "$work/keys/facility-b" >/dev/null || die "keygen failed"
    cp "$top"/conf/{gateway-a,gateway-b,producer,consumer}.cfg "$work/"
}

#   A gateway in HOST: start_gateway VAR HOST CONFIG [--set PATH=VALUE]...
#   sets gateway_pid[VAR] once it printed its ready line
declare -A gateway_pid gateway_args
launch () {     # VAR HOST ARGS...: the process, in the background
    local var=$1 host=$2 round=$((${gateway_round[$1]:-0} + 1))
    shift 2
    gateway_round[$var]=$round
    bash "$netbed" exec "$bed" "$host" "$pipe" gateway "$@" \
        >"$row/$var-$round.out" 2>"$row/$var-$round.err" &
    gateway_pid[$var]=$!
    children+=($!)
}
declare -A gateway_round
start_gateway () {
    local var=$1 host=$2
    shift 2
    gateway_args[$var]="$host $*"
    launch "$var" "$host" "$@"
    wait_for "$var ready" grep -q '^ready' "$row/$var-${gateway_round[$var]}.out" ||
        { say "$var: $(tail -1 "$row/$var-${gateway_round[$var]}.err")"; return 1; }
}
restart_gateway () {    # VAR: as it was started
    # shellcheck disable=SC2086
    start_gateway "$1" ${gateway_args[$1]}
}
kill_gateway () {       # VAR SIGNAL
    kill "-$2" "${gateway_pid[$1]}" 2>/dev/null
    wait "${gateway_pid[$1]}" 2>/dev/null
    return 0
}
paired () { grep -q ' is up' "$row/$1-${gateway_round[$1]}.err"; }

a_sets () {     # HOST LAN WAN NAME PEER
    echo "-c $work/gateway-a.cfg --set local/endpoint=tcp://$2:7001 --set peer/endpoint=tcp://$3:7100" \
         "--set gateway/name=$4 --set peer/name=$5"
}
b_sets () {     # HOST LAN A_WAN NAME PEER
    echo "-c $work/gateway-b.cfg --set local/endpoint=tcp://$2:7002 --set peer/endpoint=tcp://$3:7100" \
         "--set gateway/name=$4 --set peer/name=$5"
}

#   wait_for WHAT CMD...: until CMD succeeds, at most 60 s
wait_for () {
    local what=$1 deadline=$((SECONDS + 60))
    shift
    until "$@" 2>/dev/null; do
        ((SECONDS < deadline)) || { say "$what: not within 60 s"; return 1; }
        sleep 0.05
    done
}

report_value () { awk -F= -v key="$1" '$1 == key { print $2 }' "$row/report"; }
delivered () { cat "$row/progress" 2>/dev/null || echo 0; }
running () { kill -0 "$recv_pid" 2>/dev/null; }
#   until the application has taken FRACTION (percent) of the stream and,
#   after a fault, more than it had then; false if the stream ended first
wait_delivered () {     # PERCENT [AT_LEAST]
    local target=$((bytes / 100 * $1)) floor=${2:-0}
    ((target > floor)) || target=$((floor + (1 << 20)))
    while (($(delivered) < target)); do
        running || { row_failed="the stream ended before the fault (at $1%)"; return 1; }
        sleep 0.02
    done
}

#   The stream: records.py make | send in instr; recv in ana | records.py check
start_stream () {       # SEND_ENDPOINTS RECV_ENDPOINTS
    mkfifo "$row/in" "$row/out"
    python3 "$records" check "$bytes" --report "$row/report" --progress "$row/progress" \
        <"$row/out" &
    check_pid=$!
    bash "$netbed" exec "$bed" ana "$pipe" recv -q -c "$work/consumer.cfg" "$2" run \
        >"$row/out" 2>"$row/recv.err" &
    recv_pid=$!
    bash "$netbed" exec "$bed" instr "$pipe" send -c "$work/producer.cfg" "$1" run \
        <"$row/in" 2>"$row/send.err" &
    send_pid=$!
    python3 "$records" make "$bytes" >"$row/in" &
    make_pid=$!
    children+=("$check_pid" "$recv_pid" "$send_pid" "$make_pid")
}

#   Wait for the stream's end (at most 15 minutes), then the row's line
finish_row () {         # NAME NOTE
    local name=$1 note=$2 deadline=$((SECONDS + 900)) send_rc recv_rc check_rc
    while kill -0 "$send_pid" 2>/dev/null || kill -0 "$recv_pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            note="$note; TIMED OUT after 900 s"
            kill -KILL "$send_pid" "$recv_pid" "$make_pid" 2>/dev/null
            break
        fi
        sleep 0.1
    done
    wait "$send_pid"; send_rc=$?
    wait "$recv_pid"; recv_rc=$?
    kill -CONT "$check_pid" 2>/dev/null
    wait "$check_pid"; check_rc=$?
    wait "$make_pid" 2>/dev/null
    local sent got=0 duplicates="-" lost="-" stall="-" seconds=0 resumes stalls longest
    sent=$(grep -o 'run: [0-9]* bytes' "$row/send.err" | grep -o '[0-9]*' | tail -1)
    [[ -n $sent ]] || sent="-"
    if [[ -f $row/report ]]; then
        got=$(report_value bytes) duplicates=$(report_value duplicates) lost=$(report_value lost)
        stall=$(report_value longest_stall) seconds=$(report_value seconds)
    fi
    resumes="$(grep -c 'resumed after' "$row/send.err")/$(grep -c 'resumed after' "$row/recv.err")"
    stalls=$(cat "$row/send.err" "$row/recv.err" | grep -o 'resumed after [0-9.]* s' | grep -o '[0-9.]*')
    # shellcheck disable=SC2086
    longest=$(printf '%s\n' $stalls 0 | sort -g | tail -1)
    if [[ -n ${row_hook:-} ]]; then "$row_hook"; fi
    local clean=yes
    ((send_rc == 0 && recv_rc == 0 && check_rc == 0)) || clean=NO
    [[ -z ${row_failed:-} ]] || { clean=NO; note="$note; $row_failed"; }
    ((send_rc == 0)) || note="$note; send exited $send_rc: $(grep -v 'resum' "$row/send.err" | tail -1)"
    ((recv_rc == 0)) || note="$note; recv exited $recv_rc: $(grep -v 'resum' "$row/recv.err" | tail -1)"
    printf '| %-15s | %-5s | %10s | %10s | %4s | %4s | %7s | %7s | %7s | %s |\n' \
        "$name" "$clean" "$sent" "$got" "$duplicates" "$lost" "$stall" "$resumes" "$longest" \
        "${note#; }" | tee -a "$work/table"
    [[ $clean == yes ]] || all_clean=false
    [[ $clean == yes ]] && ! $keep && rm -rf "$row"
}

#   A fresh bed and gateway pair for each row
begin_row () {          # NAME [--second-pair]
    row=$work/$1
    row_failed=""
    mkdir -p "$row"
    bash "$netbed" up "$bed" ${2:-} >"$row/bed.env" 2>"$row/bed.err" || die "bed: $(cat "$row/bed.err")"
    if [[ $cap != off ]]; then
        bash "$netbed" cap "$bed" wan "$cap" || die "cannot cap the WAN at $cap"
    fi
    gateway_pid=() gateway_args=() gateway_round=()
    # shellcheck disable=SC2046
    start_gateway a gwa $(a_sets gwa 10.1.0.1 10.2.0.1 gateway-a gateway-b) || return 1
    # shellcheck disable=SC2046
    start_gateway b gwb $(b_sets gwb 10.3.0.1 10.2.0.1 gateway-b gateway-a) || return 1
    if [[ ${2:-} == --second-pair ]]; then
        # shellcheck disable=SC2046
        start_gateway a2 gwa2 $(a_sets gwa2 10.1.0.2 10.2.0.3 gateway-a2 gateway-b2) || return 1
        # shellcheck disable=SC2046
        start_gateway b2 gwb2 $(b_sets gwb2 10.3.0.2 10.2.0.3 gateway-b2 gateway-a2) || return 1
        wait_for "a2 paired" paired a2 && wait_for "b2 paired" paired b2 || return 1
    fi
    wait_for "a paired" paired a && wait_for "b paired" paired b
}

end_row () {
    local var
    for var in "${!gateway_pid[@]}"; do kill_gateway "$var" KILL; done
    bash "$netbed" down "$bed" >/dev/null 2>&1
}

one_stream () { start_stream tcp://10.1.0.1:7001 tcp://10.3.0.1:7002; }

#   --------------------------------------------------------------------------
#   The rows

case_none () {
    one_stream
    finish_row "none" "no fault: the path under the cap"
}

kill_five () {          # VAR (a or b)
    local var=$1 moments=() moment floor=0 count=0
    for _ in 1 2 3 4 5; do moments+=($((10 + RANDOM % 80))); done
    mapfile -t moments < <(printf '%s\n' "${moments[@]}" | sort -n)
    one_stream
    for moment in "${moments[@]}"; do
        wait_delivered "$moment" "$floor" || break
        kill_gateway "$var" KILL
        restart_gateway "$var" || { row_failed="$var did not start again"; break; }
        floor=$(delivered)
        count=$((count + 1))
    done
    ((count == 5)) || row_failed="${row_failed:-the stream ended after $count kills}"
    finish_row "kill -9 $var x5" "killed at ${moments[*]}% (seed $seed), each started again at once"
}
case_kill-a () { kill_five a; }
case_kill-b () { kill_five b; }

stop_twenty () {
    one_stream
    wait_delivered 30 && { kill_gateway_stop "$1"; sleep 20; kill -CONT "${gateway_pid[$1]}"; }
    finish_row "SIGSTOP $1 20s" "frozen at 30% for 20 s, then SIGCONT"
}
kill_gateway_stop () { kill -STOP "${gateway_pid[$1]}"; }
case_stop-a () { stop_twenty a; }
case_stop-b () { stop_twenty b; }

wan_down () {           # SECONDS
    one_stream
    if wait_delivered 30; then
        ip -n "$bed-gwa" link set wan down
        sleep "$1"
        ip -n "$bed-gwa" link set wan up
    fi
    finish_row "WAN down ${1}s" "ip link set down (gateway A's WAN link) at 30% for $1 s"
}
case_wan-down-5 () { wan_down 5; }
case_wan-down-30 () { wan_down 30; }

case_drop-1 () {
    ip netns exec "$bed-sw" nft -f - <<'NFT' || { row_failed="nft refused the rule"; }
table bridge faults {
    chain forward {
        type filter hook forward priority 0; policy accept;
        iifname { "gwa-wan", "gwb-wan" } numgen random mod 100 < 1 counter drop
    }
}
NFT
    one_stream
    row_hook=drop_note
    finish_row "1% drop on WAN" "frames dropped at random (nftables numgen) for the whole stream"
    row_hook=""
}
#   Runs inside finish_row, once the stream has ended: how many were dropped
drop_note () {
    local dropped
    dropped=$(ip netns exec "$bed-sw" nft list ruleset 2>/dev/null | grep -o 'packets [0-9]*' | grep -o '[0-9]*')
    note="$note: $dropped of them"
    ((dropped > 0)) || row_failed="nothing was dropped"
}

peak_rss () {           # VAR: VmHWM in MiB
    awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/${gateway_pid[$1]}/status" 2>/dev/null
}
case_stall-consumer () {
    one_stream
    local held=""
    if wait_delivered 30; then
        kill -STOP "$check_pid"
        sleep 20
        held="$(peak_rss a)/$(peak_rss b)"
        kill -CONT "$check_pid"
    fi
    local buffer limit
    buffer=$(awk '$1 == "buffer" { print $3 }' "$work/gateway-a.cfg")
    limit=$((2 * 64 + 1024))        # 2 x buffer (64MiB) + 1 GiB, README's bound for one stream
    local peak_a peak_b
    peak_a=$(peak_rss a) peak_b=$(peak_rss b)
    if [[ -z $peak_a || -z $peak_b ]] || ((peak_a > limit || peak_b > limit)); then
        row_failed="peak RSS A $peak_a MiB, B $peak_b MiB, over $limit MiB"
    fi
    finish_row "consumer stalled" "the application stopped at 30% for 20 s; peak RSS A/B ${peak_a}/${peak_b} MiB (${held} at the stall's end; buffer $buffer, bound $limit MiB)"
}

case_pair-lost () {
    start_stream tcp://10.1.0.1:7001,tcp://10.1.0.2:7001 tcp://10.3.0.1:7002,tcp://10.3.0.2:7002
    local a b
    if wait_delivered 40; then
        if grep -q "stream 'run' opened" "$row/a2-1.err"; then a=a2 b=b2; else a=a b=b; fi
        kill_gateway "$a" KILL
        kill_gateway "$b" KILL
    fi
    finish_row "one pair lost" "two pairs; the pair carrying the stream ($a, $b) killed for good at 40%"
}

case_wrong-pin () {
    one_stream
    local told="" fixed_after=""
    if wait_delivered 30; then
        kill_gateway b KILL
        # shellcheck disable=SC2046
        start_gateway b gwb $(b_sets gwb 10.3.0.1 10.2.0.1 gateway-b gateway-a) \
            --set "peer/public-key=$work/keys/impostor.pub" || row_failed="B did not start"
        local started=$SECONDS
        #   Both clients are told why the stream stands still
        if wait_for "clients told" told_both; then
            told="both told after $((SECONDS - started)) s, recv: \"$(grep -h 'not resumed yet: .*pin' "$row/recv.err" |
                head -1 | sed 's/.*not resumed yet: //' | cut -c1-160)...\""
        else
            row_failed="the clients were not told within 60 s"
        fi
        kill_gateway b KILL
        # shellcheck disable=SC2046
        start_gateway b gwb $(b_sets gwb 10.3.0.1 10.2.0.1 gateway-b gateway-a) ||
            row_failed="B did not start again"
        fixed_after=$SECONDS
    fi
    finish_row "wrong pin at B" "B started again pinning another key for A, then with the right one; $told"
}
told_both () {
    grep -q 'not resumed yet: .*pinned\|not resumed yet: .*pin this' "$row/send.err" &&
        grep -q 'not resumed yet: .*pinned\|not resumed yet: .*pin this' "$row/recv.err"
}

case_key-rewrite () {
    one_stream
    local file=$work/keys/facility-a/producer.pub content count=0
    content=$(cat "$file"; echo x)
    content=${content%x}                            # every byte, trailing newlines too
    if wait_delivered 5; then
        while ((count < 1000)) && running; do
            printf '%s' "$content" >"$file"         # truncated, then written: in place
            count=$((count + 1))
            sleep 0.005
        done
    fi
    ((count == 1000)) || row_failed="only $count rewrites before the stream ended"
    #   not disturbed: no resume either
    if grep -q 'resumed after' "$row/send.err" "$row/recv.err"; then
        row_failed="${row_failed:+$row_failed; }the stream was disturbed (resumed)"
    fi
    grep -q 'no longer trusted' "$row"/a-*.err && row_failed="${row_failed:+$row_failed; }A revoked the key"
    finish_row "key file rewritten" "the producer's .pub at A rewritten in place $count times during the stream"
}

case_direct () {
    #   The same bed and cap: a direct TCP flow across the WAN, gateway A's
    #   host to gateway B's (iperf3), then the proxied stream
    bash "$netbed" exec "$bed" gwb iperf3 -s -1 -B 10.2.0.2 -p 5999 >"$row/iperf-server" 2>&1 &
    children+=($!)
    direct=""
    wait_for "iperf3 server" grep -q 'listening' "$row/iperf-server"
    if bash "$netbed" exec "$bed" gwa iperf3 -c 10.2.0.2 -p 5999 -n "$bytes" -J >"$row/iperf.json" 2>&1; then
        direct=$(python3 -c 'import json, sys
end = json.load(open(sys.argv[1]))["end"]["sum_received"]
print(round(end["bytes"] / end["seconds"]))' "$row/iperf.json")
    fi
    one_stream
    row_hook=direct_ratio
    finish_row "proxied/direct" ""
    row_hook=""
}
#   Runs inside finish_row: the stream's rate (first byte to last at the
#   consumer's application) over the direct flow's
direct_ratio () {
    local proxied ratio
    if [[ -z $direct ]]; then
        row_failed="no direct figure (iperf3: $(tail -1 "$row/iperf.json" 2>/dev/null))"
        return
    fi
    proxied=$(awk -v b="$got" -v s="$seconds" 'BEGIN { if (s > 0) printf "%.0f", b / s; else print 0 }')
    ratio=$(awk -v p="$proxied" -v d="$direct" 'BEGIN { printf "%.3f", p / d }')
    note=$(awk -v p="$proxied" -v d="$direct" -v r="$ratio" -v c="$cap" 'BEGIN {
        printf "under a %s cap: proxied %.1f MB/s, direct TCP (iperf3) %.1f MB/s: %.3fx (target 0.95x)",
               c, p / 1e6, d / 1e6, r }')
    awk -v r="$ratio" 'BEGIN { exit !(r >= 0.95) }' || row_failed="below the 0.95x target"
}

#   --------------------------------------------------------------------------

keys
say "work folder $work, bed $bed, $mebibytes MiB per row, WAN cap $cap, seed $seed"
printf '| %-15s | %-5s | %10s | %10s | %4s | %4s | %7s | %7s | %7s | %s |\n' \
    "fault" "clean" "bytes sent" "delivered" "dups" "lost" "stall s" "resumes" "resume s" "what was done" |
    tee "$work/table"
echo "|-----------------|-------|------------|------------|------|------|---------|---------|---------|------|" |
    tee -a "$work/table"
all_clean=true
for case_name in $cases; do
    say "row $case_name"
    second=""
    [[ $case_name == pair-lost ]] && second=--second-pair
    if begin_row "$case_name" $second; then
        "case_$case_name"
    else
        all_clean=false
        printf '| %-15s | NO    | the bed or its gateways did not come up: %s |\n' "$case_name" \
            "$(tail -1 "$row"/*.err 2>/dev/null | tail -1)" | tee -a "$work/table"
    fi
    end_row
done
echo
echo "bytes sent: what send took from its input and the consumer acknowledged (its summary line);"
echo "delivered: bytes the consumer's application read; dups, lost: records (1 MiB) delivered twice,"
echo "or never; stall s: the longest the application waited between two reads; resumes: logged by"
echo "send/recv; resume s: the longest stall a resume line reported."
if $all_clean; then
    say "every row clean"
    exit 0
fi
keep=true
say "NOT every row clean"
exit 1
