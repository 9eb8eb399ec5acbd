package vmcore

import (
	"encoding/binary"
	"strings"
	"testing"
)

// noteBytes builds one ELF note (4-byte aligned name and desc).
func noteBytes(name string, typ uint32, desc []byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, uint32(len(name)+1))
	b = le.AppendUint32(b, uint32(len(desc)))
	b = le.AppendUint32(b, typ)
	b = append(b, name...)
	b = append(b, make([]byte, align4(uint64(len(name)+1))-uint64(len(name)))...)
	b = append(b, desc...)
	return append(b, make([]byte, align4(uint64(len(desc)))-uint64(len(desc)))...)
}

// TestNoteWarnings: notes too short for what they carry are kept or
// dropped as before, with a warning naming their offset.
func TestNoteWarnings(t *testing.T) {
	vmci := noteBytes("VMCOREINFO", 0, []byte("OSRELEASE=6.1\n"))
	for _, tc := range []struct {
		name       string
		buf        []byte
		cpus, qemu int
		want       string // in the warnings ("" none)
	}{
		{"full prstatus", noteBytes("CORE", ntPRSTATUS, make([]byte, prstatusSizeX86_64)), 1, 0, ""},
		{"short prstatus", append(vmci, noteBytes("CORE", ntPRSTATUS, make([]byte, 50))...), 1, 0,
			"f: offset 0x1028: NT_PRSTATUS note 0 of 50 bytes is too short for the x86_64 registers (328 bytes)"},
		{"full QEMU note", noteBytes("QEMU", 0, make([]byte, 440)), 0, 1, ""},
		{"short QEMU note", append(vmci, noteBytes("QEMU", 0, make([]byte, 100))...), 0, 0,
			"f: offset 0x1028: QEMU CPU note of 100 bytes is shorter than QEMUCPUState's registers (432 bytes); ignored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ns noteSet
			parseNotes("f", tc.buf, 0x1000, true, &ns)
			if len(ns.cpus) != tc.cpus || len(ns.qemu) != tc.qemu {
				t.Errorf("%d CPUs, %d QEMU notes; want %d, %d", len(ns.cpus), len(ns.qemu), tc.cpus, tc.qemu)
			}
			got := strings.Join(ns.warns, "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("warnings %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVMCoreInfoLongLine: a line too long for the scanner stops the
// parse with an error saying where; the lines before it are kept.
func TestVMCoreInfoLongLine(t *testing.T) {
	m, err := parseVMCoreInfo("OSRELEASE=6.1\nX=" + strings.Repeat("x", 1<<20) + "\nPAGESIZE=4096\n")
	if err == nil || !strings.Contains(err.Error(), "line at byte 14") {
		t.Errorf("error %v, want one naming the line at byte 14", err)
	}
	if m["OSRELEASE"] != "6.1" {
		t.Errorf("OSRELEASE = %q, want 6.1", m["OSRELEASE"])
	}
	m, err = parseVMCoreInfo("OSRELEASE=6.1\nPAGESIZE=4096")
	if err != nil || m["PAGESIZE"] != "4096" || len(m) != 2 {
		t.Errorf("parseVMCoreInfo = %v, %v", m, err)
	}
}
