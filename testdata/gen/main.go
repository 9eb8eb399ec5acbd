// Command gen rebuilds the seed cores of Red Hat bug 451819 from scratch.
//
//	go run ./testdata/gen -out DIR                 # vmlinux + every dump into DIR
//	go run ./testdata/gen -rebuild-vmlinux         # recompile the committed vmlinux (needs gcc, ld)
//	go run ./testdata/gen -out DIR -shuffle SEED   # shuffled/padded header, rebuilt vmlinux, dumps
//	go run ./testdata/gen -sample cmd/vmtriage/sample  # refresh the demo's embedded core
package main

import (
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

func main() {
	out := flag.String("out", "", "directory to write the vmlinux and the dumps into")
	rebuild := flag.Bool("rebuild-vmlinux", false, "recompile testdata/kernel/rhel4/"+seedgen.VmlinuxName+" with gcc")
	shuffle := flag.Int64("shuffle", 0, "rebuild the vmlinux from a header whose structure members are shuffled and padded with this seed")
	sample := flag.String("sample", "", "write the demo sample (gzipped kdump of the first core and the vmlinux) into this directory")
	flag.Parse()
	if err := run(*out, *rebuild, *shuffle, *sample); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string, rebuild bool, shuffle int64, sample string) error {
	src, err := seedgen.SourceDir()
	if err != nil {
		return err
	}
	vmlinux := filepath.Join(src, seedgen.VmlinuxName)
	if rebuild {
		if err := seedgen.BuildVmlinux(src, vmlinux, 0); err != nil {
			return err
		}
		fmt.Println("wrote", vmlinux)
	}
	if shuffle != 0 {
		if out == "" {
			return fmt.Errorf("-shuffle needs -out")
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		vmlinux = filepath.Join(out, "shuffled-"+seedgen.VmlinuxName)
		if err := seedgen.BuildVmlinux(src, vmlinux, shuffle); err != nil {
			return err
		}
	}
	if out != "" {
		if err := seedgen.Generate(out, vmlinux); err != nil {
			return err
		}
		fmt.Println("wrote", out)
	}
	if sample != "" {
		return writeSample(sample, vmlinux)
	}
	return nil
}

// writeSample writes the first seed core as a gzipped kdump, and the
// vmlinux gzipped, for `vmtriage demo` to embed.
func writeSample(dir, vmlinux string) error {
	tmp, err := os.MkdirTemp("", "vmtriage-sample-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	im, err := symbols.Open(vmlinux)
	if err != nil {
		return err
	}
	dump := filepath.Join(tmp, "rhel4-1822328.kdump")
	if err := seedgen.WriteDump(dump, im, "rhel4-1822328", seedgen.Positive, "kdump"); err != nil {
		return err
	}
	for src, name := range map[string]string{dump: "rhel4-1822328.kdump.gz", vmlinux: seedgen.VmlinuxName + ".gz"} {
		if err := gzipFile(src, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	fmt.Println("wrote", dir)
	return nil
}

func gzipFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	zw.Name = filepath.Base(src)
	if _, err := zw.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
