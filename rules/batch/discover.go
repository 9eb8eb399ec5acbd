package batch

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// IsDump reports whether the file starts like a dump vmtriage reads: an
// ELF core file (ET_CORE), a kdump-compressed file ("KDUMP   ") or a
// makedumpfile flattened stream ("makedumpfile"). An ELF file too short
// to tell its type is taken as a (truncated) dump.
func IsDump(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var head [18]byte
	n, _ := f.ReadAt(head[:], 0)
	return isDumpHead(head[:n]), nil
}

func isDumpHead(h []byte) bool {
	switch {
	case len(h) >= 4 && string(h[:4]) == "\x7fELF":
		if len(h) < 18 {
			return true
		}
		const etCore = 4
		var order binary.ByteOrder = binary.LittleEndian
		if h[5] == 2 {
			order = binary.BigEndian
		}
		return order.Uint16(h[16:]) == etCore
	case len(h) >= 8 && string(h[:8]) == "KDUMP   ":
		return true
	case len(h) >= 12 && string(h[:12]) == "makedumpfile":
		return true
	}
	return false
}

// looksLikeDumpName reports whether a file is named like a dump (vmcore,
// *.kdump, *.core...): such a file is analysed even when its content is not
// a dump, so that a corrupt core in the queue gets an error record instead
// of vanishing.
func looksLikeDumpName(path string) bool {
	name := strings.ToLower(filepath.Base(path))
	if strings.Contains(name, "vmcore") {
		return true
	}
	switch filepath.Ext(name) {
	case ".kdump", ".dump", ".core", ".flat", ".dmp":
		return true
	}
	return false
}

// Discover lists the dumps under paths, sorted and without duplicates, as
// absolute paths. Directories are walked recursively and their files kept
// when IsDump says so or when they are named like a dump (other files, such
// as vmlinux images, logs or a previous results.jsonl, are skipped); a file
// named in paths is always
// kept, so that a bad file given explicitly gets an error record. Symbolic
// links to files are followed, links to directories are not.
func Discover(paths []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(p string) error {
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("discover %s: %w", p, err)
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, abs)
		}
		return nil
	}
	for _, root := range paths {
		st, err := os.Stat(root)
		if err != nil {
			return nil, fmt.Errorf("discover: %w", err)
		}
		if !st.IsDir() {
			if err := add(root); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("discover: %w", err)
			}
			if d.IsDir() {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				st, err := os.Stat(p)
				if err != nil || !st.Mode().IsRegular() {
					return nil
				}
			} else if !d.Type().IsRegular() {
				return nil
			}
			ok, err := IsDump(p)
			if err != nil {
				return fmt.Errorf("discover: %w", err)
			}
			if ok || looksLikeDumpName(p) {
				return add(p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// Shard selects part I of N of an input list. The zero Shard (N == 0)
// selects everything.
type Shard struct {
	Index, Count int
}

// ParseShard parses "I/N" with 0 <= I < N.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("--shard %q: want I/N with 0 <= I < N, e.g. 0/4", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// String renders the shard as "I/N" ("" for all).
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Has reports whether the dump at path belongs to the shard: FNV-1a 64 of
// the path modulo N. The hash, rather than a position in the list, keeps
// each dump in its shard when files are added between the start of two
// shards (pods and array tasks do not start at the same moment).
func (s Shard) Has(path string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(path))
	return h.Sum64()%uint64(s.Count) == uint64(s.Index)
}

// Select keeps the paths of the shard, in order.
func (s Shard) Select(paths []string) []string {
	var out []string
	for _, p := range paths {
		if s.Has(p) {
			out = append(out, p)
		}
	}
	return out
}
