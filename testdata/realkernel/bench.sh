#!/usr/bin/env bash
# Time vmtriage, crash and drgn answering "which tasks are UN and which dio each
# waits on" for one lab dump, with peak RSS (/usr/bin/time -v), side by side.
#
#   testdata/realkernel/bench.sh [DUMP [VMLINUX]]
#   default DUMP: $CACHE/lines/6.1-amd64/dumps/B/elf-paging.vmcore; VMLINUX: the
#   vmlinux of the dump's line ($CACHE/lines/LINE/vmlinux)
#
# vmtriage is built once (go build) and the binary is timed; "go run" adds the
# compile. Outputs go to ${BENCH_OUT:-/tmp/vmtriage-bench}/. drgn and crash are the
# sid root's (drgn 0.3.0, crash 9.0.2, through inroot.sh) when roots.sh built it,
# else the host's (drgn 0.0.22 cannot read QEMU's paging:false ELF nor flattened
# files: it is reported as failing there). drgn 0.3.0 cannot read flattened files either.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${VMTRIAGE_CACHE:-$HOME/.cache/vmtriage}/realkernel
DUMP=${1:-$CACHE/lines/6.1-amd64/dumps/B/elf-paging.vmcore}
LINEDIR=$(cd "$(dirname "$DUMP")/../.." 2>/dev/null && pwd)
VMLINUX=${2:-$LINEDIR/vmlinux}
INROOT=()
if [ -s "$CACHE/roots/sid/versions.json" ] && [ "$(id -u)" = 0 ]; then
	INROOT=(env "INROOT_BIND=$HERE:ro" "$HERE/inroot.sh" sid)
fi
OUT=${BENCH_OUT:-/tmp/vmtriage-bench}
mkdir -p "$OUT"
[ -r "$DUMP" ] || { echo "bench: no dump $DUMP (run lab.sh first)" >&2; exit 2; }

measure() { # measure NAME OUTFILE cmd...: prints "NAME seconds rssMB rc"
	local name=$1 out=$2; shift 2
	/usr/bin/time -v -o "$OUT/$name.time" "$@" >"$out" 2>"$OUT/$name.err"
	local rc=$?
	local wall rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$OUT/$name.time")
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$OUT/$name.time")
	printf '%-10s %10s %8s MB  rc=%s\n' "$name" "$wall" "$rss" "$rc"
}

echo "dump:    $DUMP ($(du -h "$DUMP" | cut -f1))"
echo "vmlinux: $VMLINUX"
echo "drgn/crash: ${INROOT[*]:-host}"
echo "go build ./cmd/vmtriage ..."
t0=$(date +%s.%N)
(cd "$ROOT" && go build -o "$OUT/vmtriage" ./cmd/vmtriage) || { echo "bench: go build failed" >&2; exit 2; }
echo "  build $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s"

# the dio addresses drgn found for this scenario, so that crash prints the same objects
DRGNJSON=$(dirname "$DUMP")/drgn.json
CMD="$OUT/crash.cmd"
{
	echo "ps -m"
	echo "foreach UN bt"
	if [ -s "$DRGNJSON" ]; then
		/usr/bin/python3 -c 'import json,sys
for t in json.load(open(sys.argv[1]))["un_tasks"]:
    if "dio" in t: print("struct dio.refcount,bio_list,waiter,is_async,result", t["dio"]["dio"])' "$DRGNJSON"
	fi
	echo quit
} >"$CMD"

printf '%-10s %10s %11s\n' tool wall "peak RSS"
measure vmtriage "$OUT/vmtriage.json" "$OUT/vmtriage" analyze "$DUMP" --vmlinux "$VMLINUX" --format json
MODS=$(find "$LINEDIR/debug-modules" -name '*.ko' 2>/dev/null | tr '\n' ' ')
PYTHON=/usr/bin/python3
[ ${#INROOT[@]} -gt 0 ] && PYTHON=python3
cp "$CMD" "$CACHE/.bench-crash.cmd" # inside the root only the cache is visible
# shellcheck disable=SC2086
measure drgn "$OUT/drgn.json" "${INROOT[@]}" $PYTHON "$HERE/oracle_drgn.py" "$DUMP" "$VMLINUX" $MODS
measure crash "$OUT/crash.txt" "${INROOT[@]}" crash -s "$VMLINUX" "$DUMP" -i "$CACHE/.bench-crash.cmd"
# crash 9.0.2 on 7.2 stops at "invalid structure member offset: module_num_gpl_syms"
if grep -q 'invalid structure member offset' "$OUT/crash.err" "$OUT/crash.txt" 2>/dev/null; then
	measure crash-nomod "$OUT/crash.txt" "${INROOT[@]}" crash -s --no_modules "$VMLINUX" "$DUMP" -i "$CACHE/.bench-crash.cmd"
fi
rm -f "$CACHE/.bench-crash.cmd"
echo
echo "answers:"
/usr/bin/python3 -c 'import json,sys
try:
    r = json.load(open(sys.argv[1]))
except Exception:
    print("  vmtriage: no JSON:", open(sys.argv[2]).read().strip().splitlines()[:2]); sys.exit()
for t in r.get("hung_tasks") or []:
    print("  vmtriage: UN pid %s %s wait %s" % (t.get("pid"), t.get("comm"), t.get("wait_channel")))
for f in r.get("findings") or []:
    e = f.get("evidence") or {}
    print("  vmtriage: finding %s: dio %s refcount %s waiter %s bio_list %s" % (f.get("rule"), e.get("dio"),
          e.get("refcount"), e.get("waiter"), e.get("bio_list")))' "$OUT/vmtriage.json" "$OUT/vmtriage.err"
/usr/bin/python3 -c 'import json,sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("  drgn: no answer:", open(sys.argv[2]).read().strip().splitlines()[-1:]); sys.exit()
for t in d["un_tasks"]:
    dio = t.get("dio") or {}
    print("  drgn: UN pid %d %s dio %s refcount %s waiter %s bio_list %s" % (t["pid"], t["comm"],
          dio.get("dio"), dio.get("refcount"), dio.get("waiter"), dio.get("bio_list")))' "$OUT/drgn.json" "$OUT/drgn.err"
echo "  crash: $(grep -cE '(\[UN\]|^ *>? *[0-9]+ .* UN )' "$OUT/crash.txt") UN tasks in ps; dio fields: $(grep -E 'refcount|waiter' "$OUT/crash.txt" | tr -s ' \n' ' ')"
echo "(full outputs in $OUT)"
