//go:build !unix

package session

import "time"

// ProcessCPU is not measured here: the benchmarks report no cpu-µs/op.
func ProcessCPU() (total, sys time.Duration, ok bool) { return 0, 0, false }
