package analyzer

import (
	"sort"
	"sync"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/vmcore/addrspace"
)

// Recording collects what an analysis reads: the physical pages of the
// dump and the parts of the vmlinux (symbols, data, types). Written out as
// a small dump and a symbols snapshot, it replays the analysis of a real
// kernel in a plain test run, without the 600 MB vmlinux or the 1 GB dump.
type Recording struct {
	// Symbols is the vmlinux part, shared by the recordings of one kernel.
	Symbols *symbols.SnapshotBuilder
	// Code is the per-dump part: what the stack traces asked of the
	// kernel's code (unwind tables, inline frames, frame locals).
	Code *CodeRecord

	mu       sync.Mutex
	pages    map[uint64]bool
	pageSize uint64
}

// NewRecording starts a recording whose vmlinux part goes into b (one
// builder may serve several dumps of the same kernel).
func NewRecording(b *symbols.SnapshotBuilder) *Recording {
	return &Recording{Symbols: b, Code: NewCodeRecord(), pages: map[uint64]bool{}}
}

// PFNs lists the page frames read, ascending.
func (r *Recording) PFNs() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, 0, len(r.pages))
	for p := range r.pages {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// PageSize is the page size the frames are counted in.
func (r *Recording) PageSize() uint64 { return r.pageSize }

// recordingDump is a dump whose physical reads are recorded.
type recordingDump struct {
	addrspace.Dump
	r *Recording
}

func (d recordingDump) ReadPhys(pa uint64, p []byte) error {
	ps := d.r.pageSize
	if len(p) > 0 {
		d.r.mu.Lock()
		for pfn := pa / ps; pfn <= (pa+uint64(len(p))-1)/ps; pfn++ {
			d.r.pages[pfn] = true
		}
		d.r.mu.Unlock()
	}
	return d.Dump.ReadPhys(pa, p)
}

func (r *Recording) wrap(d addrspace.Dump) recordingDump {
	r.pageSize = d.PageSize()
	if r.pageSize == 0 {
		r.pageSize = 4096
	}
	return recordingDump{Dump: d, r: r}
}
