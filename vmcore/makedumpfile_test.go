package vmcore_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

// makedumpfileMemory returns a memory and VMCOREINFO that makedumpfile
// accepts with -d 0/-d 1 and no vmlinux: init_uts_ns and mem_map reached
// through a real page table (init_top_pgt maps the kernel text with a
// 1 GiB page), plus the FLATMEM struct page layout.
func makedumpfileMemory() (*dumpwrite.Memory, string) {
	m := testMemory()
	uts := make([]byte, 6*65)
	for i, f := range []string{"Linux", "testhost", "6.1.0-test", "#1 SMP", "x86_64", "(none)"} {
		copy(uts[i*65:], f)
	}
	m.Write(0x1200004, uts) // init_uts_ns + 4
	mm := le.AppendUint64(nil, 0xffffea0000000000)
	m.Write(0x1300000, mm) // mem_map pointer
	pgd := make([]byte, 4096)
	pud := make([]byte, 4096)
	le.PutUint64(pgd[511*8:], 0x2a0b000|0x63) // -> PUD
	le.PutUint64(pud[510*8:], 0x0|0xe3)       // 1 GiB page at physical 0
	m.Write(0x2a0a000, pgd)
	m.Write(0x2a0b000, pud)
	m.Write(0x2c00000, make([]byte, 3*4096)) // zero pages, shared by makedumpfile
	vmci := "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nNUMBER(phys_base)=0\nKERNELOFFSET=0\n" +
		"SYMBOL(init_uts_ns)=ffffffff81200000\nSYMBOL(init_top_pgt)=ffffffff82a0a000\n" +
		"SYMBOL(mem_map)=ffffffff81300000\nSIZE(page)=64\nOFFSET(page.flags)=0\n" +
		"OFFSET(page._refcount)=52\nOFFSET(page.mapping)=24\n"
	return m, vmci
}

// TestMakedumpfileOracle converts an ELF dump written by dumpwrite with
// the real makedumpfile (zlib, lzo, snappy and zstd when built in,
// uncompressed, flattened) and checks that every page reads back identically.
func TestMakedumpfileOracle(t *testing.T) {
	mdf, err := exec.LookPath("makedumpfile")
	if err != nil {
		t.Skip("makedumpfile not installed (apt-get install makedumpfile)")
	}
	m, vmci := makedumpfileMemory()
	meta := testMeta()
	meta.VMCoreInfo = vmci
	dir := t.TempDir()
	if d := os.Getenv("VMCORE_ORACLE_DIR"); d != "" {
		dir = d
	}
	in := filepath.Join(dir, "in.elf")
	var buf bytes.Buffer
	if err := dumpwrite.WriteELF(&buf, m, meta); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	help, _ := exec.Command(mdf, "-h").CombinedOutput()
	for _, tc := range []struct {
		name   string
		args   []string
		comp   string
		format vmcore.Format
	}{
		{"zlib", []string{"-c", "-d", "0"}, "zlib", vmcore.FormatKdump},
		{"lzo", []string{"-l", "-d", "0"}, "lzo", vmcore.FormatKdump},
		{"snappy", []string{"-p", "-d", "0"}, "snappy", vmcore.FormatKdump},
		{"zstd", []string{"-z", "-d", "0"}, "zstd", vmcore.FormatKdump},
		{"none", []string{"-d", "0"}, "none", vmcore.FormatKdump},
		{"flat-zlib", []string{"-F", "-c", "-d", "0"}, "zlib", vmcore.FormatFlattened},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if bytes.Contains(help, []byte(tc.comp+" support:\n  disabled")) {
				t.Skipf("this makedumpfile build has no %s support", tc.comp)
			}
			out := filepath.Join(dir, tc.name+".kdump")
			args := append(append([]string{"--message-level", "1"}, tc.args...), in)
			cmd := exec.Command(mdf, args...)
			if tc.format == vmcore.FormatFlattened {
				f, err := os.Create(out)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				cmd.Stdout = f
			} else {
				cmd.Args = append(cmd.Args, out)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Skipf("makedumpfile %v: %v (this build may lack the compression)\n%s", tc.args, err, stderr.Bytes())
			}
			d, err := vmcore.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if d.Format() != tc.format || d.Compression() != tc.comp {
				t.Errorf("Format, Compression = %q, %q; want %q, %q", d.Format(), d.Compression(), tc.format, tc.comp)
			}
			if w := d.Warnings(); len(w) != 0 {
				t.Errorf("Warnings: %q", w)
			}
			if v, ok := d.VMCoreInfoValue("SYMBOL(init_top_pgt)"); !ok || v != "ffffffff82a0a000" {
				t.Errorf("VMCOREINFO SYMBOL(init_top_pgt) = %q, %v", v, ok)
			}
			if u, ok := d.Utsname(); !ok || u.Release != "6.1.0-test" || u.Nodename != "testhost" {
				t.Errorf("Utsname = %+v", u)
			}
			if cpus := d.CPUs(); len(cpus) != len(meta.CPUs) || cpus[1].Regs != meta.CPUs[1].Regs || cpus[2].PID != meta.CPUs[2].PID {
				t.Errorf("CPUs = %+v", cpus)
			}
			got := make([]byte, 4096)
			want := make([]byte, 4096)
			for _, pfn := range m.PFNs() {
				m.Read(pfn*4096, want)
				err := d.ReadPhys(pfn*4096, got)
				if err != nil {
					t.Errorf("pfn %#x: %v", pfn, err)
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("pfn %#x: data mismatch", pfn)
				}
			}
			checkPageErr(t, d, 0x5000, vmcore.ErrExcluded)
		})
	}
}
