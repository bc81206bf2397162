#!/usr/bin/env bats
# build-aux/check-layers.py (doc/HACKING.md, "Layers"): it names every broken
# rule with its file and line, leaves tables alone, and holds for src/.
# No server and no mount: the script reads source files only.

setup() {
	top_srcdir=${top_srcdir:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
	CHECK="$top_srcdir/build-aux/check-layers.py"
	SRC="$BATS_TEST_TMPDIR/src"
}

# Copies the real src/ (sources only) to $SRC.
copy_src() {
	mkdir -p "$SRC"
	(cd "$top_srcdir/src" && find . -name '*.[ch]' -print0 |
		xargs -0 cp --parents -t "$SRC")
}

# Appends the lines on stdin to $SRC/$1 and prints the number of the first.
append() {
	local first
	first=$(($(wc -l <"$SRC/$1") + 1))
	cat >>"$SRC/$1"
	echo "$first"
}

# Prints a C function called $1 whose body has $2 lines.
function_of() {
	local i
	printf '\n/* A function of %d lines. */\nint %s(void)\n{\n' "$2" "$1"
	printf '\tint x = 0;\n'
	for ((i = 2; i < $2; i++)); do
		printf '\tx += %d;\n' "$i"
	done
	printf '\treturn x;\n}\n'
}

# Prints a file-scope table of $1 rows.
table_of() {
	local i
	printf '/* A table of %d rows. */\nstatic const int table[] = {\n' "$1"
	for ((i = 0; i < $1; i++)); do
		printf '\t%d,\n' "$i"
	done
	printf '};\n'
}

# Runs the check on $SRC.
check() {
	run python3 "$CHECK" "$SRC"
	echo "$output"
}

@test "a core file including <curl/curl.h> is reported" {
	copy_src
	n=$(append core/tree.c <<<'#include <curl/curl.h>')
	check
	[ "$status" -eq 1 ]
	[[ "$output" == *"core/tree.c:$n: includes <curl/curl.h>, allowed only in net/http.c"* ]]
}

@test "the adapter including core/cache.h is reported" {
	copy_src
	n=$(append mount/fs.c <<<'#include "core/cache.h"')
	check
	[ "$status" -eq 1 ]
	[[ "$output" == *"mount/fs.c:$n: the adapter includes core/cache.h"* ]]
}

@test "a DSpace API path spelled in core/ is reported" {
	copy_src
	n=$(append core/names.c <<<'static const char *where = "/api/core/items";')
	check
	[ "$status" -eq 1 ]
	[[ "$output" == *"core/names.c:$n: spells a DSpace API path outside dspace/*"* ]]
}

@test "tree_cache() reaching past tree to the cache is reported" {
	copy_src
	n=$(append core/upload.h <<<'struct cache *tree_cache(struct tree *t);')
	check
	[ "$status" -eq 1 ]
	[[ "$output" == *"core/upload.h:$n: uses tree_cache: the cache database is main.c's to hand out, not tree's"* ]]
}

@test "a 90-line function is reported with its name and length" {
	copy_src
	n=$(function_of too_long 90 | append core/inval.c)
	check
	[ "$status" -eq 1 ]
	# the count starts at the opening brace, four lines below the blank
	[[ "$output" == *"core/inval.c:$((n + 3)): too_long has 90 lines (at most 80)"* ]]
}

@test "a core file including net/http.h is reported" {
	copy_src
	n=$(append core/content.c <<<'#include "net/http.h"')
	check
	[ "$status" -eq 1 ]
	[[ "$output" == *"core/content.c:$n: core includes net/http.h (net); core may include dspace"* ]]
}

@test "tables are exempt: a 100-line static const array is not a function" {
	mkdir -p "$SRC/util"
	table_of 100 >"$SRC/util/table.c"
	function_of just_fits 80 >>"$SRC/util/table.c"
	check
	[ "$status" -eq 0 ]
	[[ "$output" == "check-layers: all rules hold" ]]
}

@test "one line over the limit is reported in a tree of one file" {
	mkdir -p "$SRC/util"
	function_of one_over 81 >"$SRC/util/long.c"
	check
	[ "$status" -eq 1 ]
	[[ "$output" == *"util/long.c:4: one_over has 81 lines (at most 80)"* ]]
	[[ "$output" == *"1 rule(s) broken"* ]]
}

@test "the real src/ keeps every rule (make check-layers)" {
	SRC="$top_srcdir/src"
	check
	[ "$status" -eq 0 ]
	[[ "$output" == *"check-layers: all rules hold"* ]]
}
