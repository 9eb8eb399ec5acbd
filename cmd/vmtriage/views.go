package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/vmtriage/vmtriage/analyzer"
)

// dumpFlags are the flags every crash-like view takes.
type dumpFlags struct {
	vmlinux   string
	debugDirs []string
}

func (f *dumpFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.vmlinux, "vmlinux", "", "vmlinux with debug info of the dumped kernel (required)")
	cmd.Flags().StringArrayVar(&f.debugDirs, "debug-dir", nil, "directory with the modules' debug info (NAME.ko); repeatable")
}

// tasks opens the dump and lists its tasks.
func (f *dumpFlags) tasks(dump string) (*analyzer.Kernel, []analyzer.Task, error) {
	k, err := f.open(dump)
	if err != nil {
		return nil, nil, err
	}
	tasks, err := k.Tasks()
	if err != nil {
		k.Close()
		return nil, nil, err
	}
	return k, tasks, nil
}

// newPsCmd is crash's ps: every task with PID, PPID, CPU, TASK, ST, COMM.
func newPsCmd() *cobra.Command {
	var df dumpFlags
	var state string
	cmd := &cobra.Command{
		Use:   "ps DUMP --vmlinux FILE [--state UN]",
		Short: "List the dump's tasks, like crash's ps",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, tasks, err := df.tasks(args[0])
			if err != nil {
				return err
			}
			defer k.Close()
			var rows [][]string
			for _, t := range tasks {
				if state != "" && t.StateName() != state {
					continue
				}
				pid := strconv.Itoa(t.PID)
				if t.Idle {
					pid = ">" + pid
				}
				rows = append(rows, []string{pid, strconv.Itoa(t.PPID), strconv.Itoa(t.CPU), fmt.Sprintf("%x", t.Addr), t.StateName(), t.Comm})
			}
			tbl := tablewriter.NewTable(cmd.OutOrStdout(), tablewriter.WithHeaderAutoFormat(tw.Off))
			tbl.Header([]string{"PID", "PPID", "CPU", "TASK", "ST", "COMM"})
			if err := tbl.Bulk(rows); err != nil {
				return err
			}
			return tbl.Render()
		},
	}
	df.add(cmd)
	cmd.Flags().StringVar(&state, "state", "", "only tasks in this state (RU, IN, UN, ...)")
	return cmd
}

// newBtCmd is crash's bt: a task's kernel stack, unwound (ORC, frame
// pointers) or, where that fails, scanned.
func newBtCmd() *cobra.Command {
	var df dumpFlags
	var all bool
	var format string
	cmd := &cobra.Command{
		Use:   "bt DUMP PID|-a --vmlinux FILE [--debug-dir DIR] [--format table|json]",
		Short: "Show a task's kernel stack, like crash's bt",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			pid := -1
			switch {
			case all && len(args) == 2:
				return fmt.Errorf("give a PID or -a, not both")
			case !all && len(args) != 2:
				return fmt.Errorf("give a PID (or -a for every task)")
			case !all:
				p, err := strconv.Atoi(args[1])
				if err != nil {
					return fmt.Errorf("PID %q is not a number", args[1])
				}
				pid = p
			}
			k, tasks, err := df.tasks(args[0])
			if err != nil {
				return err
			}
			defer k.Close()
			var traces []btTrace
			for _, t := range tasks {
				if !all && t.PID != pid {
					continue
				}
				frames, err := k.Backtrace(t)
				if err != nil && !all {
					return err
				}
				traces = append(traces, newBtTrace(t, frames, err))
			}
			if len(traces) == 0 {
				return fmt.Errorf("%s: no task with PID %d", args[0], pid)
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if all {
					return enc.Encode(traces)
				}
				return enc.Encode(traces[0])
			}
			for i, tr := range traces {
				if i > 0 {
					fmt.Fprintln(w)
				}
				writeBtText(w, tr)
			}
			return nil
		},
	}
	df.add(cmd)
	cmd.Flags().BoolVarP(&all, "all", "a", false, "every task")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// btTrace is one task's trace as bt prints it.
type btTrace struct {
	PID    int       `json:"pid"`
	Task   string    `json:"task"`
	CPU    int       `json:"cpu"`
	State  string    `json:"state"`
	Comm   string    `json:"comm"`
	Error  string    `json:"error,omitempty"`
	Frames []btFrame `json:"frames"`

	raw []analyzer.Frame
}

// btFrame is one frame in bt's JSON.
type btFrame struct {
	PC       string `json:"pc"`
	SP       string `json:"sp"`
	Slot     string `json:"slot,omitempty"`
	Function string `json:"function"`
	Offset   uint64 `json:"offset"`
	Module   string `json:"module"`
	Inline   bool   `json:"inline"`
	Reliable bool   `json:"reliable"`
}

func newBtTrace(t analyzer.Task, frames []analyzer.Frame, err error) btTrace {
	tr := btTrace{PID: t.PID, Task: fmt.Sprintf("%#x", t.Addr), CPU: t.CPU, State: t.StateName(), Comm: t.Comm, raw: frames, Frames: []btFrame{}}
	if err != nil {
		tr.Error = err.Error()
	}
	for _, f := range frames {
		bf := btFrame{PC: fmt.Sprintf("%#x", f.Addr), SP: fmt.Sprintf("%#x", f.SP), Function: f.Func, Offset: f.Offset,
			Module: f.Module, Inline: f.Inline, Reliable: f.Reliable}
		if f.Slot != 0 {
			bf.Slot = fmt.Sprintf("%#x", f.Slot)
		}
		tr.Frames = append(tr.Frames, bf)
	}
	return tr
}

// writeBtText prints a trace as crash's bt does: a header, then
// " #N [slot] func+off [module] at pc". Frames found by scanning the
// stack after an unwind stopped are marked "?" as unreliable; a trace
// that could not be unwound at all says so once instead.
func writeBtText(w io.Writer, tr btTrace) {
	fmt.Fprintf(w, "PID: %-6d TASK: %s  CPU: %-3d COMMAND: %q  STATE: %s\n", tr.PID, strings.TrimPrefix(tr.Task, "0x"), tr.CPU, tr.Comm, tr.State)
	if tr.Error != "" {
		fmt.Fprintf(w, "    (%s)\n", tr.Error)
		return
	}
	anyReliable := false
	for _, f := range tr.raw {
		anyReliable = anyReliable || f.Reliable
	}
	if !anyReliable && len(tr.raw) > 0 {
		fmt.Fprintln(w, "    (no unwind information: return addresses found by scanning the stack)")
	}
	for i, f := range tr.raw {
		mark := ""
		if anyReliable && !f.Reliable {
			mark = "? "
		}
		slot := f.Slot
		if slot == 0 {
			slot = f.SP
		}
		fmt.Fprintf(w, "%3s [%x] %s%s at %x\n", fmt.Sprintf("#%d", i), slot, mark, f, f.Addr)
	}
}
