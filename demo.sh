#!/bin/sh
# Mounts the bundled sample repository: starts the fake DSpace server with the
# "demo" fixture, mounts it on ./demo-mnt as admin@example.org, shows it, and
# leaves it mounted. "./demo.sh stop" (or "make demo-stop") unmounts and
# stops the server.
set -eu
top=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$PWD}
state="$build/demo-state"
mnt="$build/demo-mnt"
bin="$build/src/dspacefs"

stop() {
	if grep -qs " $mnt fuse" /proc/mounts; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" || true
	fi
	if [ -f "$state/server.pid" ]; then
		kill "$(cat "$state/server.pid")" 2>/dev/null || true
		rm -f "$state/server.pid"
	fi
}

if [ "${1:-}" = stop ]; then
	stop
	echo "demo stopped"
	exit 0
fi

[ -x "$bin" ] || { echo "demo: build first (make)" >&2; exit 1; }
stop
mkdir -p "$state" "$mnt"
rm -f "$state/port"
python3 "$top/tests/fake-dspace/fake_dspace.py" --port 0 --port-file "$state/port" \
	--state "$state/server" --fixture demo >"$state/server.log" 2>&1 &
echo $! >"$state/server.pid"
i=0
while [ ! -s "$state/port" ]; do
	i=$((i + 1))
	if [ $i -gt 300 ]; then
		echo "demo: the fake server did not start; see $state/server.log" >&2
		stop
		exit 1
	fi
	sleep 0.1
done
port=$(cat "$state/port")
umask 077
printf 'admin\n' >"$state/password"
"$bin" -o user=admin@example.org,password_file="$state/password" \
	-o cache_dir="$state/cache" "http://127.0.0.1:$port/server" "$mnt"

echo "Mounted the sample repository (fake DSpace at http://127.0.0.1:$port/server) on $mnt"
echo
if command -v tree >/dev/null 2>&1; then
	tree -L 7 "$mnt" | head -n 80
else
	find "$mnt" -maxdepth 7 | head -n 80
fi
echo
first=$(find "$mnt" -type f | head -n 1)
if [ -n "$first" ]; then
	ls -l "$(dirname "$first")"
	echo
	echo "Metadata as extended attributes:  getfattr -d \"$(dirname "$(dirname "$first")")\""
fi
echo "Unmount and stop the server with:  make demo-stop   (or: fusermount3 -u $mnt)"
