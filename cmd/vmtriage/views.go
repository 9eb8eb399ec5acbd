package main

import (
	"fmt"
	"strconv"

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
	if f.vmlinux == "" {
		return nil, nil, fmt.Errorf("--vmlinux is required: the vmlinux (with debug info) of the dumped kernel")
	}
	k, err := analyzer.OpenWith(dump, f.vmlinux, analyzer.Options{DebugDirs: f.debugDirs})
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

// newBtCmd is crash's bt -t: the return addresses on a task's stack.
func newBtCmd() *cobra.Command {
	var df dumpFlags
	cmd := &cobra.Command{
		Use:   "bt DUMP PID --vmlinux FILE",
		Short: "Show a task's kernel stack, like crash's bt",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("PID %q is not a number", args[1])
			}
			k, tasks, err := df.tasks(args[0])
			if err != nil {
				return err
			}
			defer k.Close()
			w := cmd.OutOrStdout()
			found := false
			for _, t := range tasks {
				if t.PID != pid {
					continue
				}
				found = true
				fmt.Fprintf(w, "PID: %-6d TASK: %x  CPU: %-3d COMMAND: %q  STATE: %s\n", t.PID, t.Addr, t.CPU, t.Comm, t.StateName())
				frames, err := k.Backtrace(t)
				if err != nil {
					return err
				}
				for i, f := range frames {
					fmt.Fprintf(w, "%3s [%x] %s at %x\n", fmt.Sprintf("#%d", i), f.Slot, f, f.Addr)
				}
			}
			if !found {
				return fmt.Errorf("%s: no task with PID %d", args[0], pid)
			}
			return nil
		},
	}
	df.add(cmd)
	return cmd
}
