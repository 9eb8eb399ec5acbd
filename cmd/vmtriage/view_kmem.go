package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vmtriage/vmtriage/analyzer"
)

// kmemObject is vmtriage kmem ADDR's answer in JSON.
type kmemObject struct {
	Addr      string `json:"addr"`
	Cache     string `json:"cache"`
	CacheAddr string `json:"cache_addr"`
	Object    string `json:"object"`
	Allocated bool   `json:"allocated"`
	Where     string `json:"free_in,omitempty"`
	Slab      string `json:"slab"`
	Memory    string `json:"memory"`
	Objects   int    `json:"objects"`
	InUse     int    `json:"in_use"`
	ObjSize   uint64 `json:"objsize"`
	Size      uint64 `json:"size"`
	Unsure    string `json:"unsure,omitempty"`
}

// kmemCache is one row of vmtriage kmem -s in JSON.
type kmemCache struct {
	Cache     string `json:"cache"`
	Name      string `json:"name"`
	ObjSize   uint64 `json:"objsize"`
	Size      uint64 `json:"size"`
	Allocated int    `json:"allocated"`
	Total     int    `json:"total"`
	Slabs     int    `json:"slabs"`
	SlabBytes uint64 `json:"slab_bytes"`
	Merged    bool   `json:"merged,omitempty"`
}

// newKmemCmd is crash's kmem ADDR and kmem -s.
func newKmemCmd() *cobra.Command {
	var df dumpFlags
	var summary bool
	var format string
	cmd := &cobra.Command{
		Use:   "kmem DUMP ADDR --vmlinux FILE | kmem -s DUMP [CACHE] --vmlinux FILE",
		Short: "Find the slab object holding an address, or list the slab caches, like crash's kmem",
		Long: `kmem DUMP ADDR says which slab cache the address belongs to, the object's
first byte, whether it is allocated or free (and where it is free: the slab's
freelist, a CPU's freelist or sheaf) and its slab, like crash's "kmem ADDR".

kmem -s DUMP [CACHE] lists every slab cache (or the one named) with its object
size and allocated and total objects, like crash's "kmem -s". SLUB caches are
counted by reading the whole memory map (every struct page).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if summary {
				return cobra.RangeArgs(1, 2)(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			if df.vmlinux == "" {
				return fmt.Errorf("--vmlinux is required: the vmlinux (with debug info) of the dumped kernel")
			}
			k, err := analyzer.OpenWith(args[0], df.vmlinux, analyzer.Options{DebugDirs: df.debugDirs})
			if err != nil {
				return err
			}
			defer k.Close()
			w := cmd.OutOrStdout()
			if summary {
				var names []string
				if len(args) == 2 {
					names = append(names, args[1])
				}
				caches, err := k.SlabCacheSummaries(names...)
				if err != nil {
					return err
				}
				if len(caches) == 0 && len(names) > 0 {
					return fmt.Errorf("%s: no slab cache named %q (it may have been merged into another cache: kmem ADDR of one of its objects names it)", args[0], names[0])
				}
				return printKmemCaches(w, caches, format)
			}
			addr, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(args[1]), "0x"), 16, 64)
			if err != nil {
				return fmt.Errorf("address %q is not a hexadecimal number", args[1])
			}
			o, err := k.SlabOf(addr)
			if err != nil {
				return err
			}
			return printKmemObject(w, k, addr, o, format)
		},
	}
	df.add(cmd)
	cmd.Flags().BoolVarP(&summary, "summary", "s", false, "list the slab caches (crash's kmem -s)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func kmemCacheRow(c analyzer.SlabCache) kmemCache {
	return kmemCache{Cache: fmt.Sprintf("0x%x", c.Addr), Name: c.Name, ObjSize: c.ObjSize, Size: c.Size,
		Allocated: c.Total - c.Free, Total: c.Total, Slabs: c.Slabs, SlabBytes: c.SlabBytes, Merged: c.Refcount > 1}
}

func printKmemCaches(w io.Writer, caches []analyzer.SlabCache, format string) error {
	if format == "json" {
		rows := []kmemCache{}
		for _, c := range caches {
			rows = append(rows, kmemCacheRow(c))
		}
		return writeKmemJSON(w, rows)
	}
	fmt.Fprintln(w, "CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME")
	for _, c := range caches {
		fmt.Fprintln(w, kmemCacheLine(c))
	}
	return nil
}

func kmemCacheLine(c analyzer.SlabCache) string {
	return fmt.Sprintf("%-16x  %7d  %9d  %8d  %5d  %4dk  %s", c.Addr, c.ObjSize, c.Total-c.Free, c.Total, c.Slabs, c.SlabBytes/1024, c.Name)
}

func printKmemObject(w io.Writer, k *analyzer.Kernel, addr uint64, o analyzer.SlabObject, format string) error {
	if format == "json" {
		return writeKmemJSON(w, kmemObject{Addr: fmt.Sprintf("0x%x", addr), Cache: o.Cache, CacheAddr: fmt.Sprintf("0x%x", o.CacheAddr),
			Object: fmt.Sprintf("0x%x", o.Object), Allocated: o.Allocated, Where: o.Where, Slab: fmt.Sprintf("0x%x", o.Slab),
			Memory: fmt.Sprintf("0x%x", o.Memory), Objects: o.Objects, InUse: o.InUse, ObjSize: o.ObjSize, Size: o.Size, Unsure: o.Unsure})
	}
	fmt.Fprintln(w, "CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME")
	line := fmt.Sprintf("%-16x  %7d  %9s  %8s  %5s  %5s  %s", o.CacheAddr, o.ObjSize, "?", "?", "?", "?", o.Cache)
	if cs, err := k.SlabCacheSummaries(o.Cache); err == nil {
		for _, c := range cs {
			if c.Addr == o.CacheAddr {
				line = kmemCacheLine(c)
			}
		}
	}
	fmt.Fprintln(w, line)
	fmt.Fprintln(w, "  SLAB              MEMORY            TOTAL  ALLOCATED  FREE")
	fmt.Fprintf(w, "  %-16x  %-16x  %5d  %9d  %4d\n", o.Slab, o.Memory, o.Objects, o.InUse, o.Objects-o.InUse)
	fmt.Fprintln(w, "  FREE / [ALLOCATED]")
	if o.Allocated {
		fmt.Fprintf(w, "  [%x]\n", o.Object)
	} else {
		fmt.Fprintf(w, "   %x  (%s)\n", o.Object, o.Where)
	}
	if o.Unsure != "" {
		fmt.Fprintf(w, "  (unsure: %s)\n", o.Unsure)
	}
	return nil
}

func writeKmemJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}
