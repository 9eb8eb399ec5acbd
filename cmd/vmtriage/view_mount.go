package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// mountJSON is one mount of `mount --format json`.
type mountJSON struct {
	Mount      string `json:"mount"`      // struct mount (3.3+) or struct vfsmount
	SuperBlock string `json:"superblock"` // struct super_block
	Type       string `json:"type"`
	DevName    string `json:"devname"`
	DirName    string `json:"dirname"`
}

// newMountCmd is crash's mount: the mounts of init's namespace.
func newMountCmd() *cobra.Command {
	var df dumpFlags
	var vf viewFormat
	cmd := &cobra.Command{
		Use:   "mount DUMP --vmlinux FILE",
		Short: "List the mounted file systems, like crash's mount",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := vf.check(); err != nil {
				return err
			}
			k, err := df.open(args[0])
			if err != nil {
				return err
			}
			defer k.Close()
			ms, err := k.Mounts()
			if err != nil {
				return err
			}
			out := []mountJSON{}
			var rows [][]string
			for _, m := range ms {
				j := mountJSON{hexAddr(m.VFSMount), hexAddr(m.SuperBlock), m.FSType, m.Device, m.Path}
				out = append(out, j)
				rows = append(rows, []string{fmt.Sprintf("%x", m.VFSMount), fmt.Sprintf("%x", m.SuperBlock), m.FSType, m.Device, m.Path})
			}
			if vf.json() {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return crashTable(cmd.OutOrStdout(), []string{"MOUNT", "SUPERBLK", "TYPE", "DEVNAME", "DIRNAME"}, rows)
		},
	}
	df.add(cmd)
	vf.add(cmd)
	return cmd
}
