package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/analyzer/render"
	"github.com/vmtriage/vmtriage/symbols"
)

// structJSON is `struct --format json`: the object's members by name
// (anonymous structs' and unions' members are the object's own).
type structJSON struct {
	Type    string          `json:"type"`
	Address string          `json:"address,omitempty"`
	Size    uint64          `json:"size"`
	Value   render.Object   `json:"value,omitempty"`
	Members []render.Member `json:"members,omitempty"` // with -o
}

// newStructCmd is crash's struct: an object printed member by member, or
// with -o its members' offsets.
func newStructCmd() *cobra.Command {
	var df dumpFlags
	var vf viewFormat
	var offsets bool
	cmd := &cobra.Command{
		Use:   "struct DUMP TYPE [ADDR|SYMBOL] --vmlinux FILE [-o]",
		Short: "Print a kernel object by its type, like crash's struct",
		Long: `Print the object of type TYPE ("dio", "struct dio", "union x", "transaction_t")
at ADDR (hexadecimal) or at a symbol, as crash's struct does; with -o, the
members' offsets (their addresses when ADDR is given), as struct -o does.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := vf.check(); err != nil {
				return err
			}
			if len(args) < 3 && !offsets {
				return fmt.Errorf("struct %s: an address or symbol is needed (or -o for the member offsets)", args[1])
			}
			k, err := df.open(args[0])
			if err != nil {
				return err
			}
			defer k.Close()
			t, err := lookupStructType(k, args[1])
			if err != nil {
				return err
			}
			var addr uint64
			if len(args) == 3 {
				if addr, err = parseAddr(k, args[2]); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			out := structJSON{Type: render.TypeName(t), Size: t.Resolve().Size}
			if addr != 0 {
				out.Address = hexAddr(addr)
			}
			if offsets {
				if vf.json() {
					out.Members = render.Members(t)
					return writeJSON(w, out)
				}
				_, err := fmt.Fprint(w, render.Offsets(t, addr))
				return err
			}
			data := make([]byte, out.Size)
			if err := k.Mem.Read(addr, data); err != nil {
				return fmt.Errorf("%s at 0x%x: %w", out.Type, addr, err)
			}
			env := render.Env{
				Read: k.Mem.Read,
				Symbol: func(a uint64) (string, uint64, bool) {
					s, off, ok := k.Syms.Lookup(a)
					return s.Name, off, ok
				},
			}
			if vf.json() {
				v, _ := render.Value(t, data).(render.Object)
				out.Value = v
				return writeJSON(w, out)
			}
			_, err = fmt.Fprint(w, render.Text(t, addr, data, env))
			return err
		},
	}
	df.add(cmd)
	vf.add(cmd)
	cmd.Flags().BoolVarP(&offsets, "offsets", "o", false, "print the members' offsets, like struct -o")
	return cmd
}

// lookupStructType finds TYPE as crash does: "dio" is struct dio, union
// dio or the typedef dio; "struct dio" and "union x" are taken as given.
func lookupStructType(k *analyzer.Kernel, name string) (*symbols.Type, error) {
	name = strings.Join(strings.Fields(name), " ")
	cands := []string{name}
	if !strings.HasPrefix(name, "struct ") && !strings.HasPrefix(name, "union ") && !strings.HasPrefix(name, "enum ") {
		cands = []string{"struct " + name, "union " + name, name}
	}
	var errs []error
	for _, c := range cands {
		t, err := k.Types.Lookup(c)
		if err == nil && t != nil {
			return t, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("type %q not found in the vmlinux or the modules' debug info: %w", name, errors.Join(errs...))
}
