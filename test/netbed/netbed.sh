#!/usr/bin/env bash
#   netbed: a test bed of network namespaces shaped like two facilities.
#
#   facility A                    WAN                    facility B
#   instr --- lan-a --- gwa ----- wan ----- gwb --- lan-b --- ana
#                  \--- gwa2 ----/   \----- gwb2 ---/          (--second-pair)
#
#   Every host is a network namespace NAME-HOST; the three segments are
#   bridges in a switch namespace of their own, NAME-sw, so that beds of
#   different NAMEs share nothing (their addresses repeat) and the root
#   namespace's links and routes are never touched. Each host has one
#   connected route per segment it is on and no default route: the
#   instrument and the analysis host reach their own LAN only, and the
#   gateways do not forward (net.ipv4.ip_forward = 0).
#
#   test/netbed/netbed.sh --help says how to use it. Needs root, iproute2
#   (ip netns, bridge, tc) and flock (util-linux).
#
#   Copyright the sstream authors. Licensed under the Apache License 2.0.
set -euo pipefail

usage () {
    cat <<'EOF'
Usage: netbed.sh COMMAND NAME [ARGS]

  up NAME [--second-pair]    make the bed (first removing one of the same NAME)
                             and print its namespaces and addresses, KEY=VALUE
  show NAME                  print them again, for a bed that is up
  down NAME                  kill every process in the bed's namespaces and
                             remove them; nothing to remove is no error
  exec NAME HOST CMD...      run CMD in HOST's namespace
  cut NAME SEGMENT [HOST]    drop every frame on SEGMENT (or only HOST's
                             link to it) at the switch: the hosts' links stay
                             up, packets vanish, as when a WAN is cut
  heal NAME SEGMENT [HOST]   undo cut
  cap NAME SEGMENT RATE [HOST]
                             cap what the switch sends to each host on
                             SEGMENT (so each direction) at RATE (tbf; e.g.
                             100mbit, 1gbit); RATE off removes the cap
  check                      exit 0 if beds can be made here, else say why

NAME: 1-24 of a-z, 0-9. HOST: instr, gwa, gwb, ana, and with --second-pair
gwa2, gwb2. SEGMENT: lan-a, wan, lan-b.

Addresses (the same in every bed; each bed has its own switch):
  lan-a 10.1.0.0/24: gwa .1, gwa2 .2, instr .10
  wan   10.2.0.0/24: gwa .1, gwb .2, gwa2 .3, gwb2 .4
  lan-b 10.3.0.0/24: gwb .1, gwb2 .2, ana .10
In a host, its link to lan-a or lan-b is 'lan', to the WAN 'wan'.

Exit status: 0 done, 1 failed (one line on standard error), 2 bad usage.
NETBED_TIMEOUT (seconds, default 30) bounds every wait.
EOF
}

die () { echo "netbed: $*" >&2; exit 1; }
usage_error () { echo "netbed: $* (netbed.sh --help)" >&2; exit 2; }

timeout=${NETBED_TIMEOUT:-30}
[[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || usage_error "NETBED_TIMEOUT must be a whole number of seconds"

#   The layout: host -> segments, segment -> subnet, host on segment -> address
hosts_first="instr gwa gwb ana"
hosts_second="gwa2 gwb2"
segments="lan-a wan lan-b"
declare -A host_segments=(
    [instr]="lan-a" [gwa]="lan-a wan" [gwb]="wan lan-b" [ana]="lan-b"
    [gwa2]="lan-a wan" [gwb2]="wan lan-b")
declare -A subnet=([lan-a]=10.1.0 [wan]=10.2.0 [lan-b]=10.3.0)
declare -A host_number=(
    [instr:lan-a]=10 [gwa:lan-a]=1 [gwa2:lan-a]=2
    [gwa:wan]=1 [gwb:wan]=2 [gwa2:wan]=3 [gwb2:wan]=4
    [gwb:lan-b]=1 [gwb2:lan-b]=2 [ana:lan-b]=10)

interface_of () { [[ $1 == wan ]] && echo wan || echo lan; }       # in a host
port_of () { echo "$1-$2"; }                                        # in the switch: HOST-SEGMENT
address_of () { echo "${subnet[$2]}.${host_number[$1:$2]}"; }

#   Run a command; on failure, die with its first line of error
run () {
    local out
    if ! out=$("$@" 2>&1); then
        die "$* failed: ${out%%$'\n'*}"
    fi
}

namespace_exists () { [[ -e /run/netns/$1 ]]; }

check_name () {
    [[ -n ${1:-} ]] || usage_error "no NAME given"
    [[ $1 =~ ^[a-z0-9]{1,24}$ ]] || usage_error "bad NAME '$1': 1-24 of a-z, 0-9"
}

#   The bed's hosts that exist
hosts_of () {
    local host
    for host in $hosts_first $hosts_second; do
        if namespace_exists "$1-$host"; then echo "$host"; fi
    done
}

check_host () {     # NAME HOST
    [[ -n ${host_segments[$2]:-} ]] || usage_error "unknown host '$2': instr, gwa, gwb, ana, gwa2, gwb2"
    namespace_exists "$1-$2" || die "bed '$1' has no host $2 (is it up?)"
}

check_up () { namespace_exists "$1-sw" || die "bed '$1' is not up"; }

#   Poll until a command succeeds, for at most the timeout
wait_until () {     # WHAT CMD...
    local what=$1 deadline=$((SECONDS + timeout))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || die "$what: not within ${timeout}s"
        sleep 0.02
    done
}

sysctls () {        # NAMESPACE KEY=VALUE...
    local namespace=$1
    shift
    run ip netns exec "$namespace" sysctl -q -w "$@"
}


#   -------------------------------------------------------------------------
#   down

#   Kill the namespace's processes and wait until they are gone: a
#   namespace outlives its name while a process is in it
empty_namespace () {
    local pids deadline=$((SECONDS + timeout))
    pids=$(ip netns pids "$1" 2>/dev/null || true)
    [[ -z $pids ]] && return 0
    kill -KILL $pids 2>/dev/null || true
    while [[ -n $(ip netns pids "$1" 2>/dev/null || true) ]]; do
        ((SECONDS < deadline)) || die "processes in $1 did not end within ${timeout}s"
        sleep 0.02
    done
}

cmd_down () {
    check_name "${1:-}"
    local name=$1 host namespace out
    for host in $hosts_first $hosts_second sw; do
        namespace=$name-$host
        namespace_exists "$namespace" || continue
        empty_namespace "$namespace"
        if ! out=$(ip netns delete "$namespace" 2>&1); then
            #   A name whose namespace is gone already (a bed killed
            #   halfway through ip netns add): only the file is left
            umount "/run/netns/$namespace" 2>/dev/null || true
            rm -f "/run/netns/$namespace" 2>/dev/null \
                || die "ip netns delete $namespace failed: ${out%%$'\n'*}"
        fi
    done
}


#   -------------------------------------------------------------------------
#   up

print_values () {   # NAME
    local name=$1 host segment key
    echo "NAME=$name"
    echo "SWITCH_NS=$name-sw"
    for host in $(hosts_of "$name"); do
        key=${host^^}
        echo "${key}_NS=$name-$host"
        for segment in ${host_segments[$host]}; do
            echo "${key}_$(interface_of "$segment" | tr a-z A-Z)=$(address_of "$host" "$segment")"
        done
    done
    for segment in $segments; do
        key=${segment^^}
        echo "${key//-/_}_SUBNET=${subnet[$segment]}.0/24"
    done
}

link_is_up () {     # NAMESPACE INTERFACE
    [[ $(ip -n "$1" -o link show dev "$2" 2>/dev/null) == *"state UP"* ]]
}

port_forwards () {  # SWITCH PORT
    [[ $(bridge -n "$1" link show dev "$2" 2>/dev/null) == *"state forwarding"* ]]
}

address_is_there () {   # NAMESPACE INTERFACE ADDRESS
    [[ $(ip -n "$1" -o -4 addr show dev "$2" 2>/dev/null) == *" $3/24 "* ]]
}

make_namespace () {
    #   One at a time on the machine: the first ip netns add sets up the
    #   mount of /run/netns, and two doing that at once may both mount it
    run flock -w "$timeout" /run/lock/netbed.lock ip netns add "$1"
    #   No IPv6 (no link-local addresses, router solicitations or DAD to
    #   wait for); no forwarding, whatever the defaults
    sysctls "$1" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
            net.ipv4.ip_forward=0
    run ip -n "$1" link set lo up
}

attach () {         # NAME HOST SEGMENT
    local switch=$1-sw namespace=$1-$2 port interface address
    port=$(port_of "$2" "$3")
    interface=$(interface_of "$3")
    address=$(address_of "$2" "$3")
    run ip -n "$switch" link add "$port" type veth peer name "$interface" netns "$namespace"
    run ip -n "$switch" link set "$port" master "$3" up
    run ip -n "$namespace" addr add "$address/24" dev "$interface"
    run ip -n "$namespace" link set "$interface" up
}

cmd_up () {
    check_name "${1:-}"
    local name=$1 second=false host segment
    shift
    while (($#)); do
        case $1 in
            --second-pair) second=true ;;
            *) usage_error "up: unknown option '$1'" ;;
        esac
        shift
    done
    cmd_down "$name"
    #   From here, a failure takes down what was made
    trap 'status=$?; ((status == 0)) || cmd_down "'"$name"'" 2>/dev/null || true; exit $status' EXIT
    local hosts=$hosts_first
    $second && hosts="$hosts $hosts_second"
    make_namespace "$name-sw"
    for segment in $segments; do
        run ip -n "$name-sw" link add "$segment" type bridge stp_state 0
        run ip -n "$name-sw" link set "$segment" up
    done
    for host in $hosts; do
        make_namespace "$name-$host"
        for segment in ${host_segments[$host]}; do
            attach "$name" "$host" "$segment"
        done
    done
    for host in $hosts; do
        for segment in ${host_segments[$host]}; do
            local interface
            interface=$(interface_of "$segment")
            wait_until "$host's link to $segment up" link_is_up "$name-$host" "$interface"
            wait_until "$host's address on $segment" \
                address_is_there "$name-$host" "$interface" "$(address_of "$host" "$segment")"
            wait_until "switch port of $host on $segment forwarding" \
                port_forwards "$name-sw" "$(port_of "$host" "$segment")"
        done
    done
    trap - EXIT
    print_values "$name"
}

cmd_show () {
    check_name "${1:-}"
    check_up "$1"
    print_values "$1"
}


#   -------------------------------------------------------------------------
#   exec, cut, heal, cap

cmd_exec () {
    check_name "${1:-}"
    [[ -n ${2:-} ]] || usage_error "exec: no HOST given"
    check_host "$1" "$2"
    (($# > 2)) || usage_error "exec: no command given"
    local namespace=$1-$2
    shift 2
    exec ip netns exec "$namespace" "$@"
}

#   The switch ports of SEGMENT, or of HOST on it
ports_of () {       # NAME SEGMENT [HOST]
    local name=$1 segment=$2 host
    [[ -n ${subnet[$segment]:-} ]] || usage_error "unknown segment '$segment': lan-a, wan, lan-b"
    if [[ -n ${3:-} ]]; then
        check_host "$name" "$3"
        [[ " ${host_segments[$3]} " == *" $segment "* ]] || usage_error "host $3 is not on $segment"
        port_of "$3" "$segment"
        return
    fi
    for host in $(hosts_of "$name"); do
        if [[ " ${host_segments[$host]} " == *" $segment "* ]]; then port_of "$host" "$segment"; fi
    done
}

port_state_is () {  # SWITCH PORT STATE
    [[ $(bridge -n "$1" link show dev "$2" 2>/dev/null) == *"state $3"* ]]
}

#   A bridge port in state disabled drops every frame, both ways, while
#   the veth stays up: the host sees silence, not a link going down
set_ports () {      # cut|heal NAME SEGMENT [HOST]
    local action=$1 name=${2:-} segment=${3:-} port ports state number
    check_name "$name"
    check_up "$name"
    [[ -n $segment ]] || usage_error "$action: no SEGMENT given (lan-a, wan, lan-b)"
    (($# <= 4)) || usage_error "$action: too many arguments"
    ports=$(ports_of "$name" "$segment" "${4:-}")
    if [[ $action == cut ]]; then state=disabled number=0; else state=forwarding number=3; fi
    for port in $ports; do
        run bridge -n "$name-sw" link set dev "$port" state "$number"
        wait_until "$port $state" port_state_is "$name-sw" "$port" "$state"
    done
}

#   RATE as tc writes it (NUMBER[k|m|g]bit) in bytes per second
rate_bytes () {
    local number unit
    [[ $1 =~ ^([0-9]+)(bit|kbit|mbit|gbit)$ ]] || usage_error "bad RATE '$1': e.g. 500kbit, 100mbit, 1gbit"
    number=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
    case $unit in
        bit) echo $((number / 8)) ;;
        kbit) echo $((number * 1000 / 8)) ;;
        mbit) echo $((number * 1000000 / 8)) ;;
        gbit) echo $((number * 1000000000 / 8)) ;;
    esac
}

cmd_cap () {
    local name=${1:-} segment=${2:-} rate=${3:-} port ports bytes burst
    check_name "$name"
    check_up "$name"
    [[ -n $segment && -n $rate ]] || usage_error "cap: give SEGMENT and RATE"
    (($# <= 4)) || usage_error "cap: too many arguments"
    ports=$(ports_of "$name" "$segment" "${4:-}")
    if [[ $rate == off ]]; then
        for port in $ports; do
            ip -n "$name-sw" link show dev "$port" >/dev/null 2>&1 || die "no port $port"
            tc -n "$name-sw" qdisc del dev "$port" root 2>/dev/null || true
        done
        return
    fi
    bytes=$(rate_bytes "$rate")
    ((bytes > 0)) || usage_error "RATE '$rate' is zero"
    #   Bursts of 10 ms at the rate, and at least a few frames
    burst=$((bytes / 100))
    ((burst >= 16384)) || burst=16384
    for port in $ports; do
        run tc -n "$name-sw" qdisc replace dev "$port" root tbf rate "$rate" burst "$burst" latency 200ms
    done
}

cmd_check () {
    ((EUID == 0)) || die "not root"
    command -v ip >/dev/null || die "ip (iproute2) is not installed"
    command -v bridge >/dev/null || die "bridge (iproute2) is not installed"
    command -v flock >/dev/null || die "flock (util-linux) is not installed"
    local probe=netbed-check-$$ out
    if ! out=$(flock -w "$timeout" /run/lock/netbed.lock ip netns add "$probe" 2>&1); then
        die "ip netns add failed: ${out%%$'\n'*}"
    fi
    ip netns delete "$probe" 2>/dev/null || true
}


#   -------------------------------------------------------------------------

command=${1:-}
[[ -n $command ]] || usage_error "no command given"
shift
case $command in
    -h|--help|help) usage ;;
    up) cmd_up "$@" ;;
    down) (($# == 1)) || usage_error "down: give NAME only"; cmd_down "$@" ;;
    show) (($# == 1)) || usage_error "show: give NAME only"; cmd_show "$@" ;;
    exec) cmd_exec "$@" ;;
    cut) set_ports cut "$@" ;;
    heal) set_ports heal "$@" ;;
    cap) cmd_cap "$@" ;;
    check) (($# == 0)) || usage_error "check takes no arguments"; cmd_check ;;
    *) usage_error "unknown command '$command'" ;;
esac
