package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowAndOversizedClients: a client that trickles its headers is cut
// off by the read-header timeout (slowloris), and oversized headers are
// refused, both without disturbing other clients.
func TestSlowAndOversizedClients(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the read-header timeout")
	}
	addr := serveReal(t, "http", nil)

	t.Run("OversizedHeaders", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("got %d, want 431", res.StatusCode)
		}
	})
	t.Run("Slowloris", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		// Trickle a header byte a second; the server must hang up.
		closed := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
			close(closed)
		}()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-closed:
				t.Logf("slow client cut off after %v", time.Since(start).Round(100*time.Millisecond))
				// Meanwhile, others were served.
				res, err := http.Get("http://" + addr + "/healthz")
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("healthz after the slow client: %v", err)
				}
				res.Body.Close()
				return
			case <-tick.C:
				if time.Since(start) > 20*time.Second {
					t.Fatal("a client trickling its headers was never cut off")
				}
				_, _ = io.WriteString(conn, "X")
			}
		}
	})
}
