//go:build unix

package session

import (
	"syscall"
	"time"
)

// ProcessCPU is the process's CPU time so far (getrusage), user+system
// and system alone, for the benchmarks' cpu-µs/op and sys-µs/op: unlike
// ns/op it leaves out fsync waits and counts work on other threads (the
// store's writer, the garbage collector). The total is the scheduler's
// exact runtime; its split into user and system is sampled at clock
// ticks, so sys-µs/op means something over hundreds of ops only. ok is
// false where it cannot be read.
func ProcessCPU() (total, sys time.Duration, ok bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(ru.Stime.Nano()), true
}
