package vmcore_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

var errInjected = errors.New("injected I/O error")

// failingReader reads data, failing every read that touches [from, to).
type failingReader struct {
	data     []byte
	from, to int64
}

func (r failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off < r.to && off+int64(len(p)) > r.from {
		return 0, errInjected
	}
	return bytes.NewReader(r.data).ReadAt(p, off)
}

// TestReadProblemsReported: errors met reading a dump's metadata are
// errors naming the cause, or warnings naming the offset, never dropped.
func TestReadProblemsReported(t *testing.T) {
	m := testMemory()
	meta := testMeta()
	kd := writeDump(t, writerKind{"kdump", vmcore.FormatKdump, dumpwrite.Zlib}, m, meta)
	flat := writeDump(t, writerKind{"flat", vmcore.FormatFlattened, dumpwrite.Zlib}, m, meta)
	badPage := testMeta()
	badPage.VMCoreInfo = strings.Replace(badPage.VMCoreInfo, "PAGESIZE=4096", "PAGESIZE=4097", 1)
	elfBadPage := writeDump(t, writerKind{"elf", vmcore.FormatELF, dumpwrite.None}, m, badPage)

	// The 2nd bitmap follows the 1st; each chunk is 4096 bytes of it.
	bitmapBlocks := int64(le.Uint32(kd[436:]))
	bitmap2 := (1+int64(le.Uint32(kd[432:])))*4096 + bitmapBlocks*4096/2
	chunk100 := bitmap2 + 100*4096
	farChunk := int64(farPage/4096) / (4096 * 8)
	if farChunk <= 100 {
		t.Fatalf("the far page is in chunk %d, want it after chunk 100", farChunk)
	}

	tests := []struct {
		name     string
		data     []byte
		from, to int64  // the file range whose reads fail
		wantErr  string // Open's error, with errInjected wrapped; "" if Open succeeds
		wantWarn string // in Warnings after Segments
		segsEnd  uint64 // Segments end below this address (0: no check)
	}{
		{"first bytes unreadable", kd, 0, 16, "offset 0x0: reading the dump's first bytes", "", 0},
		{"flattened: kdump header unreadable", flat, 4096 + 16, 4096 + 24, "offset 0x1000: reading the kdump header at logical offset 0", "", 0},
		{"kdump: 2nd bitmap chunk unreadable", kd, chunk100, chunk100 + 4096, "",
			fmt.Sprintf("2nd bitmap chunk 100 at offset %#x cannot be read", chunk100), 100 * 4096 * 8 * 4096},
		{"ELF: VMCOREINFO PAGESIZE not a page size", elfBadPage, 0, 0, "", `VMCOREINFO PAGESIZE="4097" is not a power of two from 512 to 1 MiB; using 4096`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := vmcore.OpenReaderAt("dump", failingReader{tc.data, tc.from, tc.to}, int64(len(tc.data)))
			if tc.wantErr != "" {
				if err == nil {
					d.Close()
					t.Fatalf("Open succeeded, want an error %q", tc.wantErr)
				}
				if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open error %q, want %q wrapping %q", err, tc.wantErr, errInjected)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			segs := d.Segments()
			if tc.segsEnd != 0 {
				last := segs[len(segs)-1]
				if end := last.Paddr + last.MemSize; end > tc.segsEnd {
					t.Errorf("segments end at %#x, want below %#x", end, tc.segsEnd)
				}
			}
			warns := strings.Join(d.Warnings(), "\n")
			if !strings.Contains(warns, tc.wantWarn) {
				t.Errorf("Warnings = %q, want %q", warns, tc.wantWarn)
			}
			if d.PageSize() != 4096 {
				t.Errorf("PageSize = %d, want 4096", d.PageSize())
			}
		})
	}
}
