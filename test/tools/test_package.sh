#!/usr/bin/env bash
#   The Debian package of a build: makes it (cpack -G DEB, into
#   BUILD/packages), then checks what it holds, what it depends on and its
#   maintainer scripts, and unpacks it into a scratch root (dpkg -x) to
#   run what it installs there: the tool and its plugins, the manual pages,
#   the Python package and the systemd unit.
#
#   bash test/tools/test_package.sh BUILD
#
#   BUILD/package.env (cmake/packaging.cmake) says where the build
#   installs. ctest runs this on its own build; .ci/run on a build for /usr.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUILD" >&2; exit 2; }
build=$(cd "$1" && pwd)
source=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=/dev/null
. "$build/package.env"
cpack=${CPACK:-cpack}
for program in "$cpack" dpkg-deb readelf systemd-analyze groff /usr/bin/python3; do
    command -v "$program" > /dev/null || {
        echo "test_package: $program is missing (apt-get install cmake dpkg binutils systemd groff-base python3)" >&2
        exit 1; }
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
root=$scratch/root
passed=0
failed=0
pass () { passed=$((passed + 1)); echo "ok: $*"; }
fail () { failed=$((failed + 1)); echo "FAIL: $*"; }
check () {      # check WHAT COMMAND...: passes if COMMAND succeeds
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

#   The package
rm -rf "$build/packages"
if ! (cd "$build" && "$cpack" -G DEB) > "$scratch/cpack.log" 2>&1; then
    cat "$scratch/cpack.log"
    echo "test_package: cpack -G DEB failed"
    exit 1
fi
debs=("$build"/packages/*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || { echo "test_package: no single .deb in $build/packages"; exit 1; }
deb=${debs[0]}
echo "package: $deb ($(stat -c %s "$deb") bytes)"

#   What it holds
dpkg-deb -c "$deb" > "$scratch/contents"
awk '{ print $6 }' "$scratch/contents" | sed 's|^\./|/|; s|/$||' | grep -v '^$' | sort > "$scratch/paths"
dpkg-deb -x "$deb" "$root"
commands=$(LD_LIBRARY_PATH="$root$LIBDIR" "$root$BINDIR/sstream-pipe" --help \
           | awk '/^Commands:/ { inside = 1; next } inside && /^  [a-z]+ / { print $1 }')
[ -n "$commands" ] || fail "sstream-pipe --help lists commands"

expected=("$BINDIR/sstream-pipe"
          "$LIBDIR/libsstream.so.$VERSION" "$LIBDIR/libsstream.so.$SOVERSION" "$LIBDIR/libsstream.so"
          "$PLUGINDIR/sstream-transport-tcp.so" "$PLUGINDIR/sstream-transport-ipc.so"
          "$LIBDIR/pkgconfig/sstream.pc" "$LIBDIR/cmake/sstream/sstreamConfig.cmake"
          "$LIBDIR/cmake/sstream/sstreamConfigVersion.cmake" "$LIBDIR/cmake/sstream/sstreamTargets.cmake"
          "$UNITDIR/sstream-gateway@.service"
          "$MANDIR/man1/sstream-pipe.1.gz"
          "$DOCDIR/copyright" "$DOCDIR/README.md"
          "$DOCDIR/examples/gateway-a.cfg" "$DOCDIR/examples/gateway-b.cfg"
          "$DOCDIR/examples/producer.cfg" "$DOCDIR/examples/consumer.cfg"
          "$DOCDIR/examples/python/detector_producer.py" "$DOCDIR/examples/python/running_mean_consumer.py"
          "$PYTHONDIR/sstream/__init__.py" "$PYTHONDIR/sstream/_native.py"
          "$PYTHONDIR/sstream/errors.py" "$PYTHONDIR/sstream/_paths.py" "$PYTHONDIR/sstream/py.typed")
for header in "$source"/core/include/*.h; do
    expected+=("$INCLUDEDIR/$(basename "$header")")
done
for command in $commands; do
    expected+=("$MANDIR/man1/sstream-pipe-$command.1.gz")
done
missing=0
for path in "${expected[@]}"; do
    grep -qxF "$path" "$scratch/paths" || { echo "  not in the package: $path"; missing=$((missing + 1)); }
done
check "the package holds all ${#expected[@]} expected files" [ $missing -eq 0 ]
outside=0
while read -r path; do
    case $path in
        "$PREFIX" | "$PREFIX"/*) ;;
        *) case "$PREFIX/" in "$path"/*) ;; *) echo "  outside $PREFIX: $path"; outside=$((outside + 1)) ;; esac ;;
    esac
done < "$scratch/paths"
check "everything is under $PREFIX" [ $outside -eq 0 ]
check "no compiled Python, no build-tree leftovers" bash -c "! grep -e __pycache__ -e '\.pyc\$' -e CMakeFiles \"\$1\"" _ "$scratch/paths"
check "every file is root's and readable by all" \
    bash -c "! awk '\$2 != \"root/root\" || \$1 !~ /^[-dl]r.xr.xr.x|^-rw-r--r--/' \"\$1\" | grep ." _ "$scratch/contents"

#   What it depends on: every library the package's programs and libraries
#   need comes from a package it names
dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -v '^$' | sort -u > "$scratch/depends"
echo "depends: $(tr '\n' ' ' < "$scratch/depends")"
for package in libzmq5 libczmq4 libsodium23 libmsgpackc2 libssl3 libc6 adduser; do
    check "Depends names $package" grep -qxF "$package" "$scratch/depends"
done
owner_of () {   # the package that holds a library, by any of its names (merged /usr)
    local real candidate owner
    real=$(readlink -f "$1")
    for candidate in "$1" "$real" "${real/#\/usr\/lib\//\/lib\/}" "${1/#\/lib\//\/usr\/lib\/}"; do
        owner=$(dpkg -S "$candidate" 2> /dev/null | sed -n '1s/[:,].*//p') || true
        [ -z "$owner" ] || { echo "$owner"; return; }
    done
}
: > "$scratch/needed-packages"
while read -r file; do
    [ -f "$root$file" ] && [ ! -L "$root$file" ] && head -c 4 "$root$file" | grep -q ELF || continue
    for needed in $(readelf -d "$root$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        case $needed in libsstream.so.*) continue ;; esac
        resolved=$(LD_LIBRARY_PATH="$root$LIBDIR" ldd "$root$file" | awk -v lib="$needed" '
            $1 == lib && $2 == "=>" { print $3 }
            $2 != "=>" && $1 ~ ("/" lib "$") { print $1 }')
        if [ -z "$resolved" ] || [ ! -e "$resolved" ]; then
            fail "$file needs $needed, which is not on this system"
            continue
        fi
        owner=$(owner_of "$resolved")
        [ -n "$owner" ] || { fail "$file needs $resolved, which no package holds"; continue; }
        echo "$owner $needed $file" >> "$scratch/needed-packages"
    done
done < "$scratch/paths"
unnamed=$(awk '{ print $1 }' "$scratch/needed-packages" | sort -u | grep -vxF -f "$scratch/depends" || true)
check "Depends names the package of every library linked ($(awk '{ print $1 }' "$scratch/needed-packages" | sort -u | tr '\n' ' '))" \
    [ -z "$unnamed" ]
[ -z "$unnamed" ] || grep -F "$unnamed" "$scratch/needed-packages"

#   Maintainer scripts: present, executable, valid sh; postinst makes the
#   service's user and the keys folder (run here against stand-ins for the
#   commands it calls, which only say what they were asked)
mkdir -p "$scratch/control"
dpkg-deb -e "$deb" "$scratch/control"
for script in postinst prerm postrm; do
    check "$script is executable sh" bash -c '[ -x "$1" ] && sh -n "$1"' _ "$scratch/control/$script"
done
check "prerm takes Python's compiled files away" \
    grep -qxF "rm -rf \"$PYTHONDIR/sstream/__pycache__\"" "$scratch/control/prerm"
check "triggers runs ldconfig" grep -qx 'activate-noawait ldconfig' "$scratch/control/triggers"
check "shlibs names libsstream.so.$SOVERSION" grep -q "^libsstream $SOVERSION sstream" "$scratch/control/shlibs"
mkdir -p "$scratch/shims"
for shim in adduser install systemctl; do
    printf '#!/bin/sh\necho "%s $*" >> "%s/calls"\n' "$shim" "$scratch" > "$scratch/shims/$shim"
done
printf '#!/bin/sh\nexit 2\n' > "$scratch/shims/getent"          # no such user yet
chmod +x "$scratch/shims/"*
PATH="$scratch/shims:$PATH" sh "$scratch/control/postinst" configure
cat "$scratch/calls"
check "postinst makes the system user sstream" \
    grep -q '^adduser --system --group .*--home /nonexistent.* sstream$' "$scratch/calls"
if [ ! -d "$CONFIGDIR/keys" ]; then
    check "postinst makes $CONFIGDIR/keys, root:sstream 0750" \
        grep -qxF "install -d -o root -g sstream -m 0750 $CONFIGDIR/keys" "$scratch/calls"
fi
printf '#!/bin/sh\necho "sstream:x:999:999::/nonexistent:/usr/sbin/nologin"\n' > "$scratch/shims/getent"
: > "$scratch/calls"
PATH="$scratch/shims:$PATH" sh "$scratch/control/postinst" configure
check "postinst leaves an existing user sstream alone" bash -c "! grep -q adduser \"\$1\"" _ "$scratch/calls"

#   What it installs, run from the scratch root
pipe=$root$BINDIR/sstream-pipe
runpaths () { readelf -d "$1" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p'; }
for file in "$BINDIR/sstream-pipe" "$LIBDIR/libsstream.so.$VERSION" "$PLUGINDIR/sstream-transport-tcp.so"; do
    check "$(basename "$file"): RUNPATH '$(runpaths "$root$file")' is '$RUNPATH'" \
        [ "$(runpaths "$root$file")" = "$RUNPATH" ]
done
check "the unpacked sstream-pipe takes the unpacked library" \
    bash -c "LD_LIBRARY_PATH='$root$LIBDIR' ldd '$pipe' | grep -qF '$root$LIBDIR/libsstream.so.$SOVERSION'"
check "the unpacked sstream-pipe --help" bash -c \
    "LD_LIBRARY_PATH='$root$LIBDIR' '$pipe' --help | grep -q '^Commands:'"
check "the unpacked sstream-pipe --version is $VERSION" bash -c \
    "[ \"\$(LD_LIBRARY_PATH='$root$LIBDIR' '$pipe' --version)\" = 'sstream-pipe $VERSION' ]"
check "the unpacked tool and plugins stream 4 MiB (demo)" bash -c \
    "SSTREAM_PLUGIN_PATH='$root$PLUGINDIR' LD_LIBRARY_PATH='$root$LIBDIR' '$pipe' demo --bytes 4MiB | grep -q OK"

#   Manual pages: render without a warning, and list every option --help does
for command in "" $commands; do
    name=sstream-pipe${command:+-$command}
    page=$root$MANDIR/man1/$name.1.gz
    [ -f "$page" ] || continue
    warnings=$(zcat "$page" | groff -man -ww -z 2>&1)
    check "$name.1 renders without warnings" [ -z "$warnings" ]
    [ -z "$warnings" ] || echo "$warnings"
    missing=""
    # shellcheck disable=SC2086
    for option in $(LD_LIBRARY_PATH="$root$LIBDIR" "$pipe" $command --help \
                    | grep -oE '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' | grep -oE -- '--[a-z][a-z-]*'); do
        zcat "$page" | grep -qF -- "$(printf '%s' "$option" | sed 's/-/\\-/g')" || missing="$missing $option"
    done
    check "$name.1 has every option of --help" [ -z "$missing" ]
    [ -z "$missing" ] || echo "  missing:$missing"
done

#   The Python package finds the library installed beside it
python_says=$(cd "$scratch" && env -u SSTREAM_LIBRARY PYTHONPATH="$root$PYTHONDIR" PYTHONDONTWRITEBYTECODE=1 \
    /usr/bin/python3 -c 'import sstream, sstream._paths as p; print(sstream.__version__, sstream.version(), sstream._native.path, p.LIBRARY)')
echo "python: $python_says"
read -r py_version lib_version py_path py_installed <<< "$python_says"
check "sstream.__version__ is $VERSION" [ "$py_version" = "$VERSION" ]
check "sstream.version () is $VERSION" [ "$lib_version" = "$VERSION" ]
check "the Python package loads the library beside it" \
    [ "$(readlink -f "$py_path")" = "$(readlink -f "$root$LIBDIR/libsstream.so.$SOVERSION")" ]
check "_paths.py names the installed library" [ "$py_installed" = "$LIBDIR/libsstream.so.$SOVERSION" ]

#   The unit: its paths are the package's, and systemd finds nothing wrong
#   with it (offline; the program's path moved into the scratch root)
unit=$root$UNITDIR/sstream-gateway@.service
check "the unit runs $BINDIR/sstream-pipe on $CONFIGDIR/gateway-%i.cfg" \
    grep -qxF "ExecStart=$BINDIR/sstream-pipe gateway -c $CONFIGDIR/gateway-%i.cfg" "$unit"
for line in Type=notify NotifyAccess=main 'ExecReload=/bin/kill -HUP $MAINPID' User=sstream \
            Restart=on-failure ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet= \
            'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
    check "the unit has $line" grep -qxF "$line" "$unit"
done
mkdir -p "$scratch/units"
sed "s|^ExecStart=$BINDIR/|ExecStart=$root$BINDIR/|" "$unit" > "$scratch/units/sstream-gateway@a.service"
verify=$(systemd-analyze verify --man=no "$scratch/units/sstream-gateway@a.service" 2>&1) && verified=yes || verified=no
check "systemd-analyze verify passes the unit, silently" [ "$verified$verify" = yes ]
[ -z "$verify" ] || echo "$verify"
check "systemd-analyze security rates the unit 2.0 or better" \
    bash -c 'systemd-analyze security --offline=yes --threshold=20 "$1" > /dev/null' _ \
    "$scratch/units/sstream-gateway@a.service"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
