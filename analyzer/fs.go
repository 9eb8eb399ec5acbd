package analyzer

import (
	"fmt"
	"strings"
)

// FileFeatures say how open files are read.
type FileFeatures struct {
	// Dentry and VFSMount locate a file's path: "f_path.dentry" and
	// "f_path.mnt" (2.6.20+, 0f7fc9e4d03987 "[PATCH] VFS: change struct
	// file to use struct path") or "f_dentry" and "f_vfsmnt".
	Dentry, VFSMount string
	// FDTable is true when files_struct points at a struct fdtable
	// (2.6.14+, badf16621c1f "[PATCH] files: break up files struct").
	FDTable bool
}

func (k *Kernel) probeFiles(f *Features) {
	ff := &f.Files
	ff.Dentry = k.firstMember("struct file", "f_path.dentry", "f_dentry")
	ff.VFSMount = k.firstMember("struct file", "f_path.mnt", "f_vfsmnt")
	ff.FDTable = k.hasMember("struct files_struct", "fdt")
	f.set("file.path", "%s", orNone(ff.Dentry))
	f.set("file.fdtable", "%t", ff.FDTable)
}

// maxPathDepth bounds a dentry walk.
const maxPathDepth = 256

// DentryPath builds the path of a dentry seen through a struct vfsmount
// (file->f_vfsmnt or f_path.mnt), crossing mount points up to the root, as
// d_path does.
func (k *Kernel) DentryPath(dentry, vfsmnt uint64) (string, error) {
	mnt, err := k.mountOfVFS(vfsmnt)
	if err != nil {
		return "", err
	}
	return k.dentryPath(dentry, mnt)
}

// dentryPath walks from a dentry on the mount at mnt (see mountAt).
func (k *Kernel) dentryPath(dentry, mnt uint64) (string, error) {
	var parts []string
	for depth := 0; depth < maxPathDepth; depth++ {
		d, err := k.Object("struct dentry", dentry)
		if err != nil {
			return "", err
		}
		m, err := k.mountAt(mnt)
		if err != nil {
			return "", err
		}
		parent, err := d.Uint("d_parent")
		if err != nil {
			return "", err
		}
		if dentry == m.root || parent == dentry {
			if m.parent == mnt || m.parent == 0 {
				break
			}
			dentry, mnt = m.mountpoint, m.parent
			continue
		}
		name, err := k.dentryName(d)
		if err != nil {
			return "", err
		}
		parts = append(parts, name)
		dentry = parent
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return "/" + strings.Join(parts, "/"), nil
}

func (k *Kernel) dentryName(d Object) (string, error) {
	p, err := d.Uint("d_name.name")
	if err != nil {
		return "", err
	}
	n, err := d.Uint("d_name.len")
	if err != nil || n > 4096 {
		n = 255
	}
	s, err := k.CString(p, int(n))
	if err != nil {
		return "", fmt.Errorf("dentry 0x%x name: %w", d.Addr, err)
	}
	return s, nil
}

// OpenFile is a file descriptor of a task.
type OpenFile struct {
	FD     int
	File   uint64
	Dentry uint64
	Inode  uint64
	Path   string
}

// maxFDs bounds a descriptor table walk.
const maxFDs = 1 << 20

// Files lists a task's open files.
func (k *Kernel) Files(t Task) ([]OpenFile, error) {
	if t.Files == 0 {
		return nil, nil
	}
	fs, err := k.Object("struct files_struct", t.Files)
	if err != nil {
		return nil, err
	}
	table := fs
	if k.Features.Files.FDTable {
		if table, err = fs.Deref("fdt", "struct fdtable"); err != nil {
			return nil, err
		}
	}
	n, err := table.Uint("max_fds")
	if err != nil {
		return nil, err
	}
	if n > maxFDs {
		return nil, fmt.Errorf("files_struct 0x%x: max_fds %d is implausible", t.Files, n)
	}
	fdArray, err := table.Uint("fd")
	if err != nil {
		return nil, err
	}
	var out []OpenFile
	for fd := uint64(0); fd < n; fd++ {
		f, err := k.U64(fdArray + fd*8)
		if err != nil {
			return out, fmt.Errorf("fd %d: %w", fd, err)
		}
		if f == 0 {
			continue
		}
		of, err := k.File(f)
		if err != nil {
			k.warnf("task %d fd %d: %v", t.PID, fd, err)
		}
		of.FD = int(fd)
		out = append(out, of)
	}
	return out, nil
}

// File reads a struct file and its path.
func (k *Kernel) File(addr uint64) (OpenFile, error) {
	of := OpenFile{File: addr, FD: -1}
	f, err := k.Object("struct file", addr)
	if err != nil {
		return of, err
	}
	ff := k.Features.Files
	if ff.Dentry == "" || ff.VFSMount == "" {
		return of, fmt.Errorf("struct file has neither f_path nor f_dentry/f_vfsmnt")
	}
	dentry, err := f.Uint(ff.Dentry)
	if err != nil {
		return of, err
	}
	mnt, err := f.Uint(ff.VFSMount)
	if err != nil {
		return of, err
	}
	of.Dentry = dentry
	if d, err := k.Object("struct dentry", dentry); err == nil {
		of.Inode, _ = d.Uint("d_inode")
	}
	of.Path, err = k.DentryPath(dentry, mnt)
	return of, err
}
