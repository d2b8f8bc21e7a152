package storetest

import (
	"sync"
	"testing"

	"github.com/batonauth/baton"
)

func testRaiseSetting(t *testing.T, s baton.Store) {
	tests := []struct {
		name  string
		value int64
		want  int64
	}{
		{"a", 5, 5},
		{"a", 3, 5}, // never decreases
		{"a", 9, 9},
		{"b", 1, 1}, // names are independent
		{"a", 9, 9},
	}
	for _, tt := range tests {
		got, err := s.RaiseSetting(ctx, tt.name, tt.value)
		if err != nil || got != tt.want {
			t.Errorf("RaiseSetting(%q, %d): got %d, %v, want %d, nil", tt.name, tt.value, got, err, tt.want)
		}
	}
}

func testRaiseSettingConcurrent(t *testing.T, s baton.Store) {
	const n = 16
	var wg sync.WaitGroup
	for i := int64(1); i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.RaiseSetting(ctx, "c", i); err != nil {
				t.Errorf("RaiseSetting(%d): %v", i, err)
			}
		}()
	}
	wg.Wait()
	if got, err := s.RaiseSetting(ctx, "c", 0); err != nil || got != n {
		t.Errorf("after concurrent raises: got %d, %v, want %d", got, err, n)
	}
}
