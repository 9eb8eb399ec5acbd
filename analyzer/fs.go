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

// Mounts lists the mounts of init's mount namespace.
func (k *Kernel) Mounts() ([]Mount, error) {
	initTask, err := k.Addr("init_task")
	if err != nil {
		return nil, err
	}
	it, err := k.Object("struct task_struct", initTask)
	if err != nil {
		return nil, err
	}
	ns, err := it.Deref("namespace", "struct namespace")
	if err != nil {
		return nil, fmt.Errorf("init_task's mount namespace: %w", err)
	}
	head, err := ns.FieldAddr("list")
	if err != nil {
		return nil, err
	}
	var mounts []Mount
	err = k.ListEach(head, func(node uint64) error {
		va, err := k.containerOf(node, "struct vfsmount", "mnt_list")
		if err != nil {
			return err
		}
		m, err := k.Object("struct vfsmount", va)
		if err != nil {
			return err
		}
		mnt := Mount{VFSMount: va}
		mnt.SuperBlock, _ = m.Uint("mnt_sb")
		if dev, err := m.Uint("mnt_devname"); err == nil && dev != 0 {
			mnt.Device, _ = k.CString(dev, 256)
		}
		root, _ := m.Uint("mnt_root")
		mnt.Path, err = k.DentryPath(root, va)
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

// DentryPath builds the path of a dentry mounted at vfsmount mnt, crossing
// mount points up to the root, as d_path does.
func (k *Kernel) DentryPath(dentry, mnt uint64) (string, error) {
	var parts []string
	for depth := 0; depth < maxPathDepth; depth++ {
		d, err := k.Object("struct dentry", dentry)
		if err != nil {
			return "", err
		}
		m, err := k.Object("struct vfsmount", mnt)
		if err != nil {
			return "", err
		}
		mntRoot, _ := m.Uint("mnt_root")
		parent, err := d.Uint("d_parent")
		if err != nil {
			return "", err
		}
		if dentry == mntRoot || parent == dentry {
			mntParent, _ := m.Uint("mnt_parent")
			if mntParent == mnt || mntParent == 0 {
				break
			}
			dentry, _ = m.Uint("mnt_mountpoint")
			mnt = mntParent
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
