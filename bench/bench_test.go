package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	got := summarize(lat, 2*time.Second)
	want := stats{n: 100, rps: 50, p50: 50 * time.Millisecond, p90: 90 * time.Millisecond, p99: 99 * time.Millisecond, max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("summarize: got %+v, want %+v", got, want)
	}
	if got := summarize(nil, time.Second); got != (stats{}) {
		t.Errorf("summarize(nil): got %+v, want zero", got)
	}
}

func TestSpliceGenerated(t *testing.T) {
	gen := beginMarker + "\nnew\n" + endMarker + "\n"
	doc := "# title\n\nprose\n" + beginMarker + "\nold\n" + endMarker + "\nmore prose\n"
	got := spliceGenerated(doc, gen)
	want := "# title\n\nprose\n" + beginMarker + "\nnew\n" + endMarker + "\nmore prose\n"
	if got != want {
		t.Errorf("splice:\ngot  %q\nwant %q", got, want)
	}
	if got := spliceGenerated("# title", gen); got != "# title\n\n"+gen {
		t.Errorf("splice without markers: got %q", got)
	}
}

func TestWriteMicro(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.txt")
	out := `pkg: github.com/batonauth/baton/sqlite
BenchmarkRotateParallel-2   	   10000	    130000 ns/op	        15.00 ops/commit	    1458 B/op	      45 allocs/op
BenchmarkRotateParallel-2   	   10000	    100000 ns/op	        16.00 ops/commit	    1456 B/op	      45 allocs/op
BenchmarkRotateParallel-2   	   10000	    120000 ns/op	        17.00 ops/commit	    1457 B/op	      45 allocs/op
PASS
`
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := writeMicro(&b, path); err != nil {
		t.Fatalf("writeMicro: %v", err)
	}
	want := "| sqlite | BenchmarkRotateParallel-2 | 120µs | 1457 | 45 | 16 ops/commit |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("writeMicro: got\n%s\nwant a row %s", b.String(), want)
	}
}

func TestProcFigures(t *testing.T) {
	pid := os.Getpid()
	if _, err := procCPU(pid); err != nil {
		t.Errorf("procCPU: %v", err)
	}
	if kb, err := procStatusKB(pid, "VmHWM"); err != nil || kb <= 0 {
		t.Errorf("procStatusKB(VmHWM): got %d, %v, want > 0, nil", kb, err)
	}
	if busy, err := machineBusy(); err != nil || busy <= 0 {
		t.Errorf("machineBusy: got %v, %v, want > 0, nil", busy, err)
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd: got %v, want 2", got)
	}
	if got := median([]time.Duration{4, 1, 3, 2}); got != 2 {
		t.Errorf("median even: got %v, want 2 (integer mean of 2 and 3)", got)
	}
}
