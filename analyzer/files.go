package analyzer

import "fmt"

// TaskFile is an open file of a task as crash's files shows it.
type TaskFile struct {
	OpenFile
	// Type is the inode's file type: REG, DIR, CHR, BLK, FIFO, SOCK, LNK
	// ("" when the inode is unreadable).
	Type string
}

// TaskFiles lists a task's open files with their inodes' types. Files of
// mounts outside the mount namespace (pipes, sockets, anonymous inodes)
// have no path, as in crash's files.
func (k *Kernel) TaskFiles(t Task) ([]TaskFile, error) {
	ofs, err := k.Files(t)
	var out []TaskFile
	inNS := map[uint64]bool{}
	if ms, merr := k.Mounts(); merr == nil {
		for _, m := range ms {
			inNS[m.VFSMount] = true
		}
	}
	for _, of := range ofs {
		tf := TaskFile{OpenFile: of, Type: k.InodeType(of.Inode)}
		if len(inNS) > 0 {
			if mnt, ok := k.fileMount(of.File); ok && !inNS[mnt] {
				tf.Path = ""
			}
		}
		out = append(out, tf)
	}
	return out, err
}

// fileMount is the mount (as mountAt takes it) a struct file is on.
func (k *Kernel) fileMount(file uint64) (uint64, bool) {
	f, err := k.Object("struct file", file)
	if err != nil || k.Features.Files.VFSMount == "" {
		return 0, false
	}
	v, err := f.Uint(k.Features.Files.VFSMount)
	if err != nil || v == 0 {
		return 0, false
	}
	m, err := k.mountOfVFS(v)
	return m, err == nil
}

// InodeType names an inode's file type from its i_mode, as crash does.
func (k *Kernel) InodeType(inode uint64) string {
	if inode == 0 {
		return ""
	}
	in, err := k.Object("struct inode", inode)
	if err != nil {
		return ""
	}
	mode, err := in.Uint("i_mode")
	if err != nil {
		return ""
	}
	switch mode & 0o170000 {
	case 0o140000:
		return "SOCK"
	case 0o120000:
		return "LNK"
	case 0o100000:
		return "REG"
	case 0o060000:
		return "BLK"
	case 0o040000:
		return "DIR"
	case 0o020000:
		return "CHR"
	case 0o010000:
		return "FIFO"
	}
	return "UNKN"
}

// TaskRootCwd reads a task's root and working directories (task->fs).
func (k *Kernel) TaskRootCwd(t Task) (root, cwd string, err error) {
	o, err := k.Object("struct task_struct", t.Addr)
	if err != nil {
		return "", "", err
	}
	fsp, err := o.Uint("fs")
	if err != nil {
		return "", "", err
	}
	if fsp == 0 {
		return "", "", fmt.Errorf("task %d has no fs_struct", t.PID)
	}
	fs, err := k.Object("struct fs_struct", fsp)
	if err != nil {
		return "", "", err
	}
	// struct path members (2.6.25+) or dentry and vfsmount pairs (2.6.9)
	path := func(p, dentry, mnt string) (string, error) {
		if fs.Has(p + ".dentry") {
			dentry, mnt = p+".dentry", p+".mnt"
		}
		d, err := fs.Uint(dentry)
		if err != nil {
			return "", err
		}
		m, err := fs.Uint(mnt)
		if err != nil {
			return "", err
		}
		if d == 0 || m == 0 {
			return "", fmt.Errorf("fs_struct 0x%x: %s is NULL", fsp, p)
		}
		return k.DentryPath(d, m)
	}
	if root, err = path("root", "root", "rootmnt"); err != nil {
		return "", "", err
	}
	cwd, err = path("pwd", "pwd", "pwdmnt")
	return root, cwd, err
}
