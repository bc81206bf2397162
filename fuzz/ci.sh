#!/bin/sh
# Short fuzzing pass for CI: builds the libFuzzer targets with clang (ASan +
# UBSan) in a separate build directory and runs `make fuzz` (each target for
# FUZZ_SECONDS, default 30). Exits non-zero on any crash, leak or UBSan
# report; prints how long it took. Run from anywhere; installs clang and
# libclang-rt-14-dev first when they are missing and it runs as root.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$top/_fuzz}
seconds=${FUZZ_SECONDS:-30}
start=$(date +%s)

finish() {
	echo "fuzz/ci.sh: $1 in $(($(date +%s) - start)) s"
	exit "$2"
}

if ! command -v clang >/dev/null 2>&1 ||
	! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null |
	grep -q "ok installed"; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends clang libclang-rt-14-dev >/dev/null
	fi
fi
command -v clang >/dev/null 2>&1 || finish "clang is missing" 1

[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) ||
	finish "autoreconf failed" 1
rm -rf "$build" && mkdir -p "$build" || finish "cannot create $build" 1
src=$top
if [ -f "$top/config.status" ]; then
	# The source tree is configured in place (./bootstrap), which a
	# separate build directory refuses: build from a clean copy of it.
	make -C "$top" distdir distdir="$build/src" >/dev/null ||
		finish "make distdir failed" 1
	src=$build/src
fi
mkdir -p "$build/obj" && cd "$build/obj" || finish "no build directory" 1
"$src/configure" CC=clang --enable-fuzzing --enable-werror >/dev/null ||
	finish "configure --enable-fuzzing failed" 1
make -j2 >/dev/null || finish "build failed" 1
if make fuzz FUZZ_SECONDS="$seconds"; then
	finish "all fuzz targets passed (${seconds} s each)" 0
fi
# Keep what crashed next to the build for the CI log.
ls -l fuzz-out/*-crash-* fuzz-out/*-leak-* fuzz-out/*-timeout-* \
	fuzz-out/*-oom-* 2>/dev/null
finish "a fuzz target FAILED" 1
