#!/bin/sh
# Fork with shared page tables (issue 12) beside the per-page fork and the
# native fork, in one run: each case runs the guest bench_fork
# (testdata/guests/bench_fork.c) natively, in the sandbox with
# --fork-share on and with --fork-share off, ROUNDS times interleaved, and
# prints the median of the guest-timed figure of each as a Markdown table.
#
#   fork MiB     fork + child _exit(0) + waitpid, MiB dirtied (per fork)
#   touch MiB    after each fork (the child waiting), the parent's first
#                write in each 2 MiB (per 2 MiB)
#   rewrite MiB  after each fork, a memset of all MiB (per rewrite)
#
# Usage: benches/fork_share.sh [SENTRY [BENCH_FORK]]; defaults: the release
# sentry and the glibc bench_fork of the newest testdata build.
# ROUNDS (default 5) and CASES ("mode:mib:iterations ...") may be set.
set -eu
cd "$(dirname "$0")/.."
SENTRY=${1:-target/release/sentry}
GUEST=${2:-$(ls -td target/*/build/testdata-*/out/glibc/bench_fork | head -1)}
ROUNDS=${ROUNDS:-5}
CASES=${CASES:-"fork:1:200 fork:64:50 fork:1024:10 fork:4096:4 touch:64:20 touch:1024:5 rewrite:64:5"}

field() { # field NAME LINE
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

median() {
	sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

fmt() { # ns -> human
	awk -v n="$1" 'BEGIN {
		if (n == "" || n == "FAILED") { print "FAILED"; exit }
		if (n >= 1e6) printf "%.2f ms", n / 1e6;
		else if (n >= 1e3) printf "%.1f µs", n / 1e3;
		else printf "%.0f ns", n }'
}

echo "sentry: $SENTRY; guest: $GUEST; rounds: $ROUNDS; $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| case | native | sandbox, sharing on | sandbox, sharing off | on / native | on / off |"
echo "| --- | --- | --- | --- | --- | --- |"
for c in $CASES; do
	mode=${c%%:*}
	rest=${c#*:}
	mib=${rest%%:*}
	n=${rest#*:}
	mem=$((mib * 2 + 512))M
	key=per_iter_ns
	[ "$mode" = touch ] && key=per_region_ns
	: >/tmp/fs_native
	: >/tmp/fs_on
	: >/tmp/fs_off
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		line=$("$GUEST" "$mode" "$n" "$mib" 2>/dev/null || true)
		field $key "$line" >>/tmp/fs_native
		line=$("$SENTRY" run --memory "$mem" --fork-share on "$GUEST" "$mode" "$n" "$mib" 2>/dev/null || true)
		field $key "$line" >>/tmp/fs_on
		line=$("$SENTRY" run --memory "$mem" --fork-share off "$GUEST" "$mode" "$n" "$mib" 2>/dev/null || true)
		field $key "$line" >>/tmp/fs_off
		r=$((r + 1))
	done
	nat=$(median </tmp/fs_native)
	on=$(median </tmp/fs_on)
	off=$(median </tmp/fs_off)
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "–"; else printf "%.3f×", a / b }'; }
	what="$mode, $mib MiB"
	[ "$mode" = touch ] && what="first write per 2 MiB after a fork, $mib MiB"
	[ "$mode" = rewrite ] && what="rewrite of $mib MiB after a fork"
	[ "$mode" = fork ] && what="fork + _exit + wait, $mib MiB dirtied"
	echo "| $what | $(fmt "$nat") | $(fmt "$on") | $(fmt "$off") | $(ratio "$on" "$nat") | $(ratio "$on" "$off") |"
done
