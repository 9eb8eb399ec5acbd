package vmcore_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

// TestConcurrentReads: goroutines reading the pages of every format, each
// in its own order and more pages than the page cache holds, read what
// was written (kdump pages are decompressed outside the backend's lock,
// each goroutine with its own decompressor; run with -race).
func TestConcurrentReads(t *testing.T) {
	m := dumpwrite.NewMemory()
	const pages = 600 // over the kdump page cache's 128
	want := make([][]byte, pages)
	for i := range want {
		want[i] = append([]byte(fmt.Sprintf("page %d ", i)), pseudoRandom(100, uint64(i+1))...)
		want[i] = append(want[i], bytes.Repeat([]byte{byte(i)}, 4096-len(want[i]))...)
		m.Write(uint64(i)*4096, want[i])
	}
	for _, k := range allWriters() {
		t.Run(k.name, func(t *testing.T) {
			d := openBytes(t, k.name, writeDump(t, k, m, testMeta()))
			defer d.Close()
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 4096)
					for j := range pages {
						pfn := (j*(2*g+1) + g*97) % pages // every page, in an order of this goroutine's
						if err := d.ReadPhys(uint64(pfn)*4096, buf); err != nil {
							errs <- fmt.Errorf("goroutine %d, pfn %d: %w", g, pfn, err)
							return
						}
						if !bytes.Equal(buf, want[pfn]) {
							errs <- fmt.Errorf("goroutine %d, pfn %d: wrong bytes", g, pfn)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
