package password

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/batonauth/baton"
)

// cheap parameters keep the tests fast; only BenchmarkHash pays for
// DefaultParams.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 0)
	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q", encoded)
	}

	t.Run("OK", func(t *testing.T) {
		ok, rehash, err := h.Verify(ctx, "correct horse battery staple", encoded)
		if err != nil || !ok || rehash {
			t.Errorf("got ok=%v rehash=%v err=%v, want ok", ok, rehash, err)
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		for _, pw := range []string{"correct horse battery stapl", "Correct horse battery staple", "", "correct horse battery staple "} {
			ok, rehash, err := h.Verify(ctx, pw, encoded)
			if err != nil || ok || rehash {
				t.Errorf("%q: got ok=%v rehash=%v err=%v, want not ok", pw, ok, rehash, err)
			}
		}
	})

	t.Run("SaltedDifferently", func(t *testing.T) {
		again, err := h.Hash(ctx, "correct horse battery staple")
		if err != nil {
			t.Fatal(err)
		}
		if again == encoded {
			t.Error("two hashes of one password are equal")
		}
	})

	t.Run("ReferenceVectors", func(t *testing.T) {
		// Made by the reference implementation's CLI (Debian's argon2), e.g.
		// echo -n password | argon2 somesalt -id -t 1 -k 64 -p 1 -l 32 -e
		for _, tt := range []struct{ pw, encoded string }{
			{"password", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70"},
			{"correct horse battery staple", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM"},
			{"p\u00e4ssw\u00f6rd", "$argon2id$v=19$m=256,t=3,p=4$c29tZXNhbHQ$b9dUkUKZbcAKbS/Abb2jZA"},
		} {
			ok, rehash, err := h.Verify(ctx, tt.pw, tt.encoded)
			if err != nil || !ok || !rehash {
				t.Errorf("%s: got ok=%v rehash=%v err=%v, want ok and rehash", tt.encoded, ok, rehash, err)
			}
		}
	})
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(cheap, 1)
	encoded, err := old.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		p    Params
		want bool
	}{
		{"Same", cheap, false},
		{"Memory", Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"Time", Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"Threads", Params{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"SaltLen", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 32, KeyLen: 32}, true},
		{"KeyLen", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 64}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHasher(tt.p, 1)
			ok, rehash, err := h.Verify(ctx, "correct horse battery staple", encoded)
			if err != nil || !ok {
				t.Fatalf("got ok=%v err=%v: a hash with other parameters must still verify", ok, err)
			}
			if rehash != tt.want {
				t.Errorf("needsRehash %v, want %v", rehash, tt.want)
			}
			if _, rehash, _ := h.Verify(ctx, "wrong password", encoded); rehash {
				t.Error("needsRehash for a wrong password")
			}
		})
	}
}

func TestVerifyDummy(t *testing.T) {
	h := NewHasher(cheap, 1)
	var starts atomic.Int32
	h.hook = func(e hookEvent) {
		if e == hookStart {
			starts.Add(1)
		}
	}
	if err := h.VerifyDummy(context.Background(), "anything"); err != nil {
		t.Fatal(err)
	}
	if n := starts.Load(); n != 1 {
		t.Errorf("VerifyDummy ran %d hashes, want 1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.VerifyDummy(ctx, "anything"); baton.ErrorCode(err) != baton.EUnavailable {
		t.Errorf("VerifyDummy with a cancelled context: %v, want unavailable", err)
	}
}

func TestVerifyTamperedHash(t *testing.T) {
	const good = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70"
	salt, key := "c29tZXNhbHQ", "cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70"
	h := NewHasher(cheap, 1)
	if ok, _, err := h.Verify(context.Background(), "password", good); !ok || err != nil {
		t.Fatalf("the untampered hash: ok=%v err=%v", ok, err)
	}
	for _, tt := range []struct{ name, encoded string }{
		{"Empty", ""},
		{"Bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"Argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"Argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"Version16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"NoVersion", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"HugeMemory", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key},
		{"MemoryOver1GiB", "$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key},
		{"MemoryOverflow", "$argon2id$v=19$m=18446744073709551617,t=1,p=1$" + salt + "$" + key},
		{"MemoryBelow8PerLane", "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key},
		{"ZeroTime", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"HugeTime", "$argon2id$v=19$m=64,t=101,p=1$" + salt + "$" + key},
		{"ZeroThreads", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"ThreadsOverUint8", "$argon2id$v=19$m=4096,t=1,p=257$" + salt + "$" + key},
		{"Threads65", "$argon2id$v=19$m=4096,t=1,p=65$" + salt + "$" + key},
		{"NegativeMemory", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"PlusMemory", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"LeadingZero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"Spaces", "$argon2id$v=19$m=64, t=1,p=1$" + salt + "$" + key},
		{"ParamsReordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"ExtraParam", "$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + salt + "$" + key},
		{"NoSalt", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"ShortSalt", "$argon2id$v=19$m=64,t=1,p=1$c29tZQ$" + key},
		{"LongSalt", "$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 88) + "$" + key},
		{"NoHash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"EmptyHash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"ShortHash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:16]},
		{"LongHash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 88)},
		{"PaddedSalt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key},
		{"URLBase64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.NewReplacer("p", "-").Replace(key)},
		{"NonCanonicalBase64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "1"},
		{"NewlineInHash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:10] + "\n" + key[10:]},
		{"TrailingData", good + "$x"},
		{"TrailingNewline", good + "\n"},
		{"LeadingSpace", " " + good},
		{"TooLong", good + strings.Repeat("A", 300)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var started atomic.Bool
			h.hook = func(e hookEvent) { started.Store(started.Load() || e == hookStart) }
			defer func() { h.hook = nil }()
			ok, rehash, err := h.Verify(context.Background(), "password", tt.encoded)
			if !errors.Is(err, ErrInvalidHash) || ok || rehash {
				t.Errorf("got ok=%v rehash=%v err=%v, want ErrInvalidHash", ok, rehash, err)
			}
			if baton.ErrorCode(err) != baton.EInternal {
				t.Errorf("code %q, want %q", baton.ErrorCode(err), baton.EInternal)
			}
			if started.Load() {
				t.Error("hashed with a tampered hash's parameters")
			}
		})
	}
}

func TestEncodeDecode(t *testing.T) {
	p := Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	salt := []byte("0123456789abcdef")
	key := []byte("0123456789abcdef0123456789abcdef")
	s := encode(p, salt, key)
	if want := "$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"; s != want {
		t.Errorf("encode %q, want %q", s, want)
	}
	gp, gs, gk, err := decode(s)
	if err != nil || gp != p || string(gs) != string(salt) || string(gk) != string(key) {
		t.Errorf("decode: %+v %q %q %v", gp, gs, gk, err)
	}
}

// FuzzDecode checks that decode never panics, that what it accepts is
// within bounds, and that it accepts only what encode would write.
func FuzzDecode(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decode(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidHash) {
				t.Fatalf("error %v does not wrap ErrInvalidHash", err)
			}
			return
		}
		if err := p.check(); err != nil {
			t.Fatalf("accepted %q with parameters out of bounds: %v", s, err)
		}
		if got := encode(p, salt, key); got != s {
			t.Fatalf("accepted %q, which encodes as %q", s, got)
		}
	})
}

// TestConcurrencyBound checks with the hook, not the clock, that a hasher
// with one slot never runs two hashes at once, and that a hash waiting for
// the slot gives up when its context ends.
func TestConcurrencyBound(t *testing.T) {
	h := NewHasher(cheap, 1)
	var active, maxActive atomic.Int32
	entered := make(chan struct{})
	release := make(chan struct{})
	waiting := make(chan struct{}, 16)
	var first sync.Once
	h.hook = func(e hookEvent) {
		switch e {
		case hookWait:
			waiting <- struct{}{}
		case hookStart:
			n := active.Add(1)
			for m := maxActive.Load(); n > m && !maxActive.CompareAndSwap(m, n); m = maxActive.Load() {
			}
			isFirst := false
			first.Do(func() { isFirst = true })
			if isFirst {
				close(entered)
				<-release // hold the only slot
			}
		case hookDone:
			active.Add(-1)
		}
	}

	// A takes the slot and holds it.
	aDone := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "password-a")
		aDone <- err
	}()
	<-waiting
	<-entered

	// B waits for the slot while A holds it; its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	bDone := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, "password-b")
		bDone <- err
	}()
	<-waiting
	cancel()
	if err := <-bDone; baton.ErrorCode(err) != baton.EUnavailable || !errors.Is(err, context.Canceled) {
		t.Errorf("B, cancelled while waiting: %v, want unavailable wrapping context.Canceled", err)
	}
	if n := active.Load(); n != 1 {
		t.Errorf("%d hashes running while A holds the only slot", n)
	}

	// C waits, and runs once A frees the slot.
	cDone := make(chan error, 1)
	go func() {
		ok, _, err := h.Verify(context.Background(), "x", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70")
		if ok {
			err = errors.New("wrong password verified")
		}
		cDone <- err
	}()
	<-waiting
	close(release)
	if err := <-aDone; err != nil {
		t.Errorf("A: %v", err)
	}
	if err := <-cDone; err != nil {
		t.Errorf("C: %v", err)
	}
	if m := maxActive.Load(); m != 1 {
		t.Errorf("at most %d hashes ran at once, want 1", m)
	}
}

// TestBufferCollected checks that a hash with a large buffer leaves none of
// it on the heap when it returns, so consecutive hashes reuse one buffer's
// pages instead of each growing the heap (or, under a memory limit, each
// faulting in memory the runtime handed back).
func TestBufferCollected(t *testing.T) {
	p := Params{Memory: collectFrom * 2, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := NewHasher(p, 1)
	encoded, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	for i := 0; i < 3; i++ {
		if ok, _, err := h.Verify(context.Background(), "correct horse battery staple", encoded); err != nil || !ok {
			t.Fatalf("verify %d: %v, %v", i, ok, err)
		}
		runtime.ReadMemStats(&ms)
		if buf := uint64(p.Memory) << 10; ms.HeapAlloc >= buf {
			t.Fatalf("verify %d: %d bytes on the heap after it returned, not less than its %d-byte buffer", i, ms.HeapAlloc, buf)
		}
	}
}

// TestHeapBound: a hasher with up to 7 slots collects after every hash
// with a large buffer, so its buffers are one per slot; with more, a
// quarter of the slots' worth of garbage may wait for the next collection.
func TestHeapBound(t *testing.T) {
	large := Params{Memory: collectFrom, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	buf := int64(large.Memory) << 10
	for _, tc := range []struct {
		p     Params
		slots int
		every int
		want  int64
	}{
		{large, 1, 1, buf},
		{large, 2, 1, 2 * buf},
		{large, 7, 1, 7 * buf},
		{large, 8, 2, 9 * buf},
		{large, 64, 16, 79 * buf},
		{cheap, 64, 16, 64 * int64(cheap.Memory) << 10}, // small buffers: no collections
	} {
		if got := collectEvery(tc.slots); got != tc.every {
			t.Errorf("collectEvery(%d) = %d, want %d", tc.slots, got, tc.every)
		}
		if got := HeapBound(tc.p, tc.slots); got != tc.want {
			t.Errorf("HeapBound(m=%d, %d slots) = %d, want %d", tc.p.Memory, tc.slots, got, tc.want)
		}
	}
}

// TestCollectPace checks, with the hook, when a hasher with 8 slots (a
// collection every 2 hashes) collects: at every second hash while another
// runs, and at each one that ends with no other running.
func TestCollectPace(t *testing.T) {
	large := Params{Memory: collectFrom, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := NewHasher(large, 8)
	held, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var collected []string
	current := ""
	h.hook = func(e hookEvent) {
		switch e {
		case hookStart:
			mu.Lock()
			hold := current == "hold"
			mu.Unlock()
			if hold {
				close(held)
				<-release
			}
		case hookCollect:
			mu.Lock()
			collected = append(collected, current)
			mu.Unlock()
		}
	}
	run := func(name string) {
		mu.Lock()
		current = name
		mu.Unlock()
		if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
	}
	// The holder is a hash stopped before it starts: its slot stays taken.
	holdDone := make(chan struct{})
	mu.Lock()
	current = "hold"
	mu.Unlock()
	go func() {
		defer close(holdDone)
		if _, err := h.Hash(context.Background(), "held"); err != nil {
			t.Error(err)
		}
	}()
	<-held
	for _, name := range []string{"b", "c", "d", "e"} {
		run(name) // the holder runs beside each
	}
	mu.Lock()
	current = "released"
	mu.Unlock()
	close(release)
	<-holdDone
	run("f") // alone
	run("g") // alone
	mu.Lock()
	defer mu.Unlock()
	want := []string{"c", "e", "released", "f", "g"}
	if strings.Join(collected, ",") != strings.Join(want, ",") {
		t.Errorf("collected after %v, want %v", collected, want)
	}
}

// TestConcurrencyBoundMany runs many hashes at once through a hasher with
// two slots and checks, at every start, how many are running.
func TestConcurrencyBoundMany(t *testing.T) {
	const slots, workers = 2, 8
	h := NewHasher(cheap, slots)
	var active, maxActive atomic.Int32
	h.hook = func(e hookEvent) {
		switch e {
		case hookStart:
			n := active.Add(1)
			for m := maxActive.Load(); n > m && !maxActive.CompareAndSwap(m, n); m = maxActive.Load() {
			}
		case hookDone:
			active.Add(-1)
		}
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range 5 {
				if _, err := h.Hash(context.Background(), "password"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if m := maxActive.Load(); m > slots {
		t.Errorf("%d hashes ran at once, want at most %d", m, slots)
	}
}

func TestCancelledContext(t *testing.T) {
	h := NewHasher(cheap, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "password"); baton.ErrorCode(err) != baton.EUnavailable {
		t.Errorf("Hash: %v, want unavailable", err)
	}
	if _, _, err := h.Verify(ctx, "password", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70"); baton.ErrorCode(err) != baton.EUnavailable {
		t.Errorf("Verify: %v, want unavailable", err)
	}
}

func TestNewHasherBadParams(t *testing.T) {
	for _, p := range []Params{
		{},
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 4, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
		{Memory: 2 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHasher(%+v) did not panic", p)
				}
			}()
			NewHasher(p, 1)
		}()
	}
	if err := DefaultParams.check(); err != nil {
		t.Errorf("DefaultParams: %v", err)
	}
}

func BenchmarkHash(b *testing.B) {
	h := NewHasher(DefaultParams, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
