package rules

import (
	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// Wait is what a blocked task waits on and who can end it (see
// analyzer.Kernel.WaitOf), read from its frames on first use.
func (c *Context) Wait(t *analyzer.Task) analyzer.Wait {
	if t == nil {
		return analyzer.Wait{Kind: "unknown"}
	}
	if c.waits == nil {
		c.waits = map[uint64]analyzer.Wait{}
	}
	if w, ok := c.waits[t.Addr]; ok {
		return w
	}
	w := c.K.WaitOf(*t, c.Frames(t))
	c.waits[t.Addr] = w
	return w
}

// WaitGraph is the wait-for graph of the uninterruptible tasks: each one's
// wait, followed from owner to owner to its root, and the cycles
// (deadlocks).
func (c *Context) WaitGraph() analyzer.WaitGraph {
	if c.graph == nil {
		waits := map[uint64]analyzer.Wait{}
		for i := range c.Tasks {
			if t := &c.Tasks[i]; t.StateName() == "UN" {
				waits[t.Addr] = c.Wait(t)
			}
		}
		g := analyzer.BuildWaitGraph(waits)
		c.graph = &g
	}
	return *c.graph
}

// TaskID names a task for the wait-for graph.
func (c *Context) TaskID(addr uint64) report.TaskID {
	if t, ok := c.ByAddr[addr]; ok {
		return report.TaskID{PID: t.PID, Comm: t.Comm, Task: report.Hex(addr)}
	}
	return report.TaskID{PID: -1, Comm: "?", Task: report.Hex(addr)}
}

// waitOf is a task's wait for the report: what, who can end it, the root
// its chain leads to.
func (c *Context) waitOf(t *analyzer.Task) *report.TaskWait {
	g := c.WaitGraph()
	w, ok := g.Waits[t.Addr]
	if !ok {
		return nil
	}
	tw := &report.TaskWait{Kind: w.Kind, What: w.Describe(c.TaskName), Holds: w.Holds, Device: w.Device, Frame: w.Frame}
	if w.Object != 0 {
		o := report.Hex(w.Object)
		tw.Object = &o
	}
	for _, o := range w.Owners {
		tw.Owners = append(tw.Owners, c.TaskID(o))
	}
	root := g.Root[t.Addr]
	id := c.TaskID(root)
	tw.Root = &id
	rw := g.Waits[root]
	switch {
	case g.InCycle(t.Addr):
		tw.RootWhat = "a deadlock: the tasks of the cycle wait for each other"
	case root != t.Addr && rw.Kind == "":
		tw.RootWhat = "not blocked: " + c.TaskName(root) + " can end the wait"
	default:
		tw.RootWhat = rw.Describe(c.TaskName)
	}
	return tw
}
