package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func openSQLiteInternal(t *testing.T) *sqliteStore {
	t.Helper()
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*sqliteStore)
}

// A write whose caller gives up before the writer takes it never runs; a
// write the writer has taken runs to its end and its caller gets the
// outcome, even if the caller's context ends meanwhile: a caller never
// returns "canceled" for a write that happened.
func TestWriterCancellation(t *testing.T) {
	s := openSQLiteInternal(t)
	w := s.writer

	running, release := make(chan struct{}), make(chan struct{})
	takenCtx, cancelTaken := context.WithCancel(context.Background())
	takenErr := make(chan error, 1)
	go func() {
		takenErr <- w.do(takenCtx, func(ctx context.Context, tx *sql.Tx) error {
			close(running)
			<-release
			_, err := tx.ExecContext(ctx, `INSERT INTO idempotency (key, session, created_at) VALUES ('taken', 'S', 0)`)
			return err
		}, nil)
	}()
	<-running // the writer is inside the first write

	// The writer is busy: this write waits to be taken, and its caller
	// gives up.
	queuedCtx, cancelQueued := context.WithCancel(context.Background())
	queuedErr := make(chan error, 1)
	ran := false
	go func() {
		queuedErr <- w.do(queuedCtx, func(ctx context.Context, tx *sql.Tx) error {
			ran = true
			return nil
		}, nil)
	}()
	cancelQueued()
	if err := <-queuedErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned write: %v, want context.Canceled", err)
	}

	cancelTaken()
	close(release)
	if err := <-takenErr; err != nil {
		t.Fatalf("taken write whose caller's context ended: %v, want its own outcome (nil)", err)
	}
	if _, found, err := s.Reply(context.Background(), "taken"); err != nil || !found {
		t.Fatalf("the taken write is not in the database (found %v, %v)", found, err)
	}
	// One more write through the writer proves it is still serving, and
	// orders the check below after anything the abandoned job could do.
	if err := w.do(context.Background(), func(context.Context, *sql.Tx) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Fatal("the abandoned write ran")
	}
}

// After Close, writes fail at once instead of waiting for a writer that is
// gone.
func TestWriterClosed(t *testing.T) {
	s := openSQLiteInternal(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Commit(context.Background(), Commit{Session: Session{ID: "S", Flow: "f", Revision: "r", State: "s"}})
	if err == nil {
		t.Fatal("commit after Close succeeded")
	}
}

// A write that panics fails alone: its caller gets an error, the writes
// beside it are saved, and the writer goes on serving.
func TestWriterPanicFailsOnlyItsWrite(t *testing.T) {
	s := openSQLiteInternal(t)
	w := s.writer
	insert := func(key string) func(ctx context.Context, tx *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO idempotency (key, session, created_at) VALUES (?, 'S', 0)`, key)
			return err
		}
	}
	errs := make(chan error, 3)
	for _, fn := range []func(ctx context.Context, tx *sql.Tx) error{
		insert("before"),
		func(ctx context.Context, tx *sql.Tx) error {
			if err := insert("panicking")(ctx, tx); err != nil {
				return err
			}
			panic("boom")
		},
		insert("after"),
	} {
		go func() { errs <- w.do(context.Background(), fn, nil) }()
	}
	failed := 0
	for range 3 {
		if err := <-errs; err != nil {
			if !strings.Contains(err.Error(), "panic") {
				t.Fatalf("unexpected error: %v", err)
			}
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("%d writes failed, want only the panicking one", failed)
	}
	for key, want := range map[string]bool{"before": true, "after": true, "panicking": false} {
		if _, found, err := s.Reply(context.Background(), key); err != nil || found != want {
			t.Errorf("key %q stored = %v (%v), want %v", key, found, err, want)
		}
	}
}
