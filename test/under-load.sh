#!/usr/bin/env bash
#   The whole suite (ctest), RUNS times in a row, on a loaded machine: two
#   busy loops (yes > /dev/null) take the cores, and a loop opens and closes
#   loopback connections so that the kernel keeps handing out ephemeral
#   ports. A test that borrows a port, or that needs the machine to be fast,
#   fails here sooner or later.
#
#   bash test/under-load.sh BUILD_DIR [RUNS]     (RUNS: 5 unless given)
#
#   Prints each run's result and time, then how many were green and red;
#   exits 1 if any was red. Each run's output is in BUILD_DIR/under-load/.
#   The load stops when the script does, however it ends.
set -uo pipefail

usage () { echo "usage: bash test/under-load.sh BUILD_DIR [RUNS]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
build=$1
runs=${2:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || usage
[ -f "$build/CTestTestfile.cmake" ] || { echo "$build: not a build folder with tests" >&2; exit 2; }
python=$(command -v python3) || { echo "the connection churn needs python3" >&2; exit 2; }
logs=$build/under-load
mkdir -p "$logs"

load=()
stop_load () {
    local pid
    for pid in "${load[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${load[@]}"; do
        wait "$pid" 2>/dev/null
    done
    load=()
}
trap stop_load EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

yes > /dev/null &
load+=($!)
yes > /dev/null &
load+=($!)
#   Client closes first: its side, on an ephemeral port, goes to TIME_WAIT.
#   A few hundred a second keeps ports changing hands without using up
#   the range.
"$python" - <<'PY' &
import signal, socket, sys, threading, time

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(256)
address = listener.getsockname()
opened = 0


def serve():
    while True:
        connection, _ = listener.accept()
        connection.close()


def report(*_):
    print("connection churn: %d loopback connections opened and closed" % opened, file=sys.stderr)
    sys.exit(0)


signal.signal(signal.SIGTERM, report)
threading.Thread(target=serve, daemon=True).start()
while True:
    client = socket.socket()
    try:
        client.connect(address)
        opened += 1
    except OSError:
        time.sleep(0.05)
    finally:
        client.close()
    time.sleep(0.003)
PY
load+=($!)
echo "load: 2 x yes, loopback connection churn (pids ${load[*]}); $runs runs of ctest in $build"

green=0
red=0
for run in $(seq 1 "$runs"); do
    log=$logs/run-$run.log
    started=$(date +%s)
    if ctest --test-dir "$build" --output-on-failure > "$log" 2>&1; then
        green=$((green + 1))
        result=green
    else
        red=$((red + 1))
        result="RED: $(awk '/tests FAILED:/ { found = 1; next }
                            found && sub (/^[[:space:]]+[0-9]+ - /, "") { printf "%s, ", $0 }' "$log")see $log"
    fi
    echo "run $run of $runs: $result in $(( $(date +%s) - started )) s"
done
stop_load
echo "$green green, $red red out of $runs runs"
[ "$red" -eq 0 ]
