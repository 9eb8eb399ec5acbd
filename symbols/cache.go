package symbols

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// The type index of a large vmlinux takes seconds to build (one pass over
// hundreds of MB of DWARF). It is cached on disk keyed by build-id: a
// second analysis of any dump of the same kernel skips the pass.
// VMTRIAGE_CACHE sets the directory ("off" disables it); the default is the
// user cache directory's vmtriage/types.

// indexCacheVersion changes whenever the index format does. Version 5 is
// a flat binary file (gob took 0.2 s to write and more to read for a
// kernel's 60k names): "vmtriage-types" magic, version, then the maps
// (count, then per entry a uvarint-length name and a varint value) and
// the offset lists (count, then uvarint deltas).
const indexCacheVersion = 5

const indexCacheMagic = "vmtriage-types\n"

// CacheDir is the directory vmtriage keeps its caches in: $VMTRIAGE_CACHE,
// else the user cache directory's vmtriage; "" when VMTRIAGE_CACHE=off
// (or there is no user cache directory).
func CacheDir() string {
	dir := os.Getenv("VMTRIAGE_CACHE")
	if dir == "off" {
		return ""
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "vmtriage")
	}
	return dir
}

func cacheFile(buildID string) string {
	dir := CacheDir()
	if buildID == "" || dir == "" {
		return ""
	}
	return filepath.Join(dir, "types", fmt.Sprintf("%s.v%d.idx", buildID, indexCacheVersion))
}

// loadIndex fills t's index from the cache; false when there is none (or
// it is unreadable: then it is rebuilt and rewritten).
func (t *Types) loadIndex(buildID string) bool {
	path := cacheFile(buildID)
	if path == "" {
		return false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	d := indexDecoder{b: b}
	if !d.magic() {
		return false
	}
	index, consts, vars := map[string]dwarf.Offset{}, map[string]int64{}, map[string]dwarf.Offset{}
	d.offsets(index)
	d.consts(consts)
	d.offsets(vars)
	named := d.list()
	cus := d.list()
	if d.bad || len(d.b) != 0 {
		return false
	}
	t.index, t.consts, t.vars, t.namedOffs, t.cuOffs = index, consts, vars, named, cus
	return true
}

type indexDecoder struct {
	b   []byte
	bad bool
}

func (d *indexDecoder) magic() bool {
	if !bytes.HasPrefix(d.b, []byte(indexCacheMagic)) {
		return false
	}
	d.b = d.b[len(indexCacheMagic):]
	return d.uvarint() == indexCacheVersion && !d.bad
}

func (d *indexDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *indexDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *indexDecoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a count, bounded by the bytes left (each item takes one at least).
func (d *indexDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return 0
	}
	return int(n)
}

func (d *indexDecoder) offsets(m map[string]dwarf.Offset) {
	for n := d.count(); n > 0 && !d.bad; n-- {
		k := d.str()
		v := d.uvarint()
		if v > math.MaxUint32 {
			d.bad = true
		}
		m[k] = dwarf.Offset(v)
	}
}

func (d *indexDecoder) consts(m map[string]int64) {
	for n := d.count(); n > 0 && !d.bad; n-- {
		k := d.str()
		m[k] = d.varint()
	}
}

func (d *indexDecoder) list() []dwarf.Offset {
	n := d.count()
	out := make([]dwarf.Offset, 0, n)
	var last dwarf.Offset
	for ; n > 0 && !d.bad; n-- {
		delta := d.uvarint()
		if delta > math.MaxUint32 {
			d.bad = true
		}
		last += dwarf.Offset(delta) // wraps as encodeIndex's difference does
		out = append(out, last)
	}
	return out
}

// encodeIndex writes t's index in the cache format.
func (t *Types) encodeIndex() []byte {
	b := make([]byte, 0, 64*(len(t.index)+len(t.consts)+len(t.vars))+5*(len(t.namedOffs)+len(t.cuOffs)))
	b = append(b, indexCacheMagic...)
	b = binary.AppendUvarint(b, indexCacheVersion)
	offsets := func(m map[string]dwarf.Offset) {
		b = binary.AppendUvarint(b, uint64(len(m)))
		for k, v := range m {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			b = binary.AppendUvarint(b, uint64(v))
		}
	}
	list := func(l []dwarf.Offset) {
		b = binary.AppendUvarint(b, uint64(len(l)))
		var last dwarf.Offset
		for _, v := range l {
			b = binary.AppendUvarint(b, uint64(v-last)) // ascending: small deltas
			last = v
		}
	}
	offsets(t.index)
	b = binary.AppendUvarint(b, uint64(len(t.consts)))
	for k, v := range t.consts {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendVarint(b, v)
	}
	offsets(t.vars)
	list(t.namedOffs)
	list(t.cuOffs)
	return b
}

// saveIndex writes t's index to the cache, atomically; errors are ignored
// (the cache is an optimisation).
func (t *Types) saveIndex(buildID string) {
	path := cacheFile(buildID)
	if path == "" {
		return
	}
	b := t.encodeIndex()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".index-*")
	if err != nil {
		return
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
	}
}
