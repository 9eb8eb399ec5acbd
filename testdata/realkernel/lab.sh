#!/usr/bin/env bash
# vmtriage real-kernel lab: boots Debian's kernels (5.10, 6.1, 6.12, 7.2; generic
# and PREEMPT_RT) under QEMU (TCG), stages direct-I/O and jbd2 hangs, and dumps
# each guest in several formats, with drgn and crash answers beside each dump.
#
#   testdata/realkernel/lab.sh [LINE ...] [STEP|SCENARIO ...]
#
# Lines:  the names in testdata/realkernel/lines (5.10-amd64 ... 7.2-rt-amd64);
#         default: every line.
# Steps:  install apt roots kernel labmod initramfs A B B-notimeout C D E F G G-legit H H-legit
#         oracle all (default: all: A-D, plus the wait-for scenarios E-H the line lists in the
#         lines file's 6th field); summary prints the table of what the cache holds;
#         oracle-waits refreshes only drgn.json's waits of every scenario that has a drgn.json
#         (oracle.py --waits-only: drgn 0.3.0, about a second a dump; no crash, no boot).
#         A scenario implies install/apt/roots/kernel/initramfs (F-H also labmod: labmod/ built
#         against the line's linux-headers);
#         A and B share one boot when both are asked for (A is dumped, then B
#         replays the race on the same writer).
#   e.g.  lab.sh 5.10-amd64 B      lab.sh 7.2-amd64 7.2-rt-amd64 kernel      lab.sh D
# Cache:  ${VMTRIAGE_CACHE:-$HOME/.cache/vmtriage}/realkernel ($CACHE): apt/ (a separate
#         apt configuration for bullseye, bookworm, trixie and sid), roots/ (roots.sh),
#         lines/<line>/ (vmlinux, release, vmlinuz, config, modules/, debug-modules/,
#         initramfs.cpio, dumps/<scenario>/...). Nothing already there is downloaded or
#         rebuilt again; delete a file to redo its step.
# Env:    LAB_SKIP_EXIT=N  exit status used when the Debian mirror is unreachable
#                          (default 0: "SKIP: Debian mirror unreachable", exit 0)
#         LAB_KERNEL_<line>=PKG pin a line's package, e.g. LAB_KERNEL_6_1_amd64=linux-image-6.1.0-57-amd64
#         LAB_NO_INSTALL=1 do not call apt-get install on the host
#         LAB_FORCE=1      redo the scenarios' dumps even if meta.json exists
#         LAB_JOBS=N       kernels downloaded/extracted in parallel (default 2)
#         LAB_ORACLE_BG=0  run a line's oracles before the next line boots (default: in the
#                          background, beside the next line's boots)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VMTRIAGE_CACHE:-$HOME/.cache/vmtriage}/realkernel
mkdir -p "$CACHE/lines"
export CACHE HERE
command -v bc >/dev/null || bc() { /usr/bin/python3 -c 'import sys; print(eval(sys.stdin.read()))'; }

LINE=- # the line being worked on, for log lines
log() { printf '[lab %s %s] %s\n' "$(date +%H:%M:%S)" "$LINE" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
timed() { # timed NAME cmd...: run and append "LINE NAME seconds" to $CACHE/timings.txt
	local name=$1 t0 rc=0; shift; t0=$(date +%s.%N)
	"$@" || rc=$?
	printf '%s %s %.1f rc=%d %s\n' "$LINE" "$name" "$(echo "$(date +%s.%N) - $t0" | bc)" "$rc" "$(date -Is)" >>"$CACHE/timings.txt"
	return $rc
}

skip_mirror() {
	[ "$BASH_SUBSHELL" -gt 0 ] && exit 77 # a subshell: its parent reports
	echo "SKIP: Debian mirror unreachable"
	exit "${LAB_SKIP_EXIT:-0}"
}
NETFAIL='Could not resolve|Could not connect|Failed to fetch|Temporary failure|Connection (failed|timed out|refused)|Unable to connect|Network is unreachable|No route to host'
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
# apt_net LOG CMD...: run an apt command that needs the mirror; an unreachable
# mirror -> SKIP, any other failure -> non-zero.
apt_net() {
	local logf=$1 rc=0; shift
	"$@" >"$logf" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		cat "$logf" >&2
		grep -qiE "$NETFAIL" "$logf" && skip_mirror
		die "$* (exit $rc)"
	fi
}

# ---------------------------------------------------------------- lines
# line_field LINE N: field N of LINE in the lines file (1 name, 2 regex, 3 mem, 4 formats, 5 mdf level)
line_field() { awk -v n="$1" -v f="$2" '!/^#/ && $1 == n {print $f}' "$HERE/lines"; }
all_lines() { awk '!/^#/ && NF {print $1}' "$HERE/lines"; }
is_line() { [ -n "$(line_field "$1" 1)" ]; }
line_dir() { echo "$CACHE/lines/$1"; }

# ---------------------------------------------------------------- host tools
PKGS=(qemu-system-x86 busybox-static python3-drgn crash makedumpfile dmsetup dosfstools
	jfsutils e2fsprogs fio libaio1 gdb cpio socat kmod bc time xz-utils zstd binutils)

step_install() {
	local missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && { log "install: all packages present"; return 0; }
	[ -n "${LAB_NO_INSTALL:-}" ] && die "missing packages: ${missing[*]}"
	log "install: ${missing[*]}"
	apt_net "$CACHE/apt-update.log" $SUDO apt-get -o DPkg::Lock::Timeout=600 update
	DEBIAN_FRONTEND=noninteractive apt_net "$CACHE/apt-install.log" \
		$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
}

# ---------------------------------------------------------------- the lab's own apt
# A separate apt configuration in $CACHE/apt reaching bullseye, bookworm, trixie and
# sid; the host's /etc/apt is never changed. Used for apt-cache and apt-get download only.
APTDIR=$CACHE/apt
APT_OPTS=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache" -o "Dir::State::status=$APTDIR/status"
	-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
	-o Acquire::Check-Valid-Until=false -o APT::Architecture=amd64 -o APT::Architectures::=amd64
	-o APT::Sandbox::User=root -o Acquire::Languages=none
	-o Dir::Cache::pkgcache=pkgcache.bin -o Dir::Cache::srcpkgcache=srcpkgcache.bin)
lapt_get() { apt-get "${APT_OPTS[@]}" "$@"; }
lapt_cache() { apt-cache "${APT_OPTS[@]}" "$@"; }

step_apt() {
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
	[ -e "$APTDIR/status" ] || : >"$APTDIR/status"
	local new="$APTDIR/sources.list.new.$$"
	cat >"$new" <<-'EOF'
		deb [arch=amd64 target=Packages] http://deb.debian.org/debian bullseye main
		deb [arch=amd64 target=Packages] http://deb.debian.org/debian bullseye-updates main
		deb [arch=amd64 target=Packages] http://deb.debian.org/debian-security bullseye-security main
		deb [arch=amd64 target=Packages] http://deb.debian.org/debian bookworm main
		deb [arch=amd64 target=Packages] http://deb.debian.org/debian bookworm-updates main
		deb [arch=amd64 target=Packages] http://deb.debian.org/debian-security bookworm-security main
		deb [arch=amd64 target=Packages] http://deb.debian.org/debian trixie main
		deb [arch=amd64 target=Packages] http://deb.debian.org/debian trixie-updates main
		deb [arch=amd64 target=Packages] http://deb.debian.org/debian-security trixie-security main
		deb [arch=amd64 target=Packages] http://deb.debian.org/debian sid main
	EOF
	if cmp -s "$new" "$APTDIR/sources.list" && [ -s "$APTDIR/resolved" ] &&
		[ -n "$(find "$APTDIR/lists" -maxdepth 1 -name '*_Packages*' -mmin -720 2>/dev/null | head -1)" ]; then
		rm -f "$new"; log "apt: lists fresh ($APTDIR)"; return 0
	fi
	exec 7>"$APTDIR/.lock"
	flock 7
	mv "$new" "$APTDIR/sources.list"
	log "apt: update (bullseye bookworm trixie sid) in $APTDIR"
	timed apt-update apt_net "$APTDIR/update.log" lapt_get update
	grep -qiE "^(W|E): .*($NETFAIL)" "$APTDIR/update.log" && { cat "$APTDIR/update.log" >&2; skip_mirror; }
	# every line's packages, resolved once (apt-cache parses all ten suites on each call)
	local names l re pkg rel
	names=$(lapt_cache pkgnames linux- 2>/dev/null)
	: >"$APTDIR/resolved.tmp"
	for l in $(all_lines); do
		re=$(line_field "$l" 2)
		pkg=$(grep -E "$re" <<<"$names" | sort -V | tail -1)
		[ -n "$pkg" ] || { log "apt: no package matching $re"; continue; }
		rel=${pkg#linux-image-}
		# 7.2 on: linux-image-REL is empty, vmlinuz and modules come from linux-binary/linux-modules
		printf '%s %s %s-dbg %s\n' "$l" "$pkg" "$pkg" "$(grep -xE "linux-(binary|modules|base)-${rel//+/\\+}" <<<"$names" | tr '\n' ' ')" >>"$APTDIR/resolved.tmp"
	done
	mv "$APTDIR/resolved.tmp" "$APTDIR/resolved"
	log "apt: $(awk '{print $1 "=" $2}' "$APTDIR/resolved" | tr '\n' ' ')"
	exec 7>&-
	return 0
}

# ---------------------------------------------------------------- reference-tool roots
step_roots() { # sid: crash 9.0.2, drgn 0.3.0, makedumpfile 1.7.8 (oracles, checks); trixie: crash 8.0.6, drgn 0.0.31
	if [ -s "$CACHE/roots/sid/versions.json" ] && [ -s "$CACHE/roots/trixie/versions.json" ]; then
		log "roots: cached"; return 0
	fi
	local rc=0
	timed roots env LAB_SKIP_EXIT=77 bash "$HERE/roots.sh" sid trixie || rc=$?
	[ $rc = 77 ] && skip_mirror
	[ $rc = 0 ] || die "roots.sh (exit $rc)"
}

# ---------------------------------------------------------------- kernel
# Modules the scenarios load; lab.sh copies them with their dependency closure
# (modinfo depends and softdep pre), decompressed, then runs depmod on them.
WANT_MODS="brd dm-mod vfat nls_cp437 nls_iso8859-1 jfs ext4 crc32c_generic qemu_fw_cfg"

kernel_done() { # kernel_done DIR: the line's kernel step is complete
	local d=$1
	[ -s "$d/vmlinux" ] && [ -s "$d/release" ] && [ -s "$d/vmlinuz" ] && [ -s "$d/config" ] &&
		[ -s "$d/modules/lib/modules/$(cat "$d/release")/modules.dep" ] && [ -e "$d/debug-modules/.done" ]
}

resolve_pkgs() { # resolve_pkgs LINE: the line's packages (image, -dbg, and binary/modules on 7.2)
	local line=$1 var pkg rel
	var=LAB_KERNEL_$(echo "$line" | tr -c 'A-Za-z0-9\n' '_')
	if [ -n "${!var:-}" ]; then
		pkg=${!var}; rel=${pkg#linux-image-}
		echo "$pkg $pkg-dbg $(lapt_cache pkgnames "linux-" | grep -xE "linux-(binary|modules|base)-${rel//+/\\+}" | tr '\n' ' ')"
		return
	fi
	pkg=$(awk -v l="$line" '$1 == l {$1 = ""; print}' "$APTDIR/resolved")
	[ -n "$pkg" ] || die "no package matching $(line_field "$line" 2) in $APTDIR (apt step)"
	echo $pkg
}

step_kernel() {
	local line=$1 d; d=$(line_dir "$1")
	mkdir -p "$d"
	exec 8>"$d/.kernel.lock"
	flock 8 # a background prefetch of the same line: wait for it
	if kernel_done "$d"; then log "kernel: cached ($(cat "$d/release"))"; exec 8>&-; return 0; fi
	step_apt
	# the newest package first; an older one when the pool lacks a file the index lists
	# (seen: bullseye-security lists 5.10.0-44..46-rt-amd64, signed and unsigned, whose
	# .debs are 404: the lab falls back to 5.10.0-43-rt-amd64)
	local pkgs rel cands=() c rc var
	read -r -a pkgs <<<"$(resolve_pkgs "$line")"
	cands=("${pkgs[0]}")
	var=LAB_KERNEL_$(echo "$line" | tr -c 'A-Za-z0-9\n' '_')
	if [ -z "${!var:-}" ]; then
		for c in $(lapt_cache pkgnames linux-image- 2>/dev/null | grep -E "$(line_field "$line" 2)" | sort -rV | head -4); do
			[ "$c" = "${pkgs[0]}" ] || cands+=("$c")
		done
	fi
	mkdir -p "$d/debs"
	for c in "${cands[@]}"; do
		if [ "$c" != "${pkgs[0]}" ]; then
			rel=${c#linux-image-}
			pkgs=("$c" "$c-dbg" $(lapt_cache pkgnames linux- | grep -xE "linux-(binary|modules|base)-${rel//+/\\+}" || true))
			log "kernel: falling back to $c"
		fi
		rc=0
		(
			cd "$d/debs"
			for p in "${pkgs[@]}"; do
				{ compgen -G "${p}_*.deb" || compgen -G "${p}-unsigned_*.deb"; } >/dev/null && continue
				log "kernel: apt-get download $p"
				timed "download-$p" lapt_get download "$p" 2>"$d/debs/download.err" && continue
				cat "$d/debs/download.err" >&2
				# the -unsigned build has the same vmlinuz and modules as the signed one
				if grep -q '404 *Not Found' "$d/debs/download.err" && [ "$p" = "${pkgs[0]}" ]; then
					log "kernel: $p is not in the pool (404): apt-get download $p-unsigned"
					timed "download-$p-unsigned" lapt_get download "$p-unsigned" 2>"$d/debs/download.err" && continue
					cat "$d/debs/download.err" >&2
				fi
				grep -q '404 *Not Found' "$d/debs/download.err" && exit 44
				grep -qiE "$NETFAIL" "$d/debs/download.err" && exit 77
				exit 1
			done
		) || rc=$?
		[ $rc = 0 ] && break
		[ $rc = 77 ] && skip_mirror
		[ $rc = 44 ] || die "apt-get download ${pkgs[*]}"
		rm -f "$d"/debs/*.deb
	done
	[ $rc = 0 ] || die "no downloadable package for $line (tried ${cands[*]}: 404)"
	rel=${pkgs[0]#linux-image-}
	log "kernel: downloaded $(du -sh "$d/debs" | cut -f1) (${pkgs[*]})"
	local tmp="$d/extract.tmp"; rm -rf "$tmp"; mkdir -p "$tmp/img" "$tmp/dbg"
	# the image side first (small): vmlinuz, config, the whole modules tree
	local deb
	for deb in "$d"/debs/*.deb; do
		case $deb in *-dbg_*) continue ;; esac
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/img" --wildcards './boot/*' '*/modules/*' 2>/dev/null || true
	done
	local vmlinuz config mroot
	# boot/vmlinuz-REL, boot/config-REL; 7.2: usr/lib/modules/REL/{vmlinuz,config}
	vmlinuz=$(find "$tmp/img" -name "vmlinuz-$rel" -o -path "*/modules/$rel/vmlinuz" | head -1)
	config=$(find "$tmp/img" -name "config-$rel" -o -path "*/modules/$rel/config" | head -1)
	mroot=$(find "$tmp/img" -type d -path "*/modules/$rel" | head -1)
	[ -n "$vmlinuz" ] && [ -n "$config" ] && [ -n "$mroot" ] || die "no vmlinuz/config/modules for $rel in ${pkgs[*]}"
	cp "$config" "$d/config"
	cp "$vmlinuz" "$d/vmlinuz"
	# dependency closure of the modules the scenarios load (modinfo depends + softdep pre),
	# decompressed (busybox insmod does not read .ko.xz); depmod on the whole tree would
	# decompress every module (minutes)
	local closure=() m f queue=($WANT_MODS) seen=" " dep
	declare -A path=()
	while read -r f; do
		m=${f##*/}; m=${m%%.ko*}; path[${m//-/_}]=$f
	done < <(find "$mroot" -name '*.ko*')
	while [ ${#queue[@]} -gt 0 ]; do
		m=${queue[0]//-/_}; queue=("${queue[@]:1}")
		case $seen in *" $m "*) continue ;; esac
		seen="$seen$m "
		f=${path[$m]:-}
		[ -n "$f" ] || continue # built in, or gone on this line (7.2: crc32c_generic, libcrc32c)
		closure+=("$f")
		for dep in $(modinfo -F depends "$f" | tr ',' ' ') $(modinfo -F softdep "$f" | sed -n 's/.*pre: *\([^:]*\)\( post:.*\)\?$/\1/p'); do
			queue+=("$dep")
		done
	done
	mkdir -p "$tmp/full/lib/modules"; mv "$mroot" "$tmp/full/lib/modules/$rel"
	closure=("${closure[@]/#$mroot/$tmp/full/lib/modules/$rel}")
	rm -rf "$d/modules"; mkdir -p "$d/modules/lib/modules/$rel"
	local kos=() rp
	for f in $(printf '%s\n' "${closure[@]}" | sort -u); do
		rp=${f#"$tmp/full/lib/modules/$rel/"}
		mkdir -p "$d/modules/lib/modules/$rel/$(dirname "$rp")"
		case $f in
		*.ko.xz) xz -dc "$f" >"$d/modules/lib/modules/$rel/${rp%.xz}"; kos+=("${rp%.xz}") ;;
		*.ko.zst) zstd -qdc "$f" >"$d/modules/lib/modules/$rel/${rp%.zst}"; kos+=("${rp%.zst}") ;;
		*.ko.gz) gzip -dc "$f" >"$d/modules/lib/modules/$rel/${rp%.gz}"; kos+=("${rp%.gz}") ;;
		*) cp "$f" "$d/modules/lib/modules/$rel/$rp"; kos+=("$rp") ;;
		esac
	done
	for f in modules.builtin modules.builtin.modinfo modules.order; do
		if [ -e "$tmp/full/lib/modules/$rel/$f" ]; then cp "$tmp/full/lib/modules/$rel/$f" "$d/modules/lib/modules/$rel/"; else : >"$d/modules/lib/modules/$rel/$f"; fi
	done
	depmod -b "$d/modules" "$rel" || die "depmod"
	log "kernel: modules ${kos[*]}"
	rm -rf "$tmp/img" "$tmp/full"
	# the debug vmlinux and the debug modules of the closure (xz: tar reads the whole archive)
	if [ ! -s "$d/vmlinux" ] || [ ! -e "$d/debug-modules/.done" ]; then
		log "kernel: extracting the debug vmlinux and modules from $(basename "$(ls "$d"/debs/*-dbg_*.deb)")"
		local pats=('*vmlinux*')
		for rp in "${kos[@]}"; do pats+=("*/debug/*modules/$rel/$rp"); done
		timed extract-dbg bash -c 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards "${@:3}"' _ "$(ls "$d"/debs/*-dbg_*.deb)" "$tmp/dbg" "${pats[@]}" 2>"$tmp/tar.err" || {
			cat "$tmp/tar.err" >&2; grep -q 'Not found in archive' "$tmp/tar.err" || die "extract dbg"; }
		# the vmlinux: the biggest regular file named vmlinux* (7.2's boot/ path is a symlink)
		local vml; vml=$(find "$tmp/dbg" -type f -name 'vmlinux*' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
		[ -n "$vml" ] || die "no debug vmlinux in the -dbg package"
		rm -rf "$d/debug-modules"; mkdir -p "$d/debug-modules"
		local dm; dm=$(find "$tmp/dbg" -type d -path "*/modules/$rel" | head -1)
		[ -n "$dm" ] && cp -r "$dm/kernel/." "$d/debug-modules/"
		touch "$d/debug-modules/.done"
		mv "$vml" "$d/vmlinux.tmp" && mv "$d/vmlinux.tmp" "$d/vmlinux"
		rm -f "$d/vmlinux.nm" "$d/offsets.json"
	fi
	echo "$rel" >"$d/release.tmp" && mv "$d/release.tmp" "$d/release"
	echo "${pkgs[*]}" >"$d/packages"
	rm -rf "$tmp" "$d/debs"
	log "kernel: done ($rel; $(du -sh "$d" | cut -f1))"
	exec 8>&-
}

# ---------------------------------------------------------------- lab module (F G G-legit H H-legit)
# labmod/ built against Debian's linux-headers-REL (+ its -common and linux-kbuild), downloaded
# through the lab's apt like the kernels; the Makefile's absolute `include /usr/src/...` is made
# relative. The compiler is the one the headers name (.kernelvariables: gcc-12 on 6.1, gcc-14
# on 6.12, gcc-16 on 7.2): the host's when it has it, else the sid root's (installed there with
# apt-get the first time; the kbuild binaries then run against the root's libc too).
# Result: $d/labmod.ko (+ .stamp: labmod sources and release); headers and .debs are deleted.
labmod_stamp() { cat "$HERE/labmod/labmod.c" "$HERE/labmod/Kbuild" "$(line_dir "$1")/release" | sha256sum | cut -c1-16; }
step_labmod() {
	local line=$1 d rel; d=$(line_dir "$1"); rel=$(cat "$d/release")
	local stamp; stamp=$(labmod_stamp "$line")
	if [ -s "$d/labmod.ko" ] && [ "$(cat "$d/labmod.ko.stamp" 2>/dev/null)" = "$stamp" ]; then
		# beside the other debug modules too, where every reader of the line's dumps looks
		cmp -s "$d/labmod.ko" "$d/debug-modules/extra/labmod.ko" ||
			{ mkdir -p "$d/debug-modules/extra" && cp "$d/labmod.ko" "$d/debug-modules/extra/labmod.ko"; }
		log "labmod: cached"; return 0
	fi
	step_apt
	local tmp="$d/labmod.tmp" pkgs p deps
	rm -rf "$tmp"; mkdir -p "$tmp/debs" "$tmp/root" "$tmp/build"
	# linux-headers-REL and the two packages it needs from its Depends (-common[-rt], linux-kbuild-*)
	deps=$(lapt_cache show "linux-headers-$rel" 2>/dev/null | sed -n 's/^Depends: //p' | head -1 | tr ',' '\n' |
		awk '{print $1}' | grep -E '^linux-(headers-.*-common(-rt)?|kbuild-.*)$' || true)
	[ -n "$deps" ] || die "labmod: no linux-headers-$rel (or its -common/kbuild) in the lab's apt"
	pkgs=("linux-headers-$rel" $deps)
	log "labmod: apt-get download ${pkgs[*]}"
	( cd "$tmp/debs" && timed labmod-download apt_net "$tmp/download.log" lapt_get download "${pkgs[@]}" )
	for p in "$tmp"/debs/*.deb; do dpkg-deb -x "$p" "$tmp/root"; done
	local hdr="$tmp/root/usr/src/linux-headers-$rel"
	[ -f "$hdr/Makefile" ] || die "labmod: no $hdr/Makefile"
	# the Makefile names /usr/src/... (include, 7.2's KBUILD_OUTPUT): the extracted tree, which is
	# at the same path inside the sid root (inroot.sh binds the lab cache there)
	sed -i "s|/usr/src/|$tmp/root/usr/src/|g" "$hdr/Makefile"
	cp "$HERE/labmod/labmod.c" "$HERE/labmod/Kbuild" "$tmp/build/"
	local cc; cc=$(sed -n 's/^CC = .*)\(gcc[-0-9]*\)$/\1/p' "$hdr/.kernelvariables" 2>/dev/null | head -1)
	cc=${cc:-gcc}
	local make=(make -C "$hdr" M="$tmp/build" modules)
	if command -v "$cc" >/dev/null && ldd "$tmp/root/usr/lib/linux-kbuild-"*/scripts/basic/fixdep >/dev/null 2>&1 &&
		! ldd "$tmp/root/usr/lib/linux-kbuild-"*/scripts/basic/fixdep 2>&1 | grep -q 'not found'; then
		log "labmod: make with the host's $cc"
		timed labmod-make "${make[@]}" >"$tmp/make.log" 2>&1 || { tail -30 "$tmp/make.log" >&2; die "labmod: make"; }
	else
		step_roots
		if ! "$HERE/inroot.sh" sid sh -c "command -v $cc && command -v make && command -v pahole" >/dev/null 2>&1; then
			log "labmod: installing $cc make dwarves in the sid root"
			timed labmod-root-install apt_net "$tmp/root-install.log" "$HERE/inroot.sh" sid sh -c \
				"apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $cc make libc6-dev libelf-dev dwarves"
		fi
		log "labmod: make in the sid root with its $cc"
		make+=(CROSS_COMPILE=x86_64-linux-gnu-)
		timed labmod-make "$HERE/inroot.sh" sid "${make[@]}" >"$tmp/make.log" 2>&1 || { tail -30 "$tmp/make.log" >&2; die "labmod: make (sid root)"; }
	fi
	[ -s "$tmp/build/labmod.ko" ] || die "labmod: no labmod.ko (log $tmp/make.log)"
	local vm; vm=$(modinfo -F vermagic "$tmp/build/labmod.ko")
	case "$vm" in "$rel "*) ;; *) die "labmod: vermagic '$vm' is not $rel's" ;; esac
	# a changed module: the dumps made with the old one are redone (their frames name its code)
	local sc
	if [ -s "$d/labmod.ko" ] && ! cmp -s "$d/labmod.ko" "$tmp/build/labmod.ko"; then
		for sc in $LABMOD_SCENARIOS; do
			[ -s "$d/dumps/$sc/meta.json" ] || continue
			log "labmod: changed: $sc's dumps are stale (meta.json -> meta-stale-labmod.json)"
			mv "$d/dumps/$sc/meta.json" "$d/dumps/$sc/meta-stale-labmod.json"
		done
	fi
	cp "$tmp/build/labmod.ko" "$d/labmod.ko.tmp" && mv "$d/labmod.ko.tmp" "$d/labmod.ko"
	mkdir -p "$d/debug-modules/extra" && cp "$d/labmod.ko" "$d/debug-modules/extra/labmod.ko"
	echo "$stamp" >"$d/labmod.ko.stamp"
	rm -rf "$tmp"
	log "labmod: $d/labmod.ko ($vm)"
}

# ---------------------------------------------------------------- initramfs
step_initramfs() {
	local line=$1 d; d=$(line_dir "$1")
	local out="$d/initramfs.cpio" stamp
	local lm=(); [ -s "$d/labmod.ko" ] && lm=("$d/labmod.ko")
	stamp=$(cat "$HERE/init.sh" "$d/release" "$d/modules/lib/modules/"*/modules.dep "${lm[@]}" | sha256sum | cut -c1-16)
	if [ -s "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
		log "initramfs: cached"; return 0
	fi
	local root="$d/initramfs.tmp"
	rm -rf "$root"; mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,proc,sys,dev,mnt,tmp,etc}
	cp /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
	cp -a "$d/modules/lib/modules" "$root/lib/"
	# dynamic tools from the host, with their libraries
	local bins=(/usr/sbin/dmsetup /usr/sbin/mkfs.ext4 /usr/sbin/mke2fs /usr/sbin/mkfs.jfs /usr/sbin/mkfs.vfat
		/usr/bin/fio /usr/bin/dd)
	for b in "${bins[@]}"; do
		local name; name=$(basename "$b")
		[ "$name" = dd ] && name=gnudd
		cp -L "$b" "$root/usr/sbin/$name"
		for l in $(ldd "$b" | awk '/=>/ {print $3} /^\t\/lib/ {print $1}'); do
			[ -e "$root$l" ] || { mkdir -p "$root$(dirname "$l")"; cp -L "$l" "$root$l"; }
		done
	done
	[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
	[ ${#lm[@]} = 0 ] || cp "${lm[0]}" "$root/lib/modules/labmod.ko" # insmod'ed by init.sh (F G H)
	cp "$HERE/init.sh" "$root/init"; chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet) >"$out.tmp"
	mv "$out.tmp" "$out"; echo "$stamp" >"$out.stamp"; rm -rf "$root"
	log "initramfs: $(du -h "$out" | cut -f1)"
}

# ---------------------------------------------------------------- scenarios
scenario_done() { [ -s "$(line_dir "$1")/dumps/$2/meta.json" ] && [ -z "${LAB_FORCE:-}" ]; }

step_scenarios() { # step_scenarios LINE SC...: boot and dump (A and B share a boot)
	local line=$1 d todo=() s; d=$(line_dir "$1"); shift
	for s in "$@"; do
		if scenario_done "$line" "$s"; then log "$s: cached ($d/dumps/$s)"; else todo+=("$s"); fi
	done
	local ab=0
	[[ " ${todo[*]:-} " == *" A "* && " ${todo[*]:-} " == *" B "* ]] && ab=1
	for s in "${todo[@]}"; do
		local args=(--scenario "$s") name=$s
		if [ $ab = 1 ]; then
			[ "$s" = B ] && continue
			[ "$s" = A ] && { args=(--scenario A --scenario B); name=A+B; }
		fi
		log "$name: boot and dump ($(line_field "$line" 3) MiB, $(line_field "$line" 4) formats; E-H: mdf-zlib only)"
		timed "scenario-$name" /usr/bin/python3 "$HERE/run_scenario.py" --cache "$d" --lab "$CACHE" "${args[@]}" \
			--mem "$(line_field "$line" 3)" --formats "$(line_field "$line" 4)" --mdf-level "$(line_field "$line" 5)" ||
			die "scenario $name"
	done
}

step_oracle() {
	local line=$1 sc=$2 d; d=$(line_dir "$1")
	[ -s "$d/dumps/$sc/meta.json" ] || die "$sc: no dumps"
	if [ -s "$d/dumps/$sc/drgn.json" ] && [ -z "${LAB_FORCE:-}" ]; then log "$sc: oracle cached"; return 0; fi
	log "$sc: drgn and crash oracles"
	timed "oracle-$sc" /usr/bin/python3 "$HERE/oracle.py" --cache "$d" --scenario "$sc" || die "oracle $sc"
}

step_oracle_waits() { # drgn.json's waits again, from the dump it names (the rest of drgn.json is kept)
	local line=$1 sc=$2 d; d=$(line_dir "$1")
	timed "oracle-waits-$sc" /usr/bin/python3 "$HERE/oracle.py" --cache "$d" --scenario "$sc" --waits-only ||
		die "oracle --waits-only $sc"
}

# ---------------------------------------------------------------- summary
# step_summary: the README's table (lines x scenarios x formats kept, sizes, timings)
step_summary() {
	/usr/bin/python3 - "$CACHE" "$HERE/lines" <<'PY'
import glob, json, os, sys
cache = sys.argv[1]
lines = [l.split()[0] for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
SC = ["A", "B", "B-notimeout", "C", "D", "E", "F", "G", "G-legit", "H", "H-legit"]
ABBR = {"elf-paging": "ep", "elf-nopaging": "en", "kdump-zlib-flat": "kz", "mdf-zlib": "mz", "mdf-lzo": "ml"}
def du(p):
    tot = 0
    for r, _, fs in os.walk(p):
        for f in fs:
            try:
                tot += os.lstat(os.path.join(r, f)).st_size
            except OSError:
                pass
    return tot
def mb(n): return f"{n / 2**20:.0f} MB" if n < 2**30 else f"{n / 2**30:.1f} GB"
print("| line | release | " + " | ".join(SC) + " | line dir |")
print("|---|---|" + "---|" * len(SC) + "---|")
for l in lines:
    d = os.path.join(cache, "lines", l)
    if not os.path.isdir(d):
        print(f"| `{l}` | (absent) |" + " |" * len(SC) + " |"); continue
    rel = open(os.path.join(d, "release")).read().strip() if os.path.exists(os.path.join(d, "release")) else "?"
    cells = []
    for s in SC:
        m = os.path.join(d, "dumps", s, "meta.json")
        if not os.path.exists(m):
            cells.append("—"); continue
        meta = json.load(open(m))
        kept = meta.get("formats_kept") or [f for f in ABBR if os.path.exists(os.path.join(d, "dumps", s, f + ".vmcore"))]
        size = sum(os.path.getsize(os.path.join(d, "dumps", s, f + ".vmcore")) for f in kept if os.path.exists(os.path.join(d, "dumps", s, f + ".vmcore")))
        t = meta.get("timings", {})
        orc = ""
        o = os.path.join(d, "dumps", s, "oracle.json")
        if os.path.exists(o):
            oj = json.load(open(o))
            orc = f", oracle {oj.get('seconds', '?')} s"
        cells.append(f"{' '.join(ABBR[f] for f in kept)}: {mb(size)}; boot {t.get('boot_to_ready_s','?')} s, total {t.get('total_s','?')} s{orc}"
                     + (" (A+B one boot)" if meta.get("shared_boot") else ""))
    print(f"| `{l}` | {rel} | " + " | ".join(cells) + f" | {mb(du(d))} |")
print()
print(f"cache total: {mb(du(cache))}; roots: {mb(du(os.path.join(cache, 'roots')))}; apt: {mb(du(os.path.join(cache, 'apt')))}")
PY
}

# ---------------------------------------------------------------- driver
SCENARIOS=(A B B-notimeout C D)
# the wait-for scenarios (E: i_rwsem chain; F: ABBA; G/G-legit: completion; H/H-legit: mutex):
# `all` runs them on the lines whose 6th field in the lines file lists them; named on the
# command line they run on any line asked for
WAIT_SCENARIOS=(E F G G-legit H H-legit)
LABMOD_SCENARIOS=" F G G-legit H H-legit "
line_extra() { local x; x=$(line_field "$1" 6); [ "$x" = - ] || echo "${x//,/ }"; }
LINES=() STEPS=()
for a in "$@"; do
	if is_line "$a"; then LINES+=("$a"); else STEPS+=("$a"); fi
done
[ ${#LINES[@]} -gt 0 ] || mapfile -t LINES < <(all_lines)
[ ${#STEPS[@]} -gt 0 ] || STEPS=(all)
for s in "${STEPS[@]}"; do
	case $s in
	install | apt | roots | kernel | labmod | initramfs | oracle | oracle-waits | all | A | B | B-notimeout | C | D | E | F | G | G-legit | H | H-legit) ;;
	summary) step_summary; exit 0 ;;
	*) die "unknown line or step '$s' (lines: $(all_lines | xargs); steps: install apt roots kernel labmod initramfs A B B-notimeout C D E F G G-legit H H-legit oracle oracle-waits all summary)" ;;
	esac
done

# prefetch: download and extract the kernels of the later lines in the background,
# LAB_JOBS at a time, while the first line boots (each kernel step holds its line's lock)
PREFETCH=
prefetch() {
	[ ${#LINES[@]} -gt 1 ] || return 0
	local todo=() l
	for l in "${LINES[@]}"; do kernel_done "$(line_dir "$l")" || todo+=("$l"); done
	[ ${#todo[@]} -gt 0 ] || return 0
	log "prefetch: kernels of ${todo[*]} (${LAB_JOBS:-2} at a time, log $CACHE/prefetch.log)"
	printf '%s\n' "${todo[@]}" | xargs -P "${LAB_JOBS:-2}" -I{} bash "$HERE/lab.sh" {} kernel >>"$CACHE/prefetch.log" 2>&1 &
	PREFETCH=$!
}
cleanup() { [ -n "$PREFETCH" ] && kill "$PREFETCH" 2>/dev/null; [ -n "${ORACLE_PID:-}" ] && kill "$ORACLE_PID" 2>/dev/null; return 0; }
trap cleanup EXIT

want() { local s; for s in "${STEPS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
needs_boot=0
for s in "${STEPS[@]}"; do case $s in all | A | B | B-notimeout | C | D | E | F | G | G-legit | H | H-legit) needs_boot=1 ;; esac; done

if want install || [ $needs_boot = 1 ]; then step_install; fi
if want apt || want kernel || [ $needs_boot = 1 ]; then step_apt; fi
if want roots || want oracle || want oracle-waits || [ $needs_boot = 1 ]; then
	if [ $needs_boot = 1 ] || want kernel; then
		# roots.sh (debootstrap, ~2-3 min each) runs beside the kernel downloads
		( step_roots ) >>"$CACHE/roots.log" 2>&1 & ROOTS_PID=$!
	else
		step_roots
	fi
fi
if want kernel || [ $needs_boot = 1 ]; then prefetch; fi
if [ -n "${ROOTS_PID:-}" ] && [ $needs_boot = 1 ]; then
	wait "$ROOTS_PID" || { tail -20 "$CACHE/roots.log" >&2; grep -q 'SKIP: Debian mirror' "$CACHE/roots.log" && skip_mirror; die "roots (log $CACHE/roots.log)"; }
	ROOTS_PID=
fi

# The oracles of a line run in the background while the next line boots (one line's
# oracles at a time; LAB_ORACLE_BG=0 runs them in line).
ORACLE_PID= ORACLE_LINE=
wait_oracle() {
	[ -n "$ORACLE_PID" ] || return 0
	local rc=0
	wait "$ORACLE_PID" || rc=$?
	ORACLE_PID=
	if [ $rc != 0 ]; then
		tail -30 "$CACHE/oracle-$ORACLE_LINE.log" >&2
		LINE=$ORACLE_LINE die "oracles (log $CACHE/oracle-$ORACLE_LINE.log)"
	fi
}
for LINE in "${LINES[@]}"; do
	if want kernel || [ $needs_boot = 1 ]; then step_kernel "$LINE"; fi
	scs=()
	if want all; then scs=("${SCENARIOS[@]}" $(line_extra "$LINE")); else
		for s in "${SCENARIOS[@]}" "${WAIT_SCENARIOS[@]}"; do want "$s" && scs+=("$s"); done
	fi
	need_labmod=0
	for s in "${scs[@]}"; do
		[[ $LABMOD_SCENARIOS == *" $s "* ]] && ! scenario_done "$LINE" "$s" && need_labmod=1
	done
	if want labmod || [ $need_labmod = 1 ]; then step_labmod "$LINE"; fi
	if want initramfs || [ $needs_boot = 1 ]; then step_initramfs "$LINE"; fi
	[ ${#scs[@]} -gt 0 ] && step_scenarios "$LINE" "${scs[@]}"
	if want oracle || [ ${#scs[@]} -gt 0 ]; then
		ors=()
		want oracle && scs=("${SCENARIOS[@]}" "${WAIT_SCENARIOS[@]}")
		for s in "${scs[@]}"; do
			[ -s "$(line_dir "$LINE")/dumps/$s/meta.json" ] || continue
			if [ -s "$(line_dir "$LINE")/dumps/$s/drgn.json" ] && [ -z "${LAB_FORCE:-}" ]; then log "$s: oracle cached"; continue; fi
			ors+=("$s")
		done
		wait_oracle
		if [ ${#ors[@]} -gt 0 ]; then
			if [ "${LAB_ORACLE_BG:-1}" = 1 ]; then
				log "oracles of ${ors[*]} in the background (log $CACHE/oracle-$LINE.log)"
				( for s in "${ors[@]}"; do step_oracle "$LINE" "$s"; done ) >"$CACHE/oracle-$LINE.log" 2>&1 &
				ORACLE_PID=$! ORACLE_LINE=$LINE
			else
				for s in "${ors[@]}"; do step_oracle "$LINE" "$s"; done
			fi
		fi
	fi
	if want oracle-waits; then
		for s in "${SCENARIOS[@]}" "${WAIT_SCENARIOS[@]}"; do
			if [ -s "$(line_dir "$LINE")/dumps/$s/drgn.json" ]; then step_oracle_waits "$LINE" "$s"; fi
		done
	fi
	timed line-done true
done
wait_oracle
LINE=-
if [ -n "${ROOTS_PID:-}" ]; then wait "$ROOTS_PID" || die "roots (log $CACHE/roots.log)"; fi
if [ -n "$PREFETCH" ]; then wait "$PREFETCH" || true; PREFETCH=; fi
log "done: $CACHE ($(du -sh "$CACHE" | cut -f1))"
