package store

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestSQLiteUpgradeFromFirstSchema: a database written by the first schema
// (sessions, history and idempotency keys in WITHOUT ROWID tables) opens
// with every session, alias, outbox item and history entry in order, every
// stored reply, and its keys still refusing redeliveries; new events go on
// from there. (Rebuilding the sessions table with foreign keys on would
// have deleted every child row through ON DELETE CASCADE.)
func TestSQLiteUpgradeFromFirstSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")

	ms, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].version != "0001_init" {
		t.Fatalf("first migration is %s", ms[0].version)
	}
	old, err := sql.Open("sqlite", "file:"+path+"?"+sqliteParams)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{
		`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		ms[0].sql,
		`INSERT INTO schema_migrations VALUES ('0001_init', 1)`,
		`INSERT INTO sessions (id, flow, revision, state, final, version, data, last_seq, created_at, updated_at)
			VALUES ('CA1', 'f', 'r', 'talking', 0, 3, '{"a":1}', 3, 1, 3)`,
		`INSERT INTO sessions (id, flow, revision, state, final, version, data, last_seq, created_at, updated_at)
			VALUES ('CA2', 'f', 'r', 'done', 1, 1, NULL, 1, 1, 1)`,
		// Written out of order: the upgrade must not lose or reorder them.
		`INSERT INTO history VALUES ('CA1', 3, 30, 'transition', '{"n":3}')`,
		`INSERT INTO history VALUES ('CA2', 1, 5, 'event', NULL)`,
		`INSERT INTO history VALUES ('CA1', 1, 10, 'event', '{"n":1}')`,
		`INSERT INTO history VALUES ('CA1', 2, 20, 'event', '{"n":2}')`,
		`INSERT INTO idempotency VALUES ('k2', 'CA1', '"second"', 20)`,
		`INSERT INTO aliases VALUES ('WT1', 'CA1')`,
		`INSERT INTO outbox (session, kind, payload, next_attempt, created_at) VALUES ('CA1', 'call.update', '{}', 1, 1)`,
		`INSERT INTO outbox (session, kind, payload, next_attempt, created_at) VALUES ('CA1', 'task.update', '{}', 1, 1)`,
		`INSERT INTO idempotency VALUES ('k1', 'CA1', '"first"', 10)`,
	}
	for _, q := range stmts {
		if _, err := old.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("open the old database: %v", err)
	}
	defer s.Close()

	hist := func(id string) string {
		t.Helper()
		es, err := s.History(ctx, id, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, e := range es {
			out += fmt.Sprintf("%d:%s:%d:%s ", e.Seq, e.Kind, e.At.UnixNano(), e.Data)
		}
		return out
	}
	if got, want := hist("CA1"), "1:event:10:{\"n\":1} 2:event:20:{\"n\":2} 3:transition:30:{\"n\":3} "; got != want {
		t.Errorf("CA1 history after the upgrade:\n got %s\nwant %s", got, want)
	}
	if got, want := hist("CA2"), "1:event:5: "; got != want {
		t.Errorf("CA2 history after the upgrade: got %q, want %q", got, want)
	}
	for key, want := range map[string]string{"k1": `"first"`, "k2": `"second"`} {
		if r, ok, err := s.Reply(ctx, key); err != nil || !ok || string(r) != want {
			t.Errorf("Reply(%s) = %s, %v, %v; want %s", key, r, ok, err, want)
		}
	}

	if id, err := s.Resolve(ctx, "WT1"); err != nil || id != "CA1" {
		t.Errorf("Resolve(WT1) = %q, %v; want CA1", id, err)
	}
	// Items pending across the upgrade join the engine's lanes, so an
	// item queued after it waits for the older one of its lane.
	items, err := s.Outbox(ctx, "CA1")
	if err != nil || len(items) != 2 || items[0].Kind != "call.update" || items[0].Lane != "voice" ||
		items[1].Kind != "task.update" || items[1].Lane != "taskrouter" {
		t.Errorf("Outbox(CA1) = %+v, %v; want call.update in lane voice, task.update in lane taskrouter", items, err)
	}
	if n, err := s.Live(ctx); err != nil || n != 1 {
		t.Errorf("Live = %d, %v; want 1 (CA2 is final)", n, err)
	}
	if got, err := s.Get(ctx, "CA2"); err != nil || !got.Final || got.State != "done" {
		t.Errorf("Get(CA2) = %+v, %v", got, err)
	}
	sess, err := s.Get(ctx, "CA1")
	if err != nil {
		t.Fatal(err)
	}
	if sess.Version != 3 || sess.State != "talking" || string(sess.Data) != `{"a":1}` {
		t.Errorf("Get(CA1) = %+v", sess)
	}
	redelivered := Commit{Session: sess, IdempotencyKey: "k1", Reply: []byte(`"again"`),
		History: []HistoryEntry{{Kind: "event"}}}
	if _, err := s.Commit(ctx, redelivered); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("commit with a key stored before the upgrade: %v, want ErrDuplicate", err)
	}
	next := Commit{Session: sess, IdempotencyKey: "k3", Reply: []byte(`"third"`),
		History: []HistoryEntry{{Kind: "event", Data: []byte(`{"n":4}`)}},
		Outbox:  []OutboxItem{{Kind: "participant.update", Lane: "voice"}}}
	if v, err := s.Commit(ctx, next); err != nil || v != 4 {
		t.Fatalf("next commit: version %d, %v", v, err)
	}
	claimed, err := s.ClaimOutbox(ctx, "w", time.Now(), time.Minute, 0)
	if err != nil || len(claimed) != 2 || claimed[0].Kind != "call.update" || claimed[1].Kind != "task.update" {
		t.Errorf("claim after the upgrade = %+v, %v; want the heads of both lanes, not the new participant.update", claimed, err)
	}
	es, err := s.History(ctx, "CA1", 3, 10)
	if err != nil || len(es) != 1 || es[0].Seq != 4 {
		t.Fatalf("history after the next commit = %+v, %v; want seq 4", es, err)
	}

	st := s.(*sqliteStore)
	// The writer's connection is back to its settings after the migrations.
	for pragma, want := range map[string]int{"foreign_keys": 1, "temp_store": 2} {
		var got int
		if err := st.w.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("writer PRAGMA %s = %d, %v; want %d", pragma, got, err, want)
		}
	}
	var check string
	if err := st.r.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	rows, err := st.r.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Fatal("foreign_key_check reports violations after the upgrade")
	}
}
