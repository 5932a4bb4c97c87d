package store

import (
	"os"
	"strings"
	"testing"
)

func TestConnPoolConfig(t *testing.T) {
	p, err := newConnPool("postgres://u@127.0.0.1:1/db?pool_max_conns=3&pool_max_conn_lifetime=1h&search_path=s1")
	if err != nil {
		t.Fatal(err)
	}
	if cap(p.sem) != 3 || cap(p.idle) != 3 {
		t.Fatalf("limit %d/%d, want 3", cap(p.sem), cap(p.idle))
	}
	for k := range p.cfg.RuntimeParams {
		if k != "search_path" {
			t.Fatalf("runtime param %q would be sent to the server", k)
		}
	}
	if p.cfg.RuntimeParams["search_path"] != "s1" {
		t.Fatalf("search_path lost: %v", p.cfg.RuntimeParams)
	}
	if _, err := newConnPool("postgres://u@127.0.0.1:1/db?pool_max_conns=0"); err == nil {
		t.Fatal("pool_max_conns=0 accepted")
	}
}

// TestConnPoolLimit: at most max connections exist; a waiter gets a
// released one; close fails later acquires.
func TestConnPoolLimit(t *testing.T) {
	dsn := os.Getenv("FLOWD_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("FLOWD_TEST_POSTGRES_DSN not set: e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	p, err := newConnPool(dsn + sep + "pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	a, err := p.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		c, err := p.acquire(ctx)
		if err == nil && c != a {
			t.Error("waiter did not get the released connection")
		}
		if err == nil {
			p.release(c)
		}
		got <- err
	}()
	p.release(a)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// A connection left inside a transaction is not reused.
	if _, err := b.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	p.release(b)
	if !b.IsClosed() {
		t.Fatal("connection in a transaction went back to the pool")
	}
	p.close()
	if _, err := p.acquire(ctx); err != errPoolClosed {
		t.Fatalf("acquire after close = %v", err)
	}
	if !a.IsClosed() {
		t.Fatal("idle connection not closed by close")
	}
}
