#!/usr/bin/env bash
# vmtriage real-kernel lab: boots Debian bookworm's 6.1 kernel under QEMU (TCG),
# stages direct-I/O and jbd2 hangs, and dumps the guest in every format.
#
#   testdata/realkernel/lab.sh [STEP|SCENARIO ...]
#
# Steps: install kernel initramfs A B B-notimeout C D oracle all (default: all).
# Cache:  ${VMTRIAGE_CACHE:-$HOME/.cache/vmtriage}/realkernel   (nothing already there
#         is downloaded or rebuilt again; delete a file to redo its step)
# Env:    LAB_SKIP_EXIT=N  exit status used when the Debian mirror is unreachable
#                          (default 0: "SKIP: Debian mirror unreachable", exit 0)
#         LAB_KERNEL=linux-image-6.1.0-NN-amd64   pin the kernel package (default: newest)
#         LAB_NO_INSTALL=1 do not call apt-get install
#         LAB_FORCE=1      redo the scenarios' dumps even if meta.json exists
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VMTRIAGE_CACHE:-$HOME/.cache/vmtriage}/realkernel
mkdir -p "$CACHE"
export CACHE HERE
command -v bc >/dev/null || bc() { /usr/bin/python3 -c 'import sys; print(eval(sys.stdin.read()))'; }

log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
timed() { # timed NAME cmd...: run and append "NAME seconds" to $CACHE/timings.txt
	local name=$1 t0 rc=0; shift; t0=$(date +%s.%N)
	"$@" || rc=$?
	printf '%s %.1f rc=%d %s\n' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)" "$rc" "$(date -Is)" >>"$CACHE/timings.txt"
	return $rc
}

skip_mirror() {
	[ "$BASH_SUBSHELL" -gt 0 ] && exit 77 # the download subshell: its parent reports
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
apt_update() { # apt-get update prints fetch failures as warnings and may still exit 0
	apt_net "$CACHE/apt-update.log" $SUDO apt-get update
}

PKGS=(qemu-system-x86 busybox-static python3-drgn crash makedumpfile dmsetup dosfstools
	jfsutils e2fsprogs fio libaio1 gdb cpio socat kmod bc time)

step_install() {
	local missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && { log "install: all packages present"; return 0; }
	[ -n "${LAB_NO_INSTALL:-}" ] && die "missing packages: ${missing[*]}"
	log "install: ${missing[*]}"
	apt_update
	DEBIAN_FRONTEND=noninteractive apt_net "$CACHE/apt-install.log" $SUDO apt-get install -y -q "${missing[@]}"
}

# Debug modules extracted for drgn (module types: journal_t, struct jfs_inode_info ...).
MODS="drivers/block/brd drivers/md/dm-mod fs/fat/fat fs/fat/vfat fs/nls/nls_cp437 fs/nls/nls_iso8859-1
fs/jfs/jfs fs/ext4/ext4 fs/jbd2/jbd2 fs/mbcache lib/crc16 lib/libcrc32c crypto/crc32c_generic
drivers/firmware/qemu_fw_cfg"

step_kernel() {
	if [ -s "$CACHE/vmlinux" ] && [ -s "$CACHE/release" ] && [ -s "$CACHE/vmlinuz" ] && [ -e "$CACHE/modules/lib/modules/$(cat "$CACHE/release")/kernel/drivers/firmware/qemu_fw_cfg.ko" ]; then
		log "kernel: cached ($(cat "$CACHE/release"))"; return 0
	fi
	local pkg=${LAB_KERNEL:-}
	if [ -z "$pkg" ]; then
		pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
		if [ -z "$pkg" ]; then
			apt_update
			pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
		fi
		if [ -z "$pkg" ]; then
			grep -qiE "$NETFAIL" "$CACHE/apt-update.log" 2>/dev/null && skip_mirror
			die "no linux-image-6.1.0-*-amd64 in apt-cache (is bookworm in sources.list?)"
		fi
	fi
	local rel=${pkg#linux-image-}
	mkdir -p "$CACHE/debs"
	(
		cd "$CACHE/debs"
		ls "$pkg"_*.deb >/dev/null 2>&1 && ls "$pkg-dbg"_*.deb >/dev/null 2>&1 && exit 0
		log "kernel: apt-get download $pkg $pkg-dbg (~930 MB)"
		if ! timed download apt-get download "$pkg" "$pkg-dbg" 2>"$CACHE/debs/download.err" &&
			! { grep -q 'Unable to locate package' "$CACHE/debs/download.err" && apt_update &&
				timed download apt-get download "$pkg" "$pkg-dbg" 2>"$CACHE/debs/download.err"; }; then
			cat "$CACHE/debs/download.err" >&2
			grep -qiE "$NETFAIL" "$CACHE/apt-update.log" 2>/dev/null && exit 77
			grep -qiE "$NETFAIL" "$CACHE/debs/download.err" && exit 77
			exit 1
		fi
	) || { [ $? = 77 ] && skip_mirror; die "apt-get download $pkg"; }
	local img dbg; img=$(ls "$CACHE/debs/$pkg"_*.deb); dbg=$(ls "$CACHE/debs/$pkg-dbg"_*.deb)
	local tmp="$CACHE/extract.tmp"; rm -rf "$tmp"; mkdir -p "$tmp"
	# FIRST the debug vmlinux at its stable path (others poll for it).
	if [ ! -s "$CACHE/vmlinux" ]; then
		log "kernel: extracting debug vmlinux and modules from $(basename "$dbg") (xz, 45-75 s)"
		local pats=("./usr/lib/debug/boot/vmlinux-$rel")
		for m in $MODS; do pats+=("./usr/lib/debug/lib/modules/$rel/kernel/$m.ko"); done
		timed extract-dbg bash -c 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" "${@:3}"' _ "$dbg" "$tmp" "${pats[@]}" 2>"$tmp/tar.err" || {
			cat "$tmp/tar.err" >&2; grep -q 'Not found in archive' "$tmp/tar.err" || die "extract $dbg"; }
		mkdir -p "$CACHE/debug-modules"
		cp -r "$tmp/usr/lib/debug/lib/modules/$rel/kernel/." "$CACHE/debug-modules/" 2>/dev/null || true
		mv "$tmp/usr/lib/debug/boot/vmlinux-$rel" "$CACHE/vmlinux.tmp" && mv "$CACHE/vmlinux.tmp" "$CACHE/vmlinux"
		echo "$rel" >"$CACHE/release.tmp" && mv "$CACHE/release.tmp" "$CACHE/release"
		log "kernel: $CACHE/vmlinux ready ($rel)"
	fi
	log "kernel: extracting vmlinuz, config and modules from $(basename "$img")"
	local pats=("./boot/vmlinuz-$rel" "./boot/config-$rel" "./boot/System.map-$rel")
	for m in $MODS; do pats+=("./lib/modules/$rel/kernel/$m.ko"); done
	dpkg-deb --fsys-tarfile "$img" | tar -x -C "$tmp" "${pats[@]}" || die "extract $img"
	cp "$tmp/boot/config-$rel" "$CACHE/config"
	cp "$tmp/boot/System.map-$rel" "$CACHE/System.map"
	rm -rf "$CACHE/modules"; mkdir -p "$CACHE/modules/lib/modules"
	mv "$tmp/lib/modules/$rel" "$CACHE/modules/lib/modules/"
	touch "$CACHE/modules/lib/modules/$rel/"{modules.order,modules.builtin,modules.builtin.modinfo}
	depmod -b "$CACHE/modules" "$rel" || die "depmod"
	mv "$tmp/boot/vmlinuz-$rel" "$CACHE/vmlinuz"
	rm -rf "$tmp"
	log "kernel: done"
}

step_initramfs() {
	local out="$CACHE/initramfs.cpio" stamp
	stamp=$(cat "$HERE/init.sh" "$CACHE/release" | sha256sum | cut -c1-16)
	if [ -s "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
		log "initramfs: cached"; return 0
	fi
	local rel root="$CACHE/initramfs.tmp"; rel=$(cat "$CACHE/release")
	rm -rf "$root"; mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,proc,sys,dev,mnt,tmp,etc}
	cp /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
	cp -a "$CACHE/modules/lib/modules" "$root/lib/"
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
	cp "$HERE/init.sh" "$root/init"; chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet) >"$out.tmp"
	mv "$out.tmp" "$out"; echo "$stamp" >"$out.stamp"; rm -rf "$root"
	log "initramfs: $(du -h "$out" | cut -f1)"
}

step_scenario() {
	local sc=$1 dir="$CACHE/dumps/$1"
	if [ -s "$dir/meta.json" ] && [ -z "${LAB_FORCE:-}" ]; then log "$sc: cached ($dir)"; return 0; fi
	log "$sc: boot and dump"
	timed "scenario-$sc" /usr/bin/python3 "$HERE/run_scenario.py" --cache "$CACHE" --scenario "$sc" || die "scenario $sc"
}

step_oracle() {
	local sc=$1 dir="$CACHE/dumps/$1"
	[ -s "$dir/meta.json" ] || die "$sc: no dumps"
	if [ -s "$dir/drgn.json" ] && [ -z "${LAB_FORCE:-}" ]; then log "$sc: oracle cached"; return 0; fi
	log "$sc: drgn and crash oracles"
	timed "oracle-$sc" /usr/bin/python3 "$HERE/oracle.py" --cache "$CACHE" --scenario "$sc" || die "oracle $sc"
}

SCENARIOS=(A B B-notimeout C D)
[ $# -gt 0 ] || set -- all
for step in "$@"; do
	case $step in
	install) step_install ;;
	kernel) step_kernel ;;
	initramfs) step_initramfs ;;
	A | B | B-notimeout | C | D) step_install; step_kernel; step_initramfs; step_scenario "$step"; step_oracle "$step" ;;
	oracle) for s in "${SCENARIOS[@]}"; do [ -s "$CACHE/dumps/$s/meta.json" ] && step_oracle "$s"; done ;;
	all)
		step_install; step_kernel; step_initramfs
		for s in "${SCENARIOS[@]}"; do step_scenario "$s"; step_oracle "$s"; done ;;
	*) die "unknown step $step (install kernel initramfs A B B-notimeout C D oracle all)" ;;
	esac
done
log "done: $CACHE"
