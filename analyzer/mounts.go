package analyzer

import (
	"fmt"
)

// Mount is a mounted file system.
type Mount struct {
	VFSMount   uint64
	SuperBlock uint64
	Device     string
	Path       string
	FSType     string
}

// MountFeatures say how the mount table is found and read.
type MountFeatures struct {
	// Namespace is where init's mount namespace hangs: "nsproxy.mnt_ns"
	// (2.6.19+, 1651e14e28a2) or "namespace" (2.6.9).
	Namespace string
	// Type is "struct mount" (3.3+, 7d6fec45a5131 "vfs: start hiding
	// vfsmount guts series") or "struct vfsmount".
	Type string
	// Table is how a namespace links its mounts: "mounts" (6.8+,
	// 2eea9ce4310d "mounts: keep list of mounts in an rbtree": an rb-tree
	// through mount.mnt_node) or "list" (through mnt_list).
	Table string
}

func (k *Kernel) probeMounts(f *Features) {
	m := &f.Mounts
	switch {
	case k.hasMember("struct task_struct", "nsproxy"):
		m.Namespace = "nsproxy.mnt_ns"
	case k.hasMember("struct task_struct", "namespace"):
		m.Namespace = "namespace"
	}
	m.Type = k.firstType("struct mount", "struct vfsmount")
	nsType := "struct mnt_namespace"
	if m.Namespace == "namespace" {
		nsType = "struct namespace"
	}
	switch {
	case k.hasMember(nsType, "mounts") && k.hasMember(m.Type, "mnt_node"):
		m.Table = "mounts"
	case k.hasMember(nsType, "list"):
		m.Table = "list"
	}
	f.set("mount.namespace", "%s", orNone(m.Namespace))
	f.set("mount.type", "%s", orNone(m.Type))
	f.set("mount.table", "%s", orNone(m.Table))
}

// Mounts lists the mounts of init's mount namespace.
func (k *Kernel) Mounts() ([]Mount, error) { return k.mounts.get(k.readMounts) }

func (k *Kernel) readMounts() ([]Mount, error) {
	mf := k.Features.Mounts
	if mf.Namespace == "" || mf.Type == "" || mf.Table == "" {
		return nil, fmt.Errorf("mount table: the kernel's mount namespace types were not recognised (%s, %s, %s)", orNone(mf.Namespace), orNone(mf.Type), orNone(mf.Table))
	}
	it, err := k.initTask()
	if err != nil {
		return nil, err
	}
	var ns Object
	if mf.Namespace == "namespace" {
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
	var mounts []Mount
	visit := func(va uint64) error {
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
	}
	// the namespace's table: an rb-tree through mnt_node (6.8+) or a list
	// through mnt_list
	walk, table, member := k.ListEach, "list", "mnt_list"
	if mf.Table == "mounts" {
		walk, table, member = k.RBTreeEach, "mounts", "mnt_node"
	}
	head, err := ns.FieldAddr(table)
	if err != nil {
		return nil, err
	}
	err = walk(head, func(node uint64) error {
		va, err := k.containerOf(node, mf.Type, member)
		if err != nil {
			return err
		}
		return visit(va)
	})
	if err != nil {
		k.warnf("mount table (%s): %v (mounts after that point are missing)", table, err)
	}
	return mounts, nil
}

// RBTreeEach calls fn for every node of the rb-tree whose struct rb_root
// is at root, in order (the node addresses are those of the rb_node
// members). The walk is bounded and stops on an unreadable node.
func (k *Kernel) RBTreeEach(root uint64, fn func(node uint64) error) error {
	nodeT, err := k.Types.Lookup("struct rb_node")
	if err != nil {
		return err
	}
	left, err := nodeT.Offset("rb_left")
	if err != nil {
		return err
	}
	right, err := nodeT.Offset("rb_right")
	if err != nil {
		return err
	}
	top, err := k.U64(root) // rb_root.rb_node is its only member
	if err != nil {
		return fmt.Errorf("rb-tree at 0x%x: %w", root, err)
	}
	// iterative in-order walk with an explicit stack
	var stack []uint64
	seen := map[uint64]bool{}
	cur := top
	for n := 0; cur != 0 || len(stack) > 0; n++ {
		if n > 2*maxListLen {
			return fmt.Errorf("rb-tree at 0x%x: runaway walk", root)
		}
		for cur != 0 {
			if seen[cur] {
				return fmt.Errorf("rb-tree at 0x%x: cycle at node 0x%x", root, cur)
			}
			seen[cur] = true
			stack = append(stack, cur)
			if cur, err = k.U64(cur + left); err != nil {
				return fmt.Errorf("rb-tree at 0x%x: left of 0x%x: %w", root, stack[len(stack)-1], err)
			}
		}
		node := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if err := fn(node); err != nil {
			return err
		}
		if cur, err = k.U64(node + right); err != nil {
			return fmt.Errorf("rb-tree at 0x%x: right of 0x%x: %w", root, node, err)
		}
	}
	return nil
}

// mountInfo is what a path walk needs of a mount.
type mountInfo struct {
	root, parent, mountpoint, sb, devname uint64
}

// mountAt reads a mount (struct mount or struct vfsmount, see MountFeatures).
func (k *Kernel) mountAt(addr uint64) (mountInfo, error) {
	typ := k.Features.Mounts.Type
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
	if k.Features.Mounts.Type == "struct mount" {
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
