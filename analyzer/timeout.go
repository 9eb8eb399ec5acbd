package analyzer

import (
	"fmt"
	"math"
)

// HZ works out the kernel's tick rate from jiffies_64 and the uptime: at
// boot jiffies_64 is INITIAL_JIFFIES = (u32)(-300*HZ), so
// jiffies_64 = 2^32 - 300*HZ + HZ*uptime. The result is snapped to a
// CONFIG_HZ value (100, 250, 300, 1000). 2.6 x86_64 kernels, whose uptime
// comes from jiffies itself, are taken as 1000.
func (k *Kernel) HZ(uptime int64) (int64, error) {
	if _, err := k.Addr("tk_core"); err != nil {
		return hz, nil
	}
	a, err := k.Addr("jiffies_64")
	if err != nil {
		return 0, err
	}
	j, err := k.U64(a)
	if err != nil {
		return 0, err
	}
	if uptime == 300 {
		return 0, fmt.Errorf("cannot tell HZ at an uptime of exactly 300 s")
	}
	est := (float64(j) - math.Pow(2, 32)) / float64(uptime-300)
	best, bestErr := int64(0), math.Inf(1)
	for _, h := range []int64{100, 250, 300, 1000} {
		if e := math.Abs(est-float64(h)) / float64(h); e < bestErr {
			best, bestErr = h, e
		}
	}
	if bestErr > 0.1 {
		return 0, fmt.Errorf("jiffies_64 %d at uptime %d s gives HZ %.0f, no CONFIG_HZ value", j, uptime, est)
	}
	return best, nil
}

// Timeout is a sleep with a timer armed (schedule_timeout).
type Timeout struct {
	Timer       uint64 // the struct timer_list on the task's stack
	Expires     uint64 // in jiffies
	Jiffies     uint64 // jiffies_64 at the dump
	FiresInSecs float64
}

// ArmedTimeout finds the timer a task sleeping in schedule_timeout armed:
// a struct timer_list on its stack whose function is process_timeout.
func (k *Kernel) ArmedTimeout(t Task, frames []Frame, uptime int64) (Timeout, bool, error) {
	if !HasFrame(frames, "schedule_timeout") {
		return Timeout{}, false, nil
	}
	fn, err := k.Addr("process_timeout")
	if err != nil {
		return Timeout{}, false, err
	}
	tl, err := k.Types.Lookup("struct timer_list")
	if err != nil {
		return Timeout{}, false, err
	}
	fnOff, err := tl.Offset("function")
	if err != nil {
		return Timeout{}, false, err
	}
	start, words, err := k.StackWords(t)
	if err != nil {
		return Timeout{}, false, err
	}
	for i, w := range words {
		if w != fn {
			continue
		}
		timer, err := k.Object("struct timer_list", start+uint64(i)*8-fnOff)
		if err != nil {
			continue
		}
		exp, err := timer.Uint("expires")
		if err != nil {
			continue
		}
		to := Timeout{Timer: timer.Addr, Expires: exp}
		if a, err := k.Addr("jiffies_64"); err == nil {
			to.Jiffies, _ = k.U64(a)
		}
		if h, err := k.HZ(uptime); err == nil && h > 0 {
			to.FiresInSecs = float64(int64(exp-to.Jiffies)) / float64(h)
		}
		return to, true, nil
	}
	return Timeout{}, false, fmt.Errorf("task %d sleeps in schedule_timeout but no timer_list with process_timeout is on its stack", t.PID)
}
