package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

// filesJSON is `files --format json`.
type filesJSON struct {
	PID   int            `json:"pid"`
	Task  string         `json:"task"`
	CPU   int            `json:"cpu"`
	Comm  string         `json:"comm"`
	Root  string         `json:"root"`
	Cwd   string         `json:"cwd"`
	Files []fileJSONItem `json:"files"`
}

type fileJSONItem struct {
	FD     int    `json:"fd"`
	File   string `json:"file"`
	Dentry string `json:"dentry"`
	Inode  string `json:"inode"`
	Type   string `json:"type"`
	Path   string `json:"path"`
}

// newFilesCmd is crash's files: a task's root, working directory and open
// files.
func newFilesCmd() *cobra.Command {
	var df dumpFlags
	var vf viewFormat
	cmd := &cobra.Command{
		Use:   "files DUMP PID --vmlinux FILE",
		Short: "List a task's open files, like crash's files",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := vf.check(); err != nil {
				return err
			}
			pid, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("PID %q is not a number", args[1])
			}
			k, tasks, err := df.tasks(args[0])
			if err != nil {
				return err
			}
			defer k.Close()
			for _, t := range tasks {
				if t.PID != pid || t.Idle {
					continue
				}
				out := filesJSON{PID: t.PID, Task: hexAddr(t.Addr), CPU: t.CPU, Comm: t.Comm, Files: []fileJSONItem{}}
				out.Root, out.Cwd, err = k.TaskRootCwd(t)
				if err != nil {
					k.Warnf("task %d root and cwd: %v", t.PID, err)
				}
				fs, err := k.TaskFiles(t)
				if err != nil {
					return fmt.Errorf("task %d: %w", t.PID, err)
				}
				for _, f := range fs {
					out.Files = append(out.Files, fileJSONItem{f.FD, hexAddr(f.File), hexAddr(f.Dentry), hexAddr(f.Inode), f.Type, f.Path})
				}
				w := cmd.OutOrStdout()
				if vf.json() {
					return writeJSON(w, out)
				}
				fmt.Fprintf(w, "PID: %-8d TASK: %x  CPU: %-4d COMMAND: \"%s\"\n", t.PID, t.Addr, t.CPU, t.Comm)
				fmt.Fprintf(w, "ROOT: %s    CWD: %s\n", out.Root, out.Cwd)
				if len(fs) == 0 {
					_, err := fmt.Fprintln(w, "No open files")
					return err
				}
				fmt.Fprintln(w, " FD       FILE            DENTRY           INODE       TYPE PATH")
				for _, f := range fs {
					if _, err := fmt.Fprintf(w, "%3d %16x %16x %16x %-4s %s\n", f.FD, f.File, f.Dentry, f.Inode, f.Type, f.Path); err != nil {
						return err
					}
				}
				return nil
			}
			return fmt.Errorf("%s: no task with PID %d", args[0], pid)
		},
	}
	df.add(cmd)
	vf.add(cmd)
	return cmd
}
