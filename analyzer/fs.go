package analyzer

import (
	"fmt"
	"strings"
)

// Mount is a mounted file system.
type Mount struct {
	VFSMount   uint64
	SuperBlock uint64
	Device     string
	Path       string
	FSType     string
}

// Mounts lists the mounts of init's mount namespace: init_task.namespace
// (2.6) or init_task.nsproxy->mnt_ns (2.6.24+), whose list links
// struct vfsmount (2.6) or struct mount (3.3+) by mnt_list.
func (k *Kernel) Mounts() ([]Mount, error) {
	initTask, err := k.Addr("init_task")
	if err != nil {
		return nil, err
	}
	it, err := k.Object("struct task_struct", initTask)
	if err != nil {
		return nil, err
	}
	var ns Object
	if it.Has("namespace") {
		ns, err = it.Deref("namespace", "struct namespace")
	} else {
		var nsp Object
		if nsp, err = it.Deref("nsproxy", "struct nsproxy"); err == nil {
			ns, err = nsp.Deref("mnt_ns", "struct mnt_namespace")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("init_task's mount namespace: %w", err)
	}
	head, err := ns.FieldAddr("list")
	if err != nil {
		return nil, err
	}
	mountType := k.mountType()
	var mounts []Mount
	err = k.ListEach(head, func(node uint64) error {
		va, err := k.containerOf(node, mountType, "mnt_list")
		if err != nil {
			return err
		}
		m, err := k.mountAt(va)
		if err != nil {
			return err
		}
		mnt := Mount{VFSMount: va, SuperBlock: m.sb}
		if m.devname != 0 {
			mnt.Device, _ = k.CString(m.devname, 256)
		}
		mnt.Path, err = k.dentryPath(m.root, va)
		if err != nil {
			k.warnf("mount 0x%x: %v", va, err)
		}
		mnt.FSType = k.fsType(mnt.SuperBlock)
		mounts = append(mounts, mnt)
		return nil
	})
	if err != nil {
		k.warnf("mount list: %v (mounts after that point are missing)", err)
	}
	return mounts, nil
}

// mountType is "struct mount" on kernels that split it from struct
// vfsmount (3.3+), else "struct vfsmount".
func (k *Kernel) mountType() string {
	if _, err := k.Types.Lookup("struct mount"); err == nil {
		return "struct mount"
	}
	return "struct vfsmount"
}

// mountInfo is what a path walk needs of a mount.
type mountInfo struct {
	root, parent, mountpoint, sb, devname uint64
}

// mountAt reads a mount (struct mount or struct vfsmount, see mountType).
func (k *Kernel) mountAt(addr uint64) (mountInfo, error) {
	typ := k.mountType()
	o, err := k.Object(typ, addr)
	if err != nil {
		return mountInfo{}, err
	}
	var m mountInfo
	prefix := ""
	if typ == "struct mount" {
		prefix = "mnt."
	}
	if m.root, err = o.Uint(prefix + "mnt_root"); err != nil {
		return m, err
	}
	m.sb, _ = o.Uint(prefix + "mnt_sb")
	m.parent, _ = o.Uint("mnt_parent")
	m.mountpoint, _ = o.Uint("mnt_mountpoint")
	m.devname, _ = o.Uint("mnt_devname")
	return m, nil
}

// mountOfVFS turns a struct vfsmount pointer (as in file->f_path.mnt) into
// the address mountAt takes.
func (k *Kernel) mountOfVFS(vfsmnt uint64) (uint64, error) {
	if k.mountType() == "struct mount" {
		return k.containerOf(vfsmnt, "struct mount", "mnt")
	}
	return vfsmnt, nil
}

func (k *Kernel) fsType(sbAddr uint64) string {
	sb, err := k.Object("struct super_block", sbAddr)
	if err != nil {
		return ""
	}
	ft, err := sb.Deref("s_type", "struct file_system_type")
	if err != nil {
		return ""
	}
	p, err := ft.Uint("name")
	if err != nil {
		return ""
	}
	s, _ := k.CString(p, 64)
	return s
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
	if fs.Has("fdt") {
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
	dentry, err := f.First("f_dentry", "f_path.dentry")
	if err != nil {
		return of, err
	}
	mnt, err := f.First("f_vfsmnt", "f_path.mnt")
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

// WaitQueue lists the tasks queued on a wait_queue_head_t.
func (k *Kernel) WaitQueue(head uint64) ([]uint64, error) {
	hd, err := k.Object("wait_queue_head_t", head)
	if err != nil {
		return nil, err
	}
	listField := "task_list"
	if !hd.Has(listField) {
		listField = "head"
	}
	lh, err := hd.FieldAddr(listField)
	if err != nil {
		return nil, err
	}
	entryType, entryList, taskField := "wait_queue_t", "task_list", "task"
	if _, err := k.Types.Lookup(entryType); err != nil {
		entryType, entryList, taskField = "struct wait_queue_entry", "entry", "private"
	}
	var tasks []uint64
	err = k.ListEach(lh, func(node uint64) error {
		e, err := k.containerOf(node, entryType, entryList)
		if err != nil {
			return err
		}
		w, err := k.Object(entryType, e)
		if err != nil {
			return err
		}
		t, err := w.Uint(taskField)
		if err != nil {
			return err
		}
		tasks = append(tasks, t)
		return nil
	})
	return tasks, err
}
