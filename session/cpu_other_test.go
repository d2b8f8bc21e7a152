//go:build !unix

package session

import "time"

// ProcessCPU is not measured here: the benchmarks report no cpu-µs/op.
func ProcessCPU() (time.Duration, bool) { return 0, false }
