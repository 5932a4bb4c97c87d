package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/store"
)

func TestParseRetention(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", 0, false},
		{"off", -1, false},
		{"OFF", -1, false},
		{"30d", 30 * 24 * time.Hour, false},
		{"1.5d", 36 * time.Hour, false},
		{"72h", 72 * time.Hour, false},
		{" 90m ", 90 * time.Minute, false},
		{"0", 0, true},
		{"0d", 0, true},
		{"-1h", 0, true},
		{"forever", 0, true},
		{"30 days", 0, true},
		{"NaNd", 0, true},
		{"1e-12d", 0, true},
		{"30s", 0, true},
		{"1m", time.Minute, false},
		{"36501d", 0, true},
	} {
		got, err := ParseRetention(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

// TestPruneOnce: with the retention settings, a round deletes the finished
// calls and keys past them (in batches: more than one store call's worth),
// counts them in the metrics' counters, and keeps the rest; "off" keeps
// everything of its kind.
func TestPruneOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	st := store.NewMemory()
	defer st.Close()
	commit := func(id string, final bool, at time.Time, key string) {
		t.Helper()
		ss := store.Session{ID: id, Flow: "f", Revision: "r", State: "s", Final: final, CreatedAt: at, UpdatedAt: at}
		if _, err := st.Commit(ctx, store.Commit{Session: ss, IdempotencyKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1200 { // more than one batch of 500
		commit(fmt.Sprint("old-", i), true, now.AddDate(0, 0, -40), "")
	}
	commit("recent", true, now.AddDate(0, 0, -3), "")
	commit("live", false, now.AddDate(0, 0, -40), "")
	commit("with-key", false, now, "k1")

	eng, err := engine.New(engine.Config{Store: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	off := Config{Retain: -1, RetainKeys: -1}
	if p := pruneOnce(ctx, eng, now, off, log); p != (store.Pruned{}) {
		t.Fatalf("retention off pruned %+v", p)
	}
	cfg := Config{Retain: 30 * 24 * time.Hour, RetainKeys: -1}
	if p := pruneOnce(ctx, eng, now, cfg, log); p.Sessions != 1200 || p.Keys != 0 {
		t.Fatalf("pruneOnce = %+v, want the 1200 old finished calls", p)
	}
	for _, id := range []string{"recent", "live", "with-key"} {
		if _, err := st.Get(ctx, id); err != nil {
			t.Errorf("%s: %v (must stay)", id, err)
		}
	}
	if _, found, _ := st.Reply(ctx, "k1"); !found {
		t.Error("key k1 pruned with key retention off")
	}
	// Keys: the key was written by the store at the real time.
	cfg = Config{Retain: -1, RetainKeys: time.Hour}
	if p := pruneOnce(ctx, eng, time.Now().Add(2*time.Hour), cfg, log); p.Keys != 1 || p.Sessions != 0 {
		t.Fatalf("pruneOnce(keys) = %+v, want 1 key", p)
	}
	if s := eng.Stats(); s.PrunedSessions.Load() != 1200 || s.PrunedKeys.Load() != 1 {
		t.Fatalf("counters: %d sessions, %d keys", s.PrunedSessions.Load(), s.PrunedKeys.Load())
	}
}
