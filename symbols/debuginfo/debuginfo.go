// Package debuginfo finds the vmlinux (with DWARF) that a crash dump was
// taken from, the way a support engineer would: by the kernel's GNU
// build-id in the dump's VMCOREINFO, by the kernel release (VMCOREINFO
// OSRELEASE, the kdump header's utsname, or the "Linux version" banner found
// in the dump's memory), in debug directories laid out as distributions
// install them, and from debuginfod servers.
//
// Directory layouts searched under each debug directory DIR:
//
//	DIR/.build-id/xx/rest.debug                    (build-id xxrest...)
//	DIR/usr/lib/debug/.build-id/xx/rest.debug
//	DIR/usr/lib/debug/boot/vmlinux-RELEASE         (Debian, Ubuntu)
//	DIR/usr/lib/debug/lib/modules/RELEASE/vmlinux  (Fedora, RHEL)
//	DIR/boot/vmlinux-RELEASE, DIR/vmlinux-RELEASE, DIR/RELEASE/vmlinux
//
// and, when the dump only tells its banner, every vmlinux* file in DIR,
// DIR/boot and DIR/usr/lib/debug/boot whose linux_banner is the dump's.
//
// The debuginfod protocol is described at
// https://sourceware.org/elfutils/Debuginfod.html.
package debuginfo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/vmcore"
)

// ErrNotFound means no vmlinux was found for a dump.
var ErrNotFound = errors.New("no vmlinux found")

// DefaultScanLimit is how much physical memory Identify scans for the
// "Linux version" banner when the dump names neither build-id nor release.
const DefaultScanLimit = 64 << 20

// Identity is what a dump says about the kernel that wrote it.
type Identity struct {
	BuildID string // GNU build-id, lower-case hex ("" if unknown)
	Release string // kernel release, e.g. "2.6.9-67.0.4.ELlargesmp"
	Banner  string // the "Linux version ..." line, when found in memory
	Source  string // where Release came from: "vmcoreinfo", "utsname", "banner"
}

// String describes the identity for error messages.
func (id Identity) String() string {
	var parts []string
	if id.BuildID != "" {
		parts = append(parts, "build-id "+id.BuildID)
	}
	if id.Release != "" {
		parts = append(parts, "release "+id.Release+" (from "+id.Source+")")
	}
	if len(parts) == 0 {
		return "no build-id, release or banner"
	}
	return strings.Join(parts, ", ")
}

var bannerRelease = regexp.MustCompile(`^Linux version (\S+)`)

// Identify reads the build-id and release from the dump's VMCOREINFO and
// kdump header; when both are missing and scanLimit > 0 it scans up to
// scanLimit bytes of physical memory, lowest addresses first, for the
// kernel's "Linux version " banner.
func Identify(d *vmcore.Dump, scanLimit int64) Identity {
	var id Identity
	if v, ok := d.VMCoreInfoValue("BUILD-ID"); ok {
		id.BuildID = strings.ToLower(strings.TrimSpace(v))
	}
	if v, ok := d.VMCoreInfoValue("OSRELEASE"); ok && v != "" {
		id.Release, id.Source = strings.TrimSpace(v), "vmcoreinfo"
	} else if u, ok := d.Utsname(); ok && u.Release != "" {
		id.Release, id.Source = u.Release, "utsname"
	}
	if id.BuildID == "" && id.Release == "" && scanLimit > 0 {
		if b := ScanBanner(d, scanLimit); b != "" {
			id.Banner = b
			if m := bannerRelease.FindStringSubmatch(b); m != nil {
				id.Release, id.Source = m[1], "banner"
			}
		}
	}
	return id
}

// ScanBanner returns the first "Linux version ..." line (up to a NUL or
// newline) in the first limit bytes of the dump's physical memory, or "".
// Unreadable pages (excluded, truncated) are skipped.
func ScanBanner(d *vmcore.Dump, limit int64) string {
	const chunk = 1 << 20
	const page = 4096
	magic := []byte("Linux version ")
	segs := d.Segments()
	sort.Slice(segs, func(i, j int) bool { return segs[i].Paddr < segs[j].Paddr })
	buf := make([]byte, chunk+256)
	var scanned int64
	for _, s := range segs {
		for off := uint64(0); off < s.MemSize && scanned < limit; off += chunk {
			n := min(uint64(chunk+256), s.MemSize-off, uint64(limit-scanned))
			p := buf[:n]
			if err := d.ReadPhys(s.Paddr+off, p); err != nil {
				// read what can be read, page by page
				for po := uint64(0); po < n; po += page {
					q := p[po:min(po+page, n)]
					if d.ReadPhys(s.Paddr+off+po, q) != nil {
						clear(q)
					}
				}
			}
			scanned += int64(min(uint64(chunk), n))
			if i := bytes.Index(p, magic); i >= 0 {
				line := p[i:]
				if j := bytes.IndexAny(line, "\x00\n"); j >= 0 {
					line = line[:j]
				}
				return string(line)
			}
		}
		if scanned >= limit {
			break
		}
	}
	return ""
}

// Finder locates the vmlinux for dumps. Its zero value finds nothing; it
// is safe for concurrent use.
type Finder struct {
	// DebugDirs are searched by build-id, release and banner.
	DebugDirs []string
	// Client, if not nil, asks debuginfod servers by build-id.
	Client *Client
	// Fallback is used when nothing else matches (the --vmlinux flag).
	Fallback string
	// ScanLimit bounds the banner scan (DefaultScanLimit when 0; negative
	// disables it).
	ScanLimit int64

	once     sync.Once
	banners  map[string]string // linux_banner -> vmlinux path, over DebugDirs
	buildIDs map[string]string // build-id -> vmlinux path, over the same files
	unusable []error           // vmlinux* files (or directories) that could not be read
}

// Found is the result of a search.
type Found struct {
	Path string   // the vmlinux
	How  string   // "build-id", "release", "banner", "debuginfod", "fallback"
	ID   Identity // what the dump said
}

// Searching reports whether the finder has anywhere to look besides the
// fallback; when it has not, identifying the dump is pointless.
func (f *Finder) Searching() bool {
	return len(f.DebugDirs) > 0 || (f.Client != nil && len(f.Client.URLs) > 0)
}

// Find identifies the opened dump and returns its vmlinux.
func (f *Finder) Find(ctx context.Context, d *vmcore.Dump) (Found, error) {
	if !f.Searching() {
		if f.Fallback != "" {
			return Found{Path: f.Fallback, How: "fallback"}, nil
		}
		return Found{}, fmt.Errorf("%s: %w: give --vmlinux, --debug-dir or DEBUGINFOD_URLS", d.Path(), ErrNotFound)
	}
	limit := f.ScanLimit
	if limit == 0 {
		limit = DefaultScanLimit
	}
	id := Identify(d, limit)
	found, err := f.Lookup(ctx, id)
	if err == nil {
		return found, nil
	}
	if f.Fallback != "" {
		return Found{Path: f.Fallback, How: "fallback", ID: id}, nil
	}
	return Found{ID: id}, fmt.Errorf("%s (%s): %w", d.Path(), id, err)
}

// Lookup searches the debug directories and debuginfod for an identity.
func (f *Finder) Lookup(ctx context.Context, id Identity) (Found, error) {
	if id.BuildID != "" {
		for _, dir := range f.DebugDirs {
			for _, p := range BuildIDPaths(dir, id.BuildID) {
				if isFile(p) {
					return Found{Path: p, How: "build-id", ID: id}, nil
				}
			}
		}
		if len(f.DebugDirs) > 0 {
			f.once.Do(f.indexBanners)
			if p, ok := f.buildIDs[strings.ToLower(id.BuildID)]; ok {
				return Found{Path: p, How: "build-id", ID: id}, nil
			}
		}
	}
	if id.Release != "" {
		for _, dir := range f.DebugDirs {
			for _, p := range ReleasePaths(dir, id.Release) {
				if isFile(p) {
					return Found{Path: p, How: "release", ID: id}, nil
				}
			}
		}
	}
	if id.Banner != "" && len(f.DebugDirs) > 0 {
		f.once.Do(f.indexBanners)
		if p, ok := f.banners[id.Banner]; ok {
			return Found{Path: p, How: "banner", ID: id}, nil
		}
	}
	var errs []error
	if id.BuildID != "" && f.Client != nil && len(f.Client.URLs) > 0 {
		p, err := f.Client.Fetch(ctx, id.BuildID)
		if err == nil {
			return Found{Path: p, How: "debuginfod", ID: id}, nil
		}
		errs = append(errs, err)
	}
	where := fmt.Sprintf("debug dirs %q", f.DebugDirs)
	if f.Client != nil && len(f.Client.URLs) > 0 {
		where += fmt.Sprintf(", debuginfod %q", f.Client.URLs)
	}
	if len(f.DebugDirs) > 0 {
		f.once.Do(f.indexBanners) // the files it could not read may be why
	}
	if len(f.unusable) > 0 {
		const shown = 5
		n := len(f.unusable)
		errs = append(errs, f.unusable[:min(n, shown)]...)
		if n > shown {
			errs = append(errs, fmt.Errorf("and %d more unreadable vmlinux files", n-shown))
		}
	}
	return Found{ID: id}, fmt.Errorf("%w in %s%s", ErrNotFound, where, joinErrs(errs))
}

func joinErrs(errs []error) string {
	if len(errs) == 0 {
		return ""
	}
	return ": " + errors.Join(errs...).Error()
}

// BuildIDPaths lists where a build-id's debug file may be under dir.
func BuildIDPaths(dir, buildID string) []string {
	if len(buildID) < 3 {
		return nil
	}
	rel := filepath.Join(".build-id", buildID[:2], buildID[2:]+".debug")
	return []string{filepath.Join(dir, rel), filepath.Join(dir, "usr", "lib", "debug", rel)}
}

// ReleasePaths lists where a release's vmlinux may be under dir.
func ReleasePaths(dir, release string) []string {
	if release == "" || strings.ContainsAny(release, "/\x00") || release == "." || release == ".." {
		return nil
	}
	return []string{
		filepath.Join(dir, "usr", "lib", "debug", "boot", "vmlinux-"+release),
		filepath.Join(dir, "usr", "lib", "debug", "lib", "modules", release, "vmlinux"),
		filepath.Join(dir, "boot", "vmlinux-"+release),
		filepath.Join(dir, "vmlinux-"+release),
		filepath.Join(dir, release, "vmlinux"),
	}
}

// indexBanners reads linux_banner and the build-id of every vmlinux* file
// directly in the debug directories' usual places (a vmlinux kept under a
// plain name is found by either). Files that cannot be read are kept for
// the error when nothing matches.
func (f *Finder) indexBanners() {
	f.banners = map[string]string{}
	f.buildIDs = map[string]string{}
	for _, dir := range f.DebugDirs {
		for _, sub := range []string{"", "boot", filepath.Join("usr", "lib", "debug", "boot")} {
			for _, p := range f.vmlinuxFiles(filepath.Join(dir, sub)) {
				b, id, err := bannerAndBuildID(p)
				if err != nil {
					f.unusable = append(f.unusable, err)
				}
				if _, dup := f.banners[b]; !dup && b != "" {
					f.banners[b] = p
				}
				if _, dup := f.buildIDs[id]; !dup && id != "" {
					f.buildIDs[id] = p // a separate debuginfo file has no banner data, but its build-id
				}
			}
		}
	}
}

// vmlinuxFiles lists the regular files (or links to them) named vmlinux*
// in dir, sorted. The directory name is taken literally (filepath.Glob
// would read "[", "*" or "?" in it as a pattern). A directory that does
// not exist has none; one that cannot be read is recorded as unusable.
func (f *Finder) vmlinuxFiles(dir string) []string {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			f.unusable = append(f.unusable, err)
		}
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		f.unusable = append(f.unusable, err)
		return nil
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "vmlinux") || e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if isFile(p) {
			out = append(out, p)
		}
	}
	return out
}

// Banner returns the linux_banner string of a vmlinux, up to its newline.
func Banner(vmlinux string) (string, error) {
	b, _, err := bannerAndBuildID(vmlinux)
	return b, err
}

func bannerAndBuildID(vmlinux string) (string, string, error) {
	im, err := symbols.Open(vmlinux)
	if err != nil {
		return "", "", err
	}
	defer im.Close()
	id := strings.ToLower(im.BuildID())
	b, err := im.ReadData("linux_banner")
	if err != nil {
		return "", id, fmt.Errorf("%s: linux_banner: %w", vmlinux, err)
	}
	if i := bytes.IndexAny(b, "\x00\n"); i >= 0 {
		b = b[:i]
	}
	return string(b), id, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
