package symbols

import (
	"bytes"
	"debug/dwarf"
	"encoding/gob"
	"fmt"
	"os"
	"path/filepath"
)

// The type index of a large vmlinux takes seconds to build (one pass over
// hundreds of MB of DWARF). It is cached on disk keyed by build-id: a
// second analysis of any dump of the same kernel skips the pass.
// VMTRIAGE_CACHE sets the directory ("off" disables it); the default is the
// user cache directory's vmtriage/types.

// indexCacheVersion changes whenever the index format does.
const indexCacheVersion = 4

type indexCache struct {
	Version   int
	Index     map[string]dwarf.Offset
	Consts    map[string]int64
	Vars      map[string]dwarf.Offset
	NamedOffs []dwarf.Offset
	CUOffs    []dwarf.Offset
}

func cacheFile(buildID string) string {
	if buildID == "" {
		return ""
	}
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
	return filepath.Join(dir, "types", fmt.Sprintf("%s.v%d.gob", buildID, indexCacheVersion))
}

// loadIndex fills t's index from the cache; false when there is none.
func (t *Types) loadIndex(buildID string) bool {
	path := cacheFile(buildID)
	if path == "" {
		return false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var c indexCache
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil || c.Version != indexCacheVersion {
		return false
	}
	t.index, t.consts, t.vars, t.namedOffs, t.cuOffs = c.Index, c.Consts, c.Vars, c.NamedOffs, c.CUOffs
	if t.vars == nil {
		t.vars = map[string]dwarf.Offset{}
	}
	return true
}

// saveIndex writes t's index to the cache, atomically; errors are ignored
// (the cache is an optimisation).
func (t *Types) saveIndex(buildID string) {
	path := cacheFile(buildID)
	if path == "" {
		return
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(indexCache{indexCacheVersion, t.index, t.consts, t.vars, t.namedOffs, t.cuOffs}); err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".index-*")
	if err != nil {
		return
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
	}
}
