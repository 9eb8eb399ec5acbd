package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// waitqJSON is `waitq --format json`.
type waitqJSON struct {
	Head  string          `json:"head"` // the wait_queue_head
	Tasks []waitqTaskJSON `json:"tasks"`
}

type waitqTaskJSON struct {
	PID  int    `json:"pid"`
	Task string `json:"task"`
	CPU  int    `json:"cpu"`
	Comm string `json:"comm"`
}

// newWaitqCmd is crash's waitq: the tasks queued on a wait queue head.
func newWaitqCmd() *cobra.Command {
	var df dumpFlags
	var vf viewFormat
	cmd := &cobra.Command{
		Use:   "waitq DUMP ADDR|SYMBOL|TYPE.MEMBER ADDR --vmlinux FILE",
		Short: "List the tasks on a wait queue, like crash's waitq",
		Long: `List the tasks queued on the wait_queue_head at ADDR (hexadecimal), at a
symbol, or in member MEMBER of the TYPE object at ADDR
(journal_t.j_wait_transaction_locked 0xffff...), as crash's waitq does.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := vf.check(); err != nil {
				return err
			}
			k, tasks, err := df.tasks(args[0])
			if err != nil {
				return err
			}
			defer k.Close()
			var head uint64
			if len(args) == 3 {
				typ, member, ok := strings.Cut(args[1], ".")
				if !ok {
					return fmt.Errorf("waitq %s %s: the first is not TYPE.MEMBER", args[1], args[2])
				}
				t, err := lookupStructType(k, typ)
				if err != nil {
					return err
				}
				off, err := t.Offset(member)
				if err != nil {
					return err
				}
				base, err := parseAddr(k, args[2])
				if err != nil {
					return err
				}
				head = base + off
			} else if head, err = parseAddr(k, args[1]); err != nil {
				return err
			}
			queued, err := k.WaitQueue(head)
			if err != nil {
				return err
			}
			byAddr := taskIndex(tasks)
			out := waitqJSON{Head: hexAddr(head), Tasks: []waitqTaskJSON{}}
			for _, a := range queued {
				j := waitqTaskJSON{PID: -1, Task: hexAddr(a), CPU: -1}
				if t, ok := byAddr[a]; ok {
					j.PID, j.CPU, j.Comm = t.PID, t.CPU, t.Comm
				}
				out.Tasks = append(out.Tasks, j)
			}
			w := cmd.OutOrStdout()
			if vf.json() {
				return writeJSON(w, out)
			}
			if len(queued) == 0 {
				_, err := fmt.Fprintln(w, "wait queue is empty")
				return err
			}
			// crash's lines: PID: 1234     TASK: ffff888012345600  CPU: 1    COMMAND: "dd"
			for _, t := range out.Tasks {
				if _, err := fmt.Fprintf(w, "PID: %-8d TASK: %s  CPU: %-4d COMMAND: \"%s\"\n", t.PID, strings.TrimPrefix(t.Task, "0x"), t.CPU, t.Comm); err != nil {
					return err
				}
			}
			return nil
		},
	}
	df.add(cmd)
	vf.add(cmd)
	return cmd
}
