#!/usr/bin/env bash
# Seconds to a verdict: vmtriage, drgn and crash answering the same question
# ("which tasks are UN, and which dio does each wait on") on one dump of every
# kernel line of the lab, side by side: wall time (median of BENCH_RUNS runs,
# default 3), CPU time (user+sys, median) and peak RSS (median, /usr/bin/time),
# one markdown table at the end.
#
#   testdata/realkernel/bench.sh                 # every line's B/mdf-zlib + 6.1-amd64 B/elf-paging
#   testdata/realkernel/bench.sh DUMP...         # those dumps (the vmlinux of each dump's line)
#   BENCH_RUNS=1 BENCH_TOOLS="vmtriage drgn" testdata/realkernel/bench.sh   # fewer runs, fewer tools
#
# Columns (BENCH_TOOLS picks groups: vmtriage drgn crash):
#   vmtriage (built once with go build; the binary is timed)
#     btf cold    default analyze (types from the vmlinux's .BTF), empty VMTRIAGE_CACHE
#     dwarf cold  --types dwarf, empty VMTRIAGE_CACHE
#     no vmlinux  --no-vmlinux, empty VMTRIAGE_CACHE ("n/a" when the binary has no such flag)
#     warm        default analyze again with the cache of a first (untimed) run kept: the
#                 report it kept is read back ("n/a" when the binary keeps none)
#     warm kernel the same with --no-cache: only what is kept per kernel (the DWARF type
#                 index) is reused, the dump is analysed again
#   drgn 0.0.22 (host python3-drgn; reads only paging:true ELF and makedumpfile files),
#        0.0.31 (trixie root), 0.3.0 (sid root): bench_drgn.py, written below, with
#        oracle_drgn.py's stack walk (UN tasks, the dio local of the direct-I/O frame,
#        else the stack scan), debug modules loaded as the oracle does
#   crash 8.0.2 (host), 8.0.6 (trixie), 9.0.2 (sid): `ps -m`, `foreach UN bt`,
#        `struct dio` of drgn's dio (drgn.json), quit; on 7.2 with --no_modules
#        (crash stops at "invalid structure member offset: module_num_gpl_syms")
# "cold" is vmtriage's own cache; the files are in the page cache for every run
# (each dump, its vmlinux and debug modules are read once before its first run).
# A cell is "fail" when the tool exits non-zero (vmtriage: above 1; 1 means a
# finding) or gives no answer; answers.txt in BENCH_OUT has what each said.
# Outputs: ${BENCH_OUT:-/tmp/vmtriage-bench}/ (table.md, answers.txt, every run's
# output). The roots need root (inroot.sh); without them those columns are "n/a".
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${VMTRIAGE_CACHE:-$HOME/.cache/vmtriage}/realkernel
RUNS=${BENCH_RUNS:-3}
TOOLS=${BENCH_TOOLS:-vmtriage drgn crash}
OUT=${BENCH_OUT:-/tmp/vmtriage-bench}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

ARGS=("$@")
DUMPS=("$@")
if [ ${#DUMPS[@]} -eq 0 ]; then
	while read -r line _; do
		case $line in '' | '#'*) continue ;; esac
		d=$CACHE/lines/$line/dumps/B
		[ -r "$d/mdf-zlib.vmcore" ] && DUMPS+=("$d/mdf-zlib.vmcore")
		[ "$line" = 6.1-amd64 ] && [ -r "$d/elf-paging.vmcore" ] && DUMPS+=("$d/elf-paging.vmcore")
	done <"$HERE/lines"
fi
[ ${#DUMPS[@]} -gt 0 ] || { echo "bench: no dumps (run lab.sh first)" >&2; exit 2; }

has() { case " $TOOLS " in *" $1 "*) return 0 ;; esac; return 1; }
HAVE_ROOT=0
[ "$(id -u)" = 0 ] && HAVE_ROOT=1
root_ok() { [ $HAVE_ROOT = 1 ] && [ -s "$CACHE/roots/$1/versions.json" ]; }

echo "go build ./cmd/vmtriage ..."
(cd "$ROOT" && go build -o "$OUT/vmtriage" ./cmd/vmtriage) || { echo "bench: go build failed" >&2; exit 2; }
VT=$OUT/vmtriage
NOVMLINUX=0
HELP=$("$VT" analyze --help 2>&1) # not piped into grep -q: pipefail would see vmtriage's SIGPIPE
case $HELP in *--no-vmlinux*) NOVMLINUX=1 ;; esac
NOCACHE=0
case $HELP in *--no-cache*) NOCACHE=1 ;; esac

# The question, asked of drgn: UN tasks and the dio each waits on, with
# oracle_drgn.py's helpers (its stack walk and stack scan), nothing else.
cat >"$OUT/bench_drgn.py" <<'EOF'
import json, os, sys
sys.path.insert(0, sys.argv[1])
import drgn
import oracle_drgn as o
from drgn.helpers.linux.pid import for_each_task
dump, vmlinux, mods = sys.argv[2], sys.argv[3], sys.argv[4:]
prog = drgn.Program()
prog.set_core_dump(dump)
try:
    prog.load_debug_info([vmlinux] + mods, default=False, main=True)
except drgn.MissingDebugInfoError as e:
    print("drgn:", str(e)[:300], file=sys.stderr)
out = {"drgn_version": drgn.__version__, "un_tasks": []}
for task in for_each_task(prog):
    st = o.task_state(task)
    if not (st & o.TASK_UNINTERRUPTIBLE) or st & o.TASK_NOLOAD:
        continue
    frames, detail, dio, count = o.stack_frames(prog, task, {})
    ent = {"pid": int(task.pid), "comm": o.s(task.comm)}
    if dio is None:
        try:
            c = o.scan_stack_for_dio(prog, task)
        except (LookupError, drgn.FaultError):
            c = []
        dio = c[0] if c else None
    if dio is not None:
        ent["dio"] = o.h(dio)
    out["un_tasks"].append(ent)
json.dump(out, sys.stdout)
EOF

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print ""; else print a[int((NR+1)/2)]}'; }

# run NAME KIND cmd...: RUNS timed runs; sets CELL ("1.23 s, 257 MB" or "fail ...").
# KIND: vmtriage (rc 0/1 ok), drgn (JSON with un_tasks), crash (rc 0 and a ps listing).
# VT_CACHE: "fresh" gives every run an empty VMTRIAGE_CACHE; a directory is kept.
run() {
	local name=$1 kind=$2; shift 2
	local walls=() rsses=() cpus=() ok=1 rc i why=""
	for ((i = 1; i <= RUNS; i++)); do
		if [ "$kind" = vmtriage ]; then
			local cachedir=${VT_CACHE:-fresh}
			[ "$cachedir" = fresh ] && cachedir=$(mktemp -d "$OUT/cache.XXXXXX")
			VMTRIAGE_CACHE=$cachedir /usr/bin/time -f '%e %M %U %S' -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
			rc=$?
			[ "${VT_CACHE:-fresh}" = fresh ] && rm -rf "$cachedir"
		else # inroot.sh finds the roots through VMTRIAGE_CACHE: keep the caller's
			/usr/bin/time -f '%e %M %U %S' -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
			rc=$?
		fi
		read -r w m us ss < <(tail -1 "$OUT/$name.time")
		walls+=("$w")
		rsses+=("$((m / 1024))")
		cpus+=("$(echo "$us + $ss" | bc)")
		case $kind in
		vmtriage) [ $rc -le 1 ] || { ok=0; why="rc $rc"; } ;;
		drgn) [ $rc = 0 ] && grep -q un_tasks "$OUT/$name.out" || { ok=0; why="rc $rc"; } ;;
		crash) [ $rc = 0 ] && grep -qE '\[[A-Z]{2}\] +PID: ' "$OUT/$name.out" || { ok=0; why="rc $rc"; } ;;
		esac
		[ $ok = 1 ] || break # a failing tool fails every time: once is enough
	done
	local mw mr mc
	mw=$(printf '%s\n' "${walls[@]}" | median)
	mr=$(printf '%s\n' "${rsses[@]}" | median)
	mc=$(printf '%s\n' "${cpus[@]}" | median)
	if [ $ok = 1 ]; then CELL="$mw s (cpu $mc), $mr MB"; else CELL="fail ($why, $mw s)"; fi
	printf '  %-28s %s\n' "$name" "$CELL"
}

answers() { # answers NAME KIND: one line of what the tool said
	local f=$OUT/$1.out
	case $2 in
	vmtriage) /usr/bin/python3 -c 'import json,sys
try: r = json.load(open(sys.argv[1]))
except Exception: print("no JSON"); sys.exit()
un = [str(t.get("pid")) for t in r.get("hung_tasks") or []]
dio = [e.get("ref") for f in r.get("findings") or [] for e in f.get("evidence") or [] if e.get("label") == "dio"]
print("UN", " ".join(un) or "-", "| dio", " ".join(dio) or "-")' "$f" ;;
	drgn) /usr/bin/python3 -c 'import json,sys
try: d = json.load(open(sys.argv[1]))
except Exception: print("no JSON:", open(sys.argv[2]).read().strip().splitlines()[-1:]); sys.exit()
print("UN", " ".join(str(t["pid"]) for t in d["un_tasks"]) or "-", "| dio", " ".join(t["dio"] for t in d["un_tasks"] if "dio" in t) or "-")' "$f" "$OUT/$1.err" ;;
	crash) echo "UN $(grep -oE '\[UN\] +PID: +[0-9]+' "$f" | awk '{print $3}' | tr '\n' ' ')| dio: $(grep -E '^  (refcount|waiter) = ' "$f" | tr -s ' \n' ' ')$(tail -n 3 "$OUT/$1.err" | grep -m1 -E 'crash:|error' | cut -c1-80)" ;;
	esac
}

table() { # the markdown table of the rows so far
	local T1 hdr="| dump |" sep="|---|" c
	T1=$(date +%s)
	echo "Wall time (median of $RUNS; in parentheses the median user+sys CPU seconds, which load"
	echo "inflates less) and peak RSS (median) to the UN tasks and their dio;"
	echo "$(nproc) cores, load average $LOAD0 at the start and $(cut -d' ' -f1-3 /proc/loadavg) at the end;"
	echo "the bench took $((T1 - T0)) s for ${#ROWS[@]} of ${#DUMPS[@]} dumps ($(date -u +%Y-%m-%d))."
	echo "Reproduce: \`testdata/realkernel/bench.sh\`$([ ${#ARGS[@]} -gt 0 ] && printf ' %s' "${ARGS[@]}")"
	echo
	for c in "${COLS[@]}"; do hdr+=" $c |"; sep+="---|"; done
	echo "$hdr"
	echo "$sep"
	printf '%s\n' "${ROWS[@]}"
}

COLS=()
has vmtriage && COLS+=("vmtriage BTF cold" "vmtriage DWARF cold" "vmtriage no vmlinux" "vmtriage warm" "vmtriage warm kernel")
has drgn && COLS+=("drgn 0.0.22" "drgn 0.0.31" "drgn 0.3.0")
has crash && COLS+=("crash 8.0.2" "crash 8.0.6" "crash 9.0.2")
ROWS=()
: >"$OUT/answers.txt"
for DUMP in "${DUMPS[@]}"; do
	LINEDIR=$(cd "$(dirname "$DUMP")/../.." && pwd)
	line=$(basename "$LINEDIR")
	fmt=$(basename "$DUMP" .vmcore)
	VMLINUX=$LINEDIR/vmlinux
	tag=$line-$fmt
	echo "== $line B $fmt ($(du -h "$DUMP" | cut -f1)), load $(cut -d' ' -f1 /proc/loadavg)"
	echo "== $line B $fmt" >>"$OUT/answers.txt"
	row="| $line B $fmt |"
	# every tool meets the dump, the vmlinux and the debug modules in the page
	# cache: read them once before any run (else the first tool timed pays for
	# the disk, and the ones after it do not)
	find "$LINEDIR/debug-modules" -name '*.ko' -exec cat {} + >/dev/null 2>&1
	cat "$DUMP" "$VMLINUX" >/dev/null
	if has vmtriage; then
		VT_CACHE=fresh run "$tag-vt-btf" vmtriage "$VT" analyze "$DUMP" --vmlinux "$VMLINUX" --format json
		row+=" $CELL |"
		echo "  vmtriage: $(answers "$tag-vt-btf" vmtriage)" >>"$OUT/answers.txt"
		VT_CACHE=fresh run "$tag-vt-dwarf" vmtriage "$VT" analyze "$DUMP" --vmlinux "$VMLINUX" --types dwarf --format json
		row+=" $CELL |"
		if [ $NOVMLINUX = 1 ]; then
			VT_CACHE=fresh run "$tag-vt-novmlinux" vmtriage "$VT" analyze "$DUMP" --no-vmlinux --format json
			row+=" $CELL |"
			echo "  vmtriage --no-vmlinux: $(answers "$tag-vt-novmlinux" vmtriage)" >>"$OUT/answers.txt"
		else
			row+=" n/a |"
		fi
		warm=$(mktemp -d "$OUT/warm.XXXXXX")
		VMTRIAGE_CACHE=$warm "$VT" analyze "$DUMP" --vmlinux "$VMLINUX" --format json >/dev/null 2>&1
		VT_CACHE=$warm run "$tag-vt-warm" vmtriage "$VT" analyze "$DUMP" --vmlinux "$VMLINUX" --format json
		row+=" $CELL |"
		if [ $NOCACHE = 1 ]; then
			VT_CACHE=$warm run "$tag-vt-warmkernel" vmtriage "$VT" analyze "$DUMP" --vmlinux "$VMLINUX" --format json --no-cache
			row+=" $CELL |"
		else
			row+=" n/a |"
		fi
		rm -rf "$warm"
	fi
	MODS=$(find "$LINEDIR/debug-modules" -name '*.ko' 2>/dev/null | sort | tr '\n' ' ')
	if has drgn; then
		# shellcheck disable=SC2086
		run "$tag-drgn-0.0.22" drgn /usr/bin/python3 "$OUT/bench_drgn.py" "$HERE" "$DUMP" "$VMLINUX" $MODS
		row+=" $CELL |"
		echo "  drgn 0.0.22: $(answers "$tag-drgn-0.0.22" drgn)" >>"$OUT/answers.txt"
		for r in trixie:0.0.31 sid:0.3.0; do
			if root_ok "${r%%:*}"; then
				# shellcheck disable=SC2086
				INROOT_BIND="$HERE:ro $OUT:ro" run "$tag-drgn-${r#*:}" drgn "$HERE/inroot.sh" "${r%%:*}" python3 "$OUT/bench_drgn.py" "$HERE" "$DUMP" "$VMLINUX" $MODS
				row+=" $CELL |"
				echo "  drgn ${r#*:}: $(answers "$tag-drgn-${r#*:}" drgn)" >>"$OUT/answers.txt"
			else
				row+=" n/a |"
			fi
		done
	fi
	if has crash; then
		CMD=$CACHE/.bench-crash-$$.cmd # inside the roots only the cache is visible
		{
			echo "ps -m"
			echo "foreach UN bt"
			if [ -s "$(dirname "$DUMP")/drgn.json" ]; then
				/usr/bin/python3 -c 'import json,sys
for t in json.load(open(sys.argv[1]))["un_tasks"]:
    if "dio" in t: print("struct dio.refcount,bio_list,waiter,is_async,result", t["dio"]["dio"])' "$(dirname "$DUMP")/drgn.json"
			fi
			echo quit
		} >"$CMD"
		NOMOD=()
		case $line in 7.*) NOMOD=(--no_modules) ;; esac
		run "$tag-crash-8.0.2" crash crash -s "${NOMOD[@]}" "$VMLINUX" "$DUMP" -i "$CMD"
		row+=" $CELL |"
		echo "  crash 8.0.2: $(answers "$tag-crash-8.0.2" crash)" >>"$OUT/answers.txt"
		for r in trixie:8.0.6 sid:9.0.2; do
			if root_ok "${r%%:*}"; then
				run "$tag-crash-${r#*:}" crash "$HERE/inroot.sh" "${r%%:*}" crash -s "${NOMOD[@]}" "$VMLINUX" "$DUMP" -i "$CMD"
				row+=" $CELL |"
				echo "  crash ${r#*:}: $(answers "$tag-crash-${r#*:}" crash)" >>"$OUT/answers.txt"
			else
				row+=" n/a |"
			fi
		done
		rm -f "$CMD"
	fi
	ROWS+=("$row")
	table >"$OUT/table.md" # after every dump: a stopped bench leaves the rows it made
done
echo
echo "answers ($OUT/answers.txt):"
cat "$OUT/answers.txt"
echo
cat "$OUT/table.md"
# the issue's goals, per dump, from the table: BTF cold against the fastest of drgn
# 0.0.31/0.3.0 (wall) and of crash 8.0.6/9.0.2 (wall), BTF cold's peak RSS against
# that drgn's, DWARF cold against that drgn, warm against BTF cold
/usr/bin/python3 - "$OUT/table.md" >"$OUT/goals.md" <<'PY'
import re, sys
rows = [l.rstrip("\n").strip("|").split("|") for l in open(sys.argv[1]) if l.startswith("|")]
head = [c.strip() for c in rows[0]]
def cell(r, name):
    if name not in head: return None
    m = re.match(r"\s*([0-9.]+) s .*?, ([0-9]+) MB", r[head.index(name)])
    return (float(m.group(1)), int(m.group(2))) if m else None
print("| dump | BTF cold / fastest drgn (goal 1/3) | / fastest crash (1/10) | RSS / that drgn's (1/2) | DWARF cold / fastest drgn (1) | warm / BTF cold (1/5) | warm kernel / BTF cold |")
print("|---|---|---|---|---|---|---|")
for r in rows[2:]:
    btf, dwarf = cell(r, "vmtriage BTF cold"), cell(r, "vmtriage DWARF cold")
    drgns = [c for c in (cell(r, "drgn 0.0.31"), cell(r, "drgn 0.3.0")) if c]
    crashes = [c for c in (cell(r, "crash 8.0.6"), cell(r, "crash 9.0.2")) if c]
    warm, warmk = cell(r, "vmtriage warm"), cell(r, "vmtriage warm kernel")
    drgn = min(drgns) if drgns else None
    f = lambda a, b, i=0: "%.2f" % (a[i] / b[i]) if a and b else "n/a"
    print("| %s | %s | %s | %s | %s | %s | %s |" % (r[0].strip(), f(btf, drgn), f(btf, min(crashes) if crashes else None),
          f(btf, drgn, 1), f(dwarf, drgn), f(warm, btf), f(warmk, btf)))
PY
echo
cat "$OUT/goals.md"
