package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowd/flowd/engine/store"
)

// BenchmarkCommit measures one typical event: update a session and write 5
// history rows, 3 outbox rows, an alias and an idempotency key.
func BenchmarkCommit(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchCommit(b, store.NewMemory()) })
	b.Run("sqlite", func(b *testing.B) { benchCommit(b, openSQLite(b)) })
	b.Run("postgres", func(b *testing.B) {
		s, err := store.Open(b.Context(), postgresDSN(b))
		if err != nil {
			b.Fatal(err)
		}
		benchCommit(b, s)
	})
}

func benchCommit(b *testing.B, s store.Store) {
	defer s.Close()
	ctx := b.Context()
	data := []byte(`{"facts":{"caller":"+15551234567","lang":"en"},"vars":{"attempts":1},"roles":{"customer":"CA1"}}`)
	ss := store.Session{ID: "CA1", Flow: "support", Revision: "3f2a", State: "start", Data: data}
	v, err := s.Commit(ctx, store.Commit{Session: ss})
	if err != nil {
		b.Fatal(err)
	}
	ss.Version = v
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		v, err := s.Commit(ctx, typicalCommit(ss, "WT1", fmt.Sprint("ev-", i)))
		if err != nil {
			b.Fatal(err)
		}
		ss.Version = v
	}
}

// BenchmarkCommitConcurrent is BenchmarkCommit with 16 callers per core
// committing at once, each on its own session, as webhooks for many calls
// arrive at a server: ns/op is the cost per commit (wall time / commits),
// not one commit's latency.
func BenchmarkCommitConcurrent(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchCommitConcurrent(b, store.NewMemory()) })
	b.Run("sqlite", func(b *testing.B) { benchCommitConcurrent(b, openSQLite(b)) })
}

func benchCommitConcurrent(b *testing.B, s store.Store) {
	data := []byte(`{"facts":{"caller":"+15551234567","lang":"en"},"vars":{"attempts":1},"roles":{"customer":"CA1"}}`)
	commitInParallel(b, s, data, func(ss store.Session, g int64, i int) store.Commit {
		return typicalCommit(ss, fmt.Sprint("WT", g), fmt.Sprint("ev-", g, "-", i))
	})
}

// commitInParallel runs 16 committers per core, committer g on its own
// session (created with data), its i-th commit built by next; it closes s.
func commitInParallel(b *testing.B, s store.Store, data []byte, next func(ss store.Session, g int64, i int) store.Commit) {
	defer s.Close()
	ctx := b.Context()
	var committers atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		g := committers.Add(1)
		ss := store.Session{ID: fmt.Sprint("CA", g), Flow: "support", Revision: "3f2a", State: "start", Data: data}
		v, err := s.Commit(ctx, store.Commit{Session: ss})
		if err != nil {
			b.Fatal(err)
		}
		ss.Version = v
		for i := 0; pb.Next(); i++ {
			if ss.Version, err = s.Commit(ctx, next(ss, g, i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var (
	benchHistory = []byte(`{"event":"task.created","from":"queued","to":"ringing"}`)
	benchPayload = []byte(`{"call":"CA1","conference":"CF1","hold":true,"announceUrl":"https://example.com/a"}`)
)

// typicalCommit is one event's writes: the session, 5 history rows, 3
// outbox rows, an alias and an idempotency key.
func typicalCommit(ss store.Session, alias, key string) store.Commit {
	c := store.Commit{Session: ss, Aliases: []string{alias}, IdempotencyKey: key, Reply: []byte(`{"twiml":"<Response/>"}`)}
	for range 5 {
		c.History = append(c.History, store.HistoryEntry{Kind: "transition", Data: benchHistory})
	}
	for range 3 {
		c.Outbox = append(c.Outbox, store.OutboxItem{Kind: "participant.update", Payload: benchPayload})
	}
	return c
}

// BenchmarkCommitEventSized is BenchmarkCommitConcurrent with rows the size
// the engine writes for a call (a session's facts of 1.5 KB, one history
// entry of 800 bytes, an idempotency key with a 600-byte reply), and with
// parts left out to show what each costs: "session" updates the session
// alone, "+key" adds the idempotency key, "+history" the history entry.
func BenchmarkCommitEventSized(b *testing.B) {
	blob := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = 'a' + byte(i%26)
		}
		return p
	}
	data, entry, reply := blob(1500), blob(800), blob(600)
	for _, shape := range []string{"session", "+key", "+key+history"} {
		b.Run(shape, func(b *testing.B) {
			commitInParallel(b, openSQLite(b), data, func(ss store.Session, g int64, i int) store.Commit {
				c := store.Commit{Session: ss}
				if shape != "session" {
					c.IdempotencyKey, c.Reply = fmt.Sprint("ev-", g, "-", i), reply
				}
				if shape == "+key+history" {
					c.History = []store.HistoryEntry{{Kind: "transition", Data: entry}}
				}
				return c
			})
		})
	}
}

// BenchmarkPruneSQLite times one step of retention on SQLite: deleting 100
// finished calls, each with 20 history entries, 2 aliases and 3 settled
// outbox items (the engine's batch), which holds the writer for its
// duration.
func BenchmarkPruneSQLite(b *testing.B) {
	s := openSQLite(b)
	defer s.Close()
	ctx := b.Context()
	entry := make([]byte, 600)
	old := time.Now().Add(-48 * time.Hour)
	n := 0
	for b.Loop() {
		b.StopTimer()
		for range 100 {
			n++
			ss := store.Session{ID: fmt.Sprint("CA", n), Flow: "f", Revision: "r", State: "done", Final: true,
				Data: entry, CreatedAt: old, UpdatedAt: old}
			c := store.Commit{Session: ss, Aliases: []string{fmt.Sprint("WT", n), fmt.Sprint("CF", n)}}
			for range 20 {
				c.History = append(c.History, store.HistoryEntry{Kind: "event", Data: entry})
			}
			for range 3 {
				c.Outbox = append(c.Outbox, store.OutboxItem{Kind: "call.update", Payload: entry[:100]})
			}
			if _, err := s.Commit(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
		for { // settle every item: one per session per claim
			items, err := s.ClaimOutbox(ctx, "w", time.Now().Add(time.Hour), time.Minute, 0)
			if err != nil {
				b.Fatal(err)
			}
			if len(items) == 0 {
				break
			}
			for _, it := range items {
				if err := s.MarkSent(ctx, it.ID, "w", nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		// A live call with the newest outbox item (a session holding it
		// is kept).
		if _, err := s.Commit(ctx, store.Commit{Session: store.Session{ID: fmt.Sprint("live", n), Flow: "f", Revision: "r", State: "s"},
			Outbox: []store.OutboxItem{{Kind: "call.update", Payload: entry[:100]}}}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		p, err := s.Prune(ctx, store.Retention{FinishedBefore: time.Now().Add(-time.Hour), Limit: 100})
		if err != nil || p.Sessions != 100 {
			b.Fatalf("Prune = %+v, %v", p, err)
		}
	}
}
