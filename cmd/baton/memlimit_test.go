package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/batonauth/baton/password"
)

// TestSetMemoryLimit: without GOMEMLIMIT, serve sets a soft limit of the
// hasher's heap bound (one argon2id buffer per core on this machine) plus
// the margin; an operator's GOMEMLIMIT (which the runtime applied at
// start) is left alone.
func TestSetMemoryLimit(t *testing.T) {
	orig := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(orig) })
	const operator = 300 << 20
	hashes := password.HeapBound(password.DefaultParams, runtime.NumCPU())
	for _, tc := range []struct {
		name   string
		env    string
		before int64 // the limit in force when serve starts
		want   int64
	}{
		{"Unset", "", math.MaxInt64, hashes + memoryMargin},
		{"OperatorWins", "300MiB", operator, operator},
		{"OperatorOff", "off", math.MaxInt64, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(tc.before)
			env := map[string]string{"GOMEMLIMIT": tc.env}
			got := setMemoryLimit(func(k string) string { return env[k] })
			if inForce := debug.SetMemoryLimit(-1); got != tc.want || inForce != tc.want {
				t.Fatalf("setMemoryLimit returned %d, limit in force %d; want %d", got, inForce, tc.want)
			}
		})
	}
}

// TestSetGCPercent: under a memory limit serve sets GOGC to gcPercent; an
// operator's GOGC, or no limit at all, leaves the runtime's value alone.
func TestSetGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	for _, tc := range []struct {
		name   string
		env    string
		limit  int64
		before int // GOGC in force when serve starts
		want   int
	}{
		{"Unset", "", 70 << 20, 100, gcPercent},
		{"OperatorWins", "50", 70 << 20, 50, 50},
		{"NoLimit", "", math.MaxInt64, 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(tc.before)
			env := map[string]string{"GOGC": tc.env}
			setGCPercent(func(k string) string { return env[k] }, tc.limit)
			if inForce := debug.SetGCPercent(100); inForce != tc.want {
				t.Fatalf("GOGC in force %d, want %d", inForce, tc.want)
			}
		})
	}
}
