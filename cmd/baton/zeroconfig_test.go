package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestZeroConfigStart runs `baton serve` in an empty directory with no
// configuration but a free port: it creates ./baton-data (0700) holding the
// SQLite database (0600, WAL) and its keys, and serves.
func TestZeroConfigStart(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	// Only the port differs from the defaults (8080 may be taken here).
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BATON_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "BATON_ADDR=127.0.0.1:0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	got := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "baton listening" {
				got <- m
			}
		}
	}()
	var m map[string]any
	select {
	case m = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("baton did not start")
	}
	if m["issuer"] != "http://"+m["addr"].(string) {
		t.Fatalf("default issuer: got %v, want the bound address %v", m["issuer"], m["addr"])
	}
	if m["store"] != "sqlite:./baton-data" {
		t.Fatalf("store: got %v", m["store"])
	}
	p := &proc{url: "http://" + m["addr"].(string)}
	if st, _, err := p.get("/readyz", ""); err != nil || st != 200 {
		t.Fatalf("readyz: %d %v", st, err)
	}
	if st, _, _ := p.post("/v1/register", map[string]string{"username": "zero", "password": testPassword}); st != 201 {
		t.Fatalf("register: %d", st)
	}
	data := filepath.Join(dir, "baton-data")
	fi, err := os.Stat(data)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v %v, want mode 0700", fi, err)
	}
	db, err := os.Stat(filepath.Join(data, "baton.db"))
	if err != nil || db.Mode().Perm() != 0o600 {
		t.Fatalf("database file: %v %v, want mode 0600", db, err)
	}
	if _, err := os.Stat(filepath.Join(data, "baton.db-wal")); err != nil {
		t.Fatalf("no WAL file: %v", err)
	}
}
