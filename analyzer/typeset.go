package analyzer

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vmtriage/vmtriage/symbols"
)

// TypeSet finds types in the vmlinux first, then in the debug info of the
// modules loaded in the dump (ext4, jbd2, jfs... are modules on
// distribution kernels, and their structures only exist there).
type TypeSet struct {
	kernel symbols.TypeSource
	btf    *symbols.BTFTypes        // the kernel's BTF when it is the source: modules then use their split BTF
	rec    *symbols.SnapshotBuilder // records every answer (see Recording)

	mu       sync.Mutex
	dirs     []string             // directories searched for NAME.ko(.debug)
	modules  []string             // module names still to open, in order
	opened   []symbols.TypeSource // module type sources opened so far
	failures map[string]string    // module -> why its debug info is missing
	files    map[string]string    // module name -> debug file, built on first use
}

func newTypeSet(kernel symbols.TypeSource) *TypeSet {
	return &TypeSet{kernel: kernel, failures: map[string]string{}}
}

// AddModuleDebugDirs makes the modules' debug info (NAME.ko or NAME.ko.debug
// anywhere under the directories, e.g. /usr/lib/debug/lib/modules/RELEASE)
// available for the given loaded modules.
func (ts *TypeSet) AddModuleDebugDirs(dirs []string, modules []string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.dirs = append(ts.dirs, dirs...)
	ts.modules = append(ts.modules, modules...)
}

func (ts *TypeSet) sources(yield func(symbols.TypeSource) bool) {
	if !yield(ts.kernel) {
		return
	}
	for i := 0; ; i++ {
		ts.mu.Lock()
		if i >= len(ts.opened) {
			if !ts.openNext() {
				ts.mu.Unlock()
				return
			}
		}
		t := ts.opened[i]
		ts.mu.Unlock()
		if !yield(t) {
			return
		}
	}
}

// openNext opens the next module's debug info; false when none is left.
func (ts *TypeSet) openNext() bool {
	for len(ts.modules) > 0 {
		name := ts.modules[0]
		ts.modules = ts.modules[1:]
		path := ts.find(name)
		if path == "" {
			continue
		}
		im, err := symbols.Open(path)
		if err != nil {
			ts.failures[name] = err.Error()
			continue
		}
		var t symbols.TypeSource
		if ts.btf != nil {
			// the module's split BTF (a few kB) rather than its DWARF
			if bt, err := im.ModuleBTF(ts.btf); err == nil {
				ts.opened = append(ts.opened, bt)
				return true
			}
		}
		t, err = im.Types()
		if err != nil {
			ts.failures[name] = path + ": " + err.Error()
			continue
		}
		ts.opened = append(ts.opened, t)
		return true
	}
	return false
}

// find returns the debug file of a module; the directories are walked once
// into a name index (a distribution's debug tree holds thousands of .ko).
func (ts *TypeSet) find(module string) string {
	if ts.files == nil {
		ts.files = map[string]string{}
		for _, dir := range ts.dirs {
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return nil
				}
				name := d.Name()
				if d.IsDir() || !(strings.HasSuffix(name, ".ko") || strings.HasSuffix(name, ".ko.debug")) {
					return nil
				}
				key := strings.ReplaceAll(strings.TrimSuffix(strings.TrimSuffix(name, ".debug"), ".ko"), "-", "_")
				if _, dup := ts.files[key]; !dup {
					ts.files[key] = p
				}
				return nil
			})
		}
	}
	return ts.files[strings.ReplaceAll(module, "-", "_")]
}

// Lookup finds a type by name ("struct dio", "transaction_t").
func (ts *TypeSet) Lookup(name string) (*symbols.Type, error) {
	t, err := ts.lookup(name)
	if ts.rec != nil {
		ts.rec.Type(name, t)
	}
	return t, err
}

func (ts *TypeSet) lookup(name string) (*symbols.Type, error) {
	var first error
	var out *symbols.Type
	ts.sources(func(t symbols.TypeSource) bool {
		ty, err := t.Lookup(name)
		if err == nil {
			out = ty
			return false
		}
		if first == nil {
			first = err
		}
		return errors.Is(err, symbols.ErrNotFound)
	})
	if out != nil {
		return out, nil
	}
	return nil, first
}

// Constant finds an enumerator's value ("T_LOCKED").
func (ts *TypeSet) Constant(name string) (int64, error) {
	v, err := ts.constant(name)
	if ts.rec != nil {
		ts.rec.Constant(name, v, err == nil)
	}
	return v, err
}

func (ts *TypeSet) constant(name string) (int64, error) {
	var first error
	var out int64
	found := false
	ts.sources(func(t symbols.TypeSource) bool {
		v, err := t.Constant(name)
		if err == nil {
			out, found = v, true
			return false
		}
		if first == nil {
			first = err
		}
		return true
	})
	if found {
		return out, nil
	}
	return 0, first
}

// Variable finds the type of a vmlinux global variable: from the debug
// info when it describes it, else (BTF) its declared type (globals.go).
func (ts *TypeSet) Variable(name string) (*symbols.Type, error) {
	t, err := ts.kernel.Variable(name)
	if errors.Is(err, symbols.ErrNoVariableInBTF) {
		t, err = declaredType(ts.kernel, name)
	}
	if ts.rec != nil {
		ts.rec.Variable(name, t)
	}
	return t, err
}

// KernelLookup finds a type in the vmlinux only, without opening any
// module's debug info.
func (ts *TypeSet) KernelLookup(name string) (*symbols.Type, error) {
	t, err := ts.kernel.Lookup(name)
	if ts.rec != nil && err == nil {
		ts.rec.Type(name, t)
	}
	return t, err
}

// Failures says, per module, why its debug info could not be used.
func (ts *TypeSet) Failures() map[string]string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := map[string]string{}
	for k, v := range ts.failures {
		out[k] = v
	}
	return out
}
