package analyzer

import (
	"fmt"
)

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
		if h := k.Features.Time.HZ; h > 0 {
			to.FiresInSecs = float64(int64(exp-to.Jiffies)) / float64(h)
		}
		return to, true, nil
	}
	return Timeout{}, false, fmt.Errorf("task %d sleeps in schedule_timeout but no timer_list with process_timeout is on its stack", t.PID)
}
