// Command vmtriage reads a Linux kernel crash dump and says which known hang
// killed the machine, with the evidence.
//
// Exit status: 0 no finding, 1 at least one finding, 2 error.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit statuses.
const (
	exitClean    = 0
	exitFindings = 1
	exitError    = 2
)

// errFindings makes the command exit with status 1 after printing a report.
var errFindings = errors.New("findings")

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	return runWith(newRootCmd(), args)
}

// runWith executes the command tree and maps the outcome to an exit status;
// errors are printed on one line.
func runWith(root *cobra.Command, args []string) int {
	root.SetArgs(args)
	if p := os.Getenv("VMTRIAGE_CPUPROFILE"); p != "" {
		// for finding where the time goes: go tool pprof vmtriage FILE
		if f, err := os.Create(p); err == nil {
			defer f.Close()
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	if p := os.Getenv("VMTRIAGE_TRACE"); p != "" {
		// for seeing what runs when, on which core: go tool trace FILE
		if f, err := os.Create(p); err == nil {
			defer f.Close()
			if trace.Start(f) == nil {
				defer trace.Stop()
			}
		}
	}
	if p := os.Getenv("VMTRIAGE_MEMPROFILE"); p != "" {
		// allocations, for finding where the memory goes: go tool pprof -sample_index=alloc_space vmtriage FILE
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if f, err := os.Create(p); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	err := root.Execute()
	switch {
	case err == nil:
		return exitClean
	case errors.Is(err, errFindings):
		return exitFindings
	default:
		fmt.Fprintln(root.ErrOrStderr(), "vmtriage:", strings.ReplaceAll(err.Error(), "\n", " "))
		return exitError
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "vmtriage",
		Short: "Tell which known hang killed a Linux machine, from its crash dump",
		Long: `vmtriage reads a Linux kernel crash dump (ELF or kdump-compressed vmcore) with
the vmlinux it came from, and reports the known hangs it recognises, with the
task, the kernel objects and the field values that prove them.

Exit status: 0 no finding, 1 at least one finding, 2 error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newAnalyzeCmd(), newDemoCmd(), newVersionCmd(), newPsCmd(), newBtCmd())
	root.AddCommand(newBatchCmd(), newMergeCmd())
	root.AddCommand(newKmemCmd())
	root.AddCommand(newStructCmd(), newMountCmd(), newWaitqCmd(), newFilesCmd(), newLogCmd(), newSysCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print vmtriage's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "vmtriage", version)
			return nil
		},
	}
}
