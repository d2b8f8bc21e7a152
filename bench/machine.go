package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// machine describes the box: cores, CPU model, kernel, Go.
func machine() string {
	return fmt.Sprintf("%d cores (nproc), %s, Linux %s, %s %s/%s", runtime.NumCPU(), cpuModel(), kernel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func machineShort() string { return fmt.Sprintf("%d cores", runtime.NumCPU()) }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(bytes.TrimSpace(b))
}
