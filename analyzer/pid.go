package analyzer

// PidFeatures say how process ids are kept.
type PidFeatures struct {
	// Numbers is struct pid's numbers[] (2.6.24+, pid namespaces): "[1]"
	// until "pid: Replace struct pid 1-element array with flex-array"
	// (6.5, and Debian's 6.1 backport of it, which crash 8.0.2 predates),
	// "flexible" after, "" on 2.6.9 (no numbers). task_struct.pid is the global pid on every line,
	// which is what vmtriage reports.
	Numbers string
}

func (k *Kernel) probePids(f *Features) {
	p := &f.Pids
	if t, err := k.Types.KernelLookup("struct pid"); err == nil {
		if fl, err := t.Field("numbers"); err == nil {
			if at := fl.Type.Resolve(); at.Len <= 0 {
				p.Numbers = "flexible"
			} else {
				p.Numbers = "[1]"
				if at.Len != 1 {
					p.Numbers = "fixed"
				}
			}
		}
	}
	f.set("pid.numbers", "%s", orNone(p.Numbers))
}
