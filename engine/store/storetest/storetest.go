// Package storetest is the conformance suite every store.Store
// implementation must pass, so the memory, SQLite and PostgreSQL stores stay
// interchangeable.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowd/flowd/engine/store"
)

// Run runs the suite. open must return a new, empty store for each subtest
// (and register any cleanup of its own, e.g. dropping a schema); Run closes
// the store when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateGetNotFound", testCreateGet},
		{"UpdateKeepsCreatedAt", testUpdate},
		{"CreateTwiceConflicts", testCreateTwice},
		{"WrongVersionWritesNothing", testWrongVersion},
		{"DuplicateKeyWritesNothing", testDuplicateKey},
		{"Reply", testReply},
		{"Aliases", testAliases},
		{"HistorySeq", testHistorySeq},
		{"HistoryAfterLimit", testHistoryAfterLimit},
		{"AppendHistoryUnknownSession", testAppendUnknown},
		{"Copies", testCopies},
		{"OutboxFields", testOutboxFields},
		{"OutboxOrderPerSession", testOutboxOrder},
		{"OutboxLanes", testOutboxLanes},
		{"OutboxEmptyLaneKeepsStrictOrder", testOutboxEmptyLane},
		{"OutboxClaimLimit", testClaimLimit},
		{"OutboxNextAttempt", testNextAttempt},
		{"OutboxLease", testLease},
		{"OutboxOwnerChecks", testOwnerChecks},
		{"OutboxRetry", testRetry},
		{"OutboxMarkFailedUnblocks", testMarkFailed},
		{"Counts", testCounts},
		{"LiveSessions", testLiveSessions},
		{"ConcurrentCommits", testConcurrentCommits},
		{"ConcurrentClaims", testConcurrentClaims},
		{"ConcurrentMixedOutcomes", testConcurrentMixed},
		{"PruneFinishedSessions", testPruneSessions},
		{"PruneKeys", testPruneKeys},
		{"PruneNeverReusesOutboxIDs", testPruneOutboxIDs},
		{"FlowRevisions", testFlowRevisions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// t0 is a fixed instant, microsecond-aligned because PostgreSQL keeps
// microseconds, and in the future so that items queued "now" are due by t0.
var t0 = time.Date(2099, 3, 1, 12, 0, 0, 0, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

// newSession returns a session to create (Version 0).
func newSession(id string) store.Session {
	return store.Session{ID: id, Flow: "support", Revision: "rev1", State: "start", Data: []byte(`{"n":0}`)}
}

// create commits a new session with the given extra content and fails the
// test on error.
func create(t *testing.T, s store.Store, c store.Commit) store.Session {
	t.Helper()
	if c.Session.ID == "" {
		t.Fatal("create: no session ID")
	}
	v, err := s.Commit(ctx(t), c)
	if err != nil {
		t.Fatalf("create %s: %v", c.Session.ID, err)
	}
	if v != 1 {
		t.Fatalf("create %s: version %d, want 1", c.Session.ID, v)
	}
	got, err := s.Get(ctx(t), c.Session.ID)
	if err != nil {
		t.Fatalf("get %s: %v", c.Session.ID, err)
	}
	return got
}

// withOutbox creates session id with one outbox item per kind.
func withOutbox(t *testing.T, s store.Store, id string, kinds ...string) {
	t.Helper()
	c := store.Commit{Session: newSession(id)}
	for _, k := range kinds {
		c.Outbox = append(c.Outbox, store.OutboxItem{Kind: k, Payload: []byte(`{"k":"` + k + `"}`)})
	}
	create(t, s, c)
}

func kinds(items []store.OutboxItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Kind
	}
	return out
}

func claim(t *testing.T, s store.Store, owner string, now time.Time, limit int) []store.OutboxItem {
	t.Helper()
	items, err := s.ClaimOutbox(ctx(t), owner, now, time.Minute, limit)
	if err != nil {
		t.Fatalf("ClaimOutbox(%s): %v", owner, err)
	}
	return items
}

func wantKinds(t *testing.T, what string, items []store.OutboxItem, want ...string) {
	t.Helper()
	if got := kinds(items); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s: kinds %q, want %q", what, got, want)
	}
}

func outbox(t *testing.T, s store.Store, session string) []store.OutboxItem {
	t.Helper()
	items, err := s.Outbox(ctx(t), session)
	if err != nil {
		t.Fatalf("Outbox(%s): %v", session, err)
	}
	return items
}

func history(t *testing.T, s store.Store, session string, after int64, limit int) []store.HistoryEntry {
	t.Helper()
	h, err := s.History(ctx(t), session, after, limit)
	if err != nil {
		t.Fatalf("History(%s): %v", session, err)
	}
	return h
}

func seqs(h []store.HistoryEntry) []int64 {
	out := make([]int64, len(h))
	for i, e := range h {
		out[i] = e.Seq
	}
	return out
}

func testCreateGet(t *testing.T, s store.Store) {
	if _, err := s.Get(ctx(t), "CA1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get unknown: %v, want ErrNotFound", err)
	}
	if _, err := s.Resolve(ctx(t), "CA1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Resolve unknown: %v, want ErrNotFound", err)
	}
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	before := time.Now().Add(-time.Second)
	in := newSession("CA1")
	in.Final = true
	got := create(t, s, store.Commit{Session: in})
	if got.ID != "CA1" || got.Flow != "support" || got.Revision != "rev1" || got.State != "start" ||
		!got.Final || got.Version != 1 || !bytes.Equal(got.Data, in.Data) {
		t.Fatalf("Get = %+v", got)
	}
	if got.CreatedAt.Before(before) || got.UpdatedAt.Before(before) {
		t.Fatalf("zero CreatedAt/UpdatedAt not defaulted to now: %v %v", got.CreatedAt, got.UpdatedAt)
	}
	if id, err := s.Resolve(ctx(t), "CA1"); err != nil || id != "CA1" {
		t.Fatalf("Resolve(session id) = %q, %v", id, err)
	}
	if _, err := s.Commit(ctx(t), store.Commit{}); err == nil {
		t.Fatal("Commit without session ID succeeded")
	}
	// An update of a session that does not exist: stored version is 0.
	ghost := newSession("CA9")
	ghost.Version = 3
	if _, err := s.Commit(ctx(t), store.Commit{Session: ghost}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update of unknown session: %v, want ErrConflict", err)
	}
	if _, err := s.Get(ctx(t), "CA9"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after failed update of unknown session: %v", err)
	}
}

func testUpdate(t *testing.T, s store.Store) {
	in := newSession("CA1")
	in.CreatedAt, in.UpdatedAt = t0, t0
	got := create(t, s, store.Commit{Session: in})
	if !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Fatalf("explicit times not kept: %v %v", got.CreatedAt, got.UpdatedAt)
	}
	got.State, got.Data, got.Revision = "queued", []byte(`{"n":1}`), "rev2"
	got.CreatedAt = t0.Add(time.Hour) // ignored: creation time is immutable
	got.UpdatedAt = t0.Add(time.Minute)
	v, err := s.Commit(ctx(t), store.Commit{Session: got})
	if err != nil || v != 2 {
		t.Fatalf("update: %d, %v", v, err)
	}
	got, err = s.Get(ctx(t), "CA1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "queued" || got.Revision != "rev2" || string(got.Data) != `{"n":1}` || got.Version != 2 {
		t.Fatalf("after update: %+v", got)
	}
	if !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("times after update: created %v updated %v", got.CreatedAt, got.UpdatedAt)
	}
	// No-op content still bumps the version.
	v, err = s.Commit(ctx(t), store.Commit{Session: got})
	if err != nil || v != 3 {
		t.Fatalf("second update: %d, %v", v, err)
	}
}

func testCreateTwice(t *testing.T, s store.Store) {
	create(t, s, store.Commit{Session: newSession("CA1")})
	again := newSession("CA1")
	again.State = "other"
	_, err := s.Commit(ctx(t), store.Commit{
		Session: again,
		Aliases: []string{"WT1"},
		History: []store.HistoryEntry{{Kind: "event"}},
		Outbox:  []store.OutboxItem{{Kind: "x"}},
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	got, _ := s.Get(ctx(t), "CA1")
	if got.State != "start" || got.Version != 1 {
		t.Fatalf("stored session changed: %+v", got)
	}
	if h := history(t, s, "CA1", 0, 0); len(h) != 0 {
		t.Fatalf("history written: %+v", h)
	}
	if o := outbox(t, s, "CA1"); len(o) != 0 {
		t.Fatalf("outbox written: %+v", o)
	}
	if _, err := s.Resolve(ctx(t), "WT1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alias written: %v", err)
	}
}

// assertUntouched checks that a failed commit of session id (stored at
// version v with nh history rows and no outbox) left nothing behind.
func assertUntouched(t *testing.T, s store.Store, id string, v int64, nh int, alias, key string) {
	t.Helper()
	got, err := s.Get(ctx(t), id)
	if err != nil || got.Version != v || got.State != "start" {
		t.Fatalf("session after failed commit: %+v, %v", got, err)
	}
	if h := history(t, s, id, 0, 0); len(h) != nh {
		t.Fatalf("history after failed commit: %d entries, want %d", len(h), nh)
	}
	if o := outbox(t, s, id); len(o) != 0 {
		t.Fatalf("outbox after failed commit: %+v", o)
	}
	if n, err := s.Pending(ctx(t)); err != nil || n != 0 {
		t.Fatalf("Pending after failed commit: %d, %v", n, err)
	}
	if _, err := s.Resolve(ctx(t), alias); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alias after failed commit: %v, want ErrNotFound", err)
	}
	if key != "" {
		if _, found, err := s.Reply(ctx(t), key); err != nil || found {
			t.Fatalf("key after failed commit: found=%v, %v", found, err)
		}
	}
}

func testWrongVersion(t *testing.T, s store.Store) {
	create(t, s, store.Commit{Session: newSession("CA1"), History: []store.HistoryEntry{{Kind: "event"}}})
	for _, v := range []int64{0, 2, 7} {
		ss := newSession("CA1")
		ss.Version, ss.State = v, "moved"
		_, err := s.Commit(ctx(t), store.Commit{
			Session:        ss,
			Aliases:        []string{"WT1"},
			History:        []store.HistoryEntry{{Kind: "event"}, {Kind: "transition"}},
			Outbox:         []store.OutboxItem{{Kind: "x"}},
			IdempotencyKey: fmt.Sprintf("k%d", v),
			Reply:          []byte(`"r"`),
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("version %d: %v, want ErrConflict", v, err)
		}
		assertUntouched(t, s, "CA1", 1, 1, "WT1", fmt.Sprintf("k%d", v))
	}
	// The session is still writable at the right version.
	ss := newSession("CA1")
	ss.Version = 1
	if v, err := s.Commit(ctx(t), store.Commit{Session: ss, History: []store.HistoryEntry{{Kind: "event"}}}); err != nil || v != 2 {
		t.Fatalf("commit at right version: %d, %v", v, err)
	}
	if got := seqs(history(t, s, "CA1", 0, 0)); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("seqs %v, want [1 2] (failed commits must not consume seqs)", got)
	}
}

func testDuplicateKey(t *testing.T, s store.Store) {
	create(t, s, store.Commit{
		Session:        newSession("CA1"),
		History:        []store.HistoryEntry{{Kind: "event"}},
		IdempotencyKey: "ev1",
		Reply:          []byte(`{"twiml":"<Response/>"}`),
	})
	// Redelivery of the same event: right version, same key.
	ss := newSession("CA1")
	ss.Version, ss.State = 1, "moved"
	_, err := s.Commit(ctx(t), store.Commit{
		Session:        ss,
		Aliases:        []string{"WT1"},
		History:        []store.HistoryEntry{{Kind: "event"}},
		Outbox:         []store.OutboxItem{{Kind: "x"}},
		IdempotencyKey: "ev1",
		Reply:          []byte(`"other"`),
	})
	if !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("reused key: %v, want ErrDuplicate", err)
	}
	assertUntouched(t, s, "CA1", 1, 1, "WT1", "")
	if r, found, err := s.Reply(ctx(t), "ev1"); err != nil || !found || string(r) != `{"twiml":"<Response/>"}` {
		t.Fatalf("Reply after duplicate = %q, %v, %v", r, found, err)
	}
	// A stale version with a used key reports the duplicate, not the conflict.
	ss.Version = 0
	if _, err := s.Commit(ctx(t), store.Commit{Session: ss, IdempotencyKey: "ev1"}); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("reused key, stale version: %v, want ErrDuplicate", err)
	}
	// Keys are global: a create of another session with a used key fails
	// and creates nothing.
	_, err = s.Commit(ctx(t), store.Commit{Session: newSession("CA2"), Aliases: []string{"WT2"}, IdempotencyKey: "ev1"})
	if !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("reused key on create: %v, want ErrDuplicate", err)
	}
	if _, err := s.Get(ctx(t), "CA2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session created despite duplicate key: %v", err)
	}
	if _, err := s.Resolve(ctx(t), "WT2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alias created despite duplicate key: %v", err)
	}
}

func testReply(t *testing.T, s store.Store) {
	if _, found, err := s.Reply(ctx(t), "nope"); err != nil || found {
		t.Fatalf("Reply(unknown) found=%v err=%v", found, err)
	}
	create(t, s, store.Commit{Session: newSession("CA1"), IdempotencyKey: "k1", Reply: []byte(`{"ok":true}`)})
	if r, found, err := s.Reply(ctx(t), "k1"); err != nil || !found || string(r) != `{"ok":true}` {
		t.Fatalf("Reply(k1) = %q, %v, %v", r, found, err)
	}
	// A key without a reply is still recorded.
	ss := newSession("CA1")
	ss.Version = 1
	if _, err := s.Commit(ctx(t), store.Commit{Session: ss, IdempotencyKey: "k2"}); err != nil {
		t.Fatal(err)
	}
	if r, found, err := s.Reply(ctx(t), "k2"); err != nil || !found || len(r) != 0 {
		t.Fatalf("Reply(k2) = %q, %v, %v", r, found, err)
	}
}

// A flow revision is saved once and read back whole; saving it again
// (every replica and every restart does) keeps the first copy.
func testFlowRevisions(t *testing.T, s store.Store) {
	if _, err := s.FlowRevision(ctx(t), "abc"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FlowRevision(unknown) err = %v, want ErrNotFound", err)
	}
	src := []byte("flow: support\nstates: {}\n")
	rev := store.FlowRevision{Revision: "rev1", Name: "support", File: "flows/support.yaml", Source: src}
	if err := s.SaveFlowRevision(ctx(t), rev); err != nil {
		t.Fatal(err)
	}
	src[0] = 'X' // the store keeps its own copy
	again := rev
	again.File, again.Source = "elsewhere/support.yaml", []byte("other")
	if err := s.SaveFlowRevision(ctx(t), again); err != nil {
		t.Fatalf("saving a stored revision again: %v", err)
	}
	got, err := s.FlowRevision(ctx(t), "rev1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != "rev1" || got.Name != "support" || got.File != "flows/support.yaml" ||
		string(got.Source) != "flow: support\nstates: {}\n" || got.CreatedAt.IsZero() {
		t.Fatalf("FlowRevision = %+v", got)
	}
	if err := s.SaveFlowRevision(ctx(t), store.FlowRevision{Revision: "rev2", Name: "support"}); err == nil {
		t.Error("a revision without source was saved")
	}
	if _, err := s.FlowRevision(ctx(t), "rev2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FlowRevision(rev2) err = %v, want ErrNotFound", err)
	}
}

func resolve(t *testing.T, s store.Store, alias string) string {
	t.Helper()
	id, err := s.Resolve(ctx(t), alias)
	if err != nil {
		t.Fatalf("Resolve(%s): %v", alias, err)
	}
	return id
}

func testAliases(t *testing.T, s store.Store) {
	create(t, s, store.Commit{Session: newSession("CA1"), Aliases: []string{"WT1", "CF1", "WT1"}})
	if resolve(t, s, "WT1") != "CA1" || resolve(t, s, "CF1") != "CA1" {
		t.Fatal("aliases do not resolve to CA1")
	}
	// Re-adding an alias the session has is a no-op.
	ss := newSession("CA1")
	ss.Version = 1
	if _, err := s.Commit(ctx(t), store.Commit{Session: ss, Aliases: []string{"WT1"}}); err != nil {
		t.Fatalf("re-add alias: %v", err)
	}
	// Another session claiming WT1 takes it over (last writer wins).
	create(t, s, store.Commit{Session: newSession("CA2"), Aliases: []string{"WT1", "CA3"}})
	if got := resolve(t, s, "WT1"); got != "CA2" {
		t.Fatalf("moved alias resolves to %s, want CA2", got)
	}
	if got := resolve(t, s, "CF1"); got != "CA1" {
		t.Fatalf("untouched alias resolves to %s, want CA1", got)
	}
	if resolve(t, s, "CA1") != "CA1" || resolve(t, s, "CA2") != "CA2" {
		t.Fatal("session IDs do not resolve to themselves")
	}
	// And back.
	ss.Version = 2
	if _, err := s.Commit(ctx(t), store.Commit{Session: ss, Aliases: []string{"WT1"}}); err != nil {
		t.Fatal(err)
	}
	if got := resolve(t, s, "WT1"); got != "CA1" {
		t.Fatalf("alias moved back resolves to %s, want CA1", got)
	}
	// An alias wins over a session of the same ID.
	create(t, s, store.Commit{Session: newSession("CA3")})
	if got := resolve(t, s, "CA3"); got != "CA2" {
		t.Fatalf("Resolve(CA3) = %s, want CA2 (alias before session ID)", got)
	}
}

func testHistorySeq(t *testing.T, s store.Store) {
	before := time.Now().Add(-time.Second)
	create(t, s, store.Commit{Session: newSession("CA1"), History: []store.HistoryEntry{
		{Kind: "event", Data: []byte(`{"e":1}`), At: t0},
		{Kind: "guard"},
		{Kind: "transition", Session: "ignored", Seq: 99},
	}})
	create(t, s, store.Commit{Session: newSession("CA2"), History: []store.HistoryEntry{{Kind: "event"}}})
	ss := newSession("CA1")
	ss.Version = 1
	if _, err := s.Commit(ctx(t), store.Commit{Session: ss, History: []store.HistoryEntry{{Kind: "action"}, {Kind: "reply"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(ctx(t), "CA1", store.HistoryEntry{Kind: "rest", At: t0.Add(time.Second)}, store.HistoryEntry{Kind: "rest2"}); err != nil {
		t.Fatalf("AppendHistory: %v", err)
	}
	if err := s.AppendHistory(ctx(t), "CA1"); err != nil {
		t.Fatalf("AppendHistory without entries: %v", err)
	}
	// AppendHistory is outside the state machine: no version bump.
	if got, _ := s.Get(ctx(t), "CA1"); got.Version != 2 {
		t.Fatalf("version after AppendHistory = %d, want 2", got.Version)
	}
	ss.Version = 2
	if _, err := s.Commit(ctx(t), store.Commit{Session: ss, History: []store.HistoryEntry{{Kind: "unhandled"}}}); err != nil {
		t.Fatal(err)
	}
	h := history(t, s, "CA1", 0, 0)
	if got := seqs(h); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("seqs %v", got)
	}
	wantKinds := []string{"event", "guard", "transition", "action", "reply", "rest", "rest2", "unhandled"}
	for i, e := range h {
		if e.Kind != wantKinds[i] || e.Session != "CA1" {
			t.Fatalf("entry %d = %+v, want kind %s session CA1", i, e, wantKinds[i])
		}
		if e.At.IsZero() || (e.At.Before(before) && !e.At.Equal(t0) && !e.At.Equal(t0.Add(time.Second))) {
			t.Fatalf("entry %d: At %v", i, e.At)
		}
	}
	if !h[0].At.Equal(t0) || string(h[0].Data) != `{"e":1}` || len(h[1].Data) != 0 || !h[5].At.Equal(t0.Add(time.Second)) {
		t.Fatalf("entry contents: %+v", h[:2])
	}
	if got := seqs(history(t, s, "CA2", 0, 0)); !slices.Equal(got, []int64{1}) {
		t.Fatalf("CA2 seqs %v: seqs are per session", got)
	}
}

func testHistoryAfterLimit(t *testing.T, s store.Store) {
	c := store.Commit{Session: newSession("CA1")}
	for range 10 {
		c.History = append(c.History, store.HistoryEntry{Kind: "event"})
	}
	create(t, s, c)
	for _, tc := range []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 0, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{0, -1, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{2, 3, []int64{3, 4, 5}},
		{8, 5, []int64{9, 10}},
		{7, 0, []int64{8, 9, 10}},
		{10, 0, nil},
		{50, 1, nil},
		{-5, 2, []int64{1, 2}},
	} {
		if got := seqs(history(t, s, "CA1", tc.after, tc.limit)); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("History(after %d, limit %d) seqs %v, want %v", tc.after, tc.limit, got, tc.want)
		}
	}
	if h := history(t, s, "nope", 0, 0); len(h) != 0 {
		t.Fatalf("History(unknown) = %+v", h)
	}
}

func testAppendUnknown(t *testing.T, s store.Store) {
	if err := s.AppendHistory(ctx(t), "nope", store.HistoryEntry{Kind: "rest"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AppendHistory(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.AppendHistory(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AppendHistory(unknown, no entries) = %v, want ErrNotFound", err)
	}
}

// testCopies: what callers do with their slices after the call must not
// change what is stored.
func testCopies(t *testing.T, s store.Store) {
	data := []byte(`{"n":0}`)
	hist := []byte(`{"h":0}`)
	payload := []byte(`{"p":0}`)
	reply := []byte(`{"r":0}`)
	ss := newSession("CA1")
	ss.Data = data
	create(t, s, store.Commit{Session: ss, History: []store.HistoryEntry{{Kind: "event", Data: hist}},
		Outbox: []store.OutboxItem{{Kind: "x", Payload: payload}}, IdempotencyKey: "k", Reply: reply})
	for _, b := range [][]byte{data, hist, payload, reply} {
		b[2] = 'X'
	}
	got, _ := s.Get(ctx(t), "CA1")
	got.Data[2] = 'Y'
	h := history(t, s, "CA1", 0, 0)
	h[0].Data[2] = 'Y'
	o := outbox(t, s, "CA1")
	o[0].Payload[2] = 'Y'
	r, _, _ := s.Reply(ctx(t), "k")
	r[2] = 'Y'

	got, _ = s.Get(ctx(t), "CA1")
	h = history(t, s, "CA1", 0, 0)
	o = outbox(t, s, "CA1")
	r, _, _ = s.Reply(ctx(t), "k")
	if string(got.Data) != `{"n":0}` || string(h[0].Data) != `{"h":0}` || string(o[0].Payload) != `{"p":0}` || string(r) != `{"r":0}` {
		t.Fatalf("stored data aliased caller memory: %s %s %s %s", got.Data, h[0].Data, o[0].Payload, r)
	}
}

func testOutboxFields(t *testing.T, s store.Store) {
	before := time.Now().Add(-time.Second)
	create(t, s, store.Commit{Session: newSession("CA1"), Outbox: []store.OutboxItem{
		{Kind: "participant.update", Payload: []byte(`{"hold":true}`),
			ID: 99, Session: "ignored", Status: store.OutboxSent, Attempts: 7, LeaseOwner: "x", LeaseUntil: t0.Add(time.Hour)},
		{Kind: "task.update", NextAttempt: t0, CreatedAt: t0},
	}})
	o := outbox(t, s, "CA1")
	if len(o) != 2 {
		t.Fatalf("outbox = %+v", o)
	}
	a, b := o[0], o[1]
	if a.ID <= 0 || b.ID <= a.ID {
		t.Fatalf("IDs %d, %d: want positive and increasing", a.ID, b.ID)
	}
	if a.Session != "CA1" || a.Kind != "participant.update" || string(a.Payload) != `{"hold":true}` ||
		a.Status != store.OutboxPending || a.Attempts != 0 || a.LeaseOwner != "" || !a.LeaseUntil.IsZero() ||
		a.LastError != "" || len(a.Result) != 0 {
		t.Fatalf("item = %+v", a)
	}
	if a.NextAttempt.Before(before) || a.CreatedAt.Before(before) {
		t.Fatalf("zero NextAttempt/CreatedAt not defaulted to now: %+v", a)
	}
	if !b.NextAttempt.Equal(t0) || !b.CreatedAt.Equal(t0) {
		t.Fatalf("explicit times not kept: %+v", b)
	}
	// IDs keep increasing across commits and sessions.
	create(t, s, store.Commit{Session: newSession("CA2"), Outbox: []store.OutboxItem{{Kind: "c"}}})
	if c := outbox(t, s, "CA2"); len(c) != 1 || c[0].ID <= b.ID {
		t.Fatalf("next commit's item %+v, want ID > %d", c, b.ID)
	}
	if o := outbox(t, s, "nope"); len(o) != 0 {
		t.Fatalf("Outbox(unknown) = %+v", o)
	}
}

func testOutboxOrder(t *testing.T, s store.Store) {
	withOutbox(t, s, "A", "a1", "a2", "a3")
	withOutbox(t, s, "B", "b1")
	now := time.Now()
	got := claim(t, s, "w1", now, 10)
	wantKinds(t, "first claim", got, "a1", "b1")
	for _, it := range got {
		if it.LeaseOwner != "w1" || !it.LeaseUntil.Equal(now.Add(time.Minute).Truncate(time.Microsecond)) &&
			!it.LeaseUntil.Equal(now.Add(time.Minute).UTC()) {
			t.Fatalf("claimed item lease = %q until %v, want w1 until %v", it.LeaseOwner, it.LeaseUntil, now.Add(time.Minute))
		}
		if it.Status != store.OutboxPending || it.Payload == nil {
			t.Fatalf("claimed item = %+v", it)
		}
	}
	wantKinds(t, "claim while heads leased", claim(t, s, "w2", now, 10))
	if err := s.MarkSent(ctx(t), got[0].ID, "w1", []byte(`{"sid":"CA1"}`)); err != nil {
		t.Fatalf("MarkSent: %v", err)
	}
	next := claim(t, s, "w2", now, 10)
	wantKinds(t, "claim after a1 sent", next, "a2")
	// b1 still leased; a3 waits for a2.
	if err := s.MarkSent(ctx(t), next[0].ID, "w2", nil); err != nil {
		t.Fatal(err)
	}
	wantKinds(t, "claim after a2 sent", claim(t, s, "w2", now, 10), "a3")

	o := outbox(t, s, "A")
	wantKinds(t, "Outbox(A)", o, "a1", "a2", "a3")
	if o[0].Status != store.OutboxSent || string(o[0].Result) != `{"sid":"CA1"}` || o[0].LeaseOwner != "" || !o[0].LeaseUntil.IsZero() {
		t.Fatalf("sent item = %+v", o[0])
	}
	if o[2].Status != store.OutboxPending || o[2].LeaseOwner != "w2" {
		t.Fatalf("claimed item = %+v", o[2])
	}
}

// testOutboxLanes: a session's lanes are independent queues; each is sent
// strictly in order, and the lane is stored and read back.
func testOutboxLanes(t *testing.T, s store.Store) {
	item := func(kind, lane string) store.OutboxItem {
		return store.OutboxItem{Kind: kind, Lane: lane, Payload: []byte(`{}`)}
	}
	create(t, s, store.Commit{Session: newSession("A"), Outbox: []store.OutboxItem{
		item("tr1", "taskrouter"), item("v1", "voice"), item("tr2", "taskrouter"), item("v2", "voice"), item("o1", "other"),
	}})
	now := time.Now()
	heads := claim(t, s, "w", now, 10)
	wantKinds(t, "first claim: the head of each lane", heads, "tr1", "v1", "o1")
	if heads[0].Lane != "taskrouter" || heads[1].Lane != "voice" || heads[2].Lane != "other" {
		t.Fatalf("lanes read back: %+v", heads)
	}
	// tr1 keeps failing: its lane waits, the voice lane goes on.
	if err := s.Retry(ctx(t), heads[0].ID, "w", now.Add(time.Hour), "503"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent(ctx(t), heads[1].ID, "w", nil); err != nil {
		t.Fatal(err)
	}
	v2 := claim(t, s, "w", now, 10)
	wantKinds(t, "claim with tr1 retrying later", v2, "v2")
	for _, id := range []int64{v2[0].ID, heads[2].ID} {
		if err := s.MarkSent(ctx(t), id, "w", nil); err != nil {
			t.Fatal(err)
		}
	}
	// A later item of a lane still waits for its lane's head.
	wantKinds(t, "claim when tr1 is due", claim(t, s, "w", now.Add(time.Hour), 10), "tr1")
	if o := outbox(t, s, "A"); o[3].Lane != "voice" || o[4].Lane != "other" {
		t.Fatalf("Outbox(A) lanes: %+v", o)
	}
}

// testOutboxEmptyLane: items of the empty lane, which a flowd from before
// lanes writes during a rolling upgrade, keep that version's strict order
// with every item of their session: an old replica's hold waiting for its
// retry is not overtaken by a new replica's unhold.
func testOutboxEmptyLane(t *testing.T, s store.Store) {
	item := func(kind, lane string) store.OutboxItem {
		return store.OutboxItem{Kind: kind, Lane: lane, Payload: []byte(`{}`)}
	}
	create(t, s, store.Commit{Session: newSession("A"), Outbox: []store.OutboxItem{
		item("hold", ""), item("unhold", "voice"), item("complete", "taskrouter"),
	}})
	create(t, s, store.Commit{Session: newSession("B"), Outbox: []store.OutboxItem{
		item("b-voice", "voice"), item("b-old", ""), item("b-task", "taskrouter"),
	}})
	now := time.Now()
	first := claim(t, s, "w", now, 10)
	wantKinds(t, "first claim: only each session's oldest", first, "hold", "b-voice")
	for _, it := range first {
		if err := s.MarkSent(ctx(t), it.ID, "w", nil); err != nil {
			t.Fatal(err)
		}
	}
	second := claim(t, s, "w", now, 10)
	wantKinds(t, "after those are sent", second, "unhold", "complete", "b-old")
	if err := s.MarkSent(ctx(t), second[2].ID, "w", nil); err != nil {
		t.Fatal(err)
	}
	wantKinds(t, "after b-old is sent", claim(t, s, "w", now, 10), "b-task")
}

func testClaimLimit(t *testing.T, s store.Store) {
	for _, id := range []string{"S1", "S2", "S3", "S4"} {
		withOutbox(t, s, id, id+"-1", id+"-2")
	}
	now := time.Now()
	wantKinds(t, "limit 3", claim(t, s, "w", now, 3), "S1-1", "S2-1", "S3-1")
	wantKinds(t, "limit 3 again", claim(t, s, "w", now, 3), "S4-1")
	wantKinds(t, "nothing left", claim(t, s, "w", now, 0))
	if _, err := s.ClaimOutbox(ctx(t), "", now, time.Minute, 1); err == nil {
		t.Fatal("ClaimOutbox with empty owner succeeded")
	}
}

func testNextAttempt(t *testing.T, s store.Store) {
	create(t, s, store.Commit{Session: newSession("A"), Outbox: []store.OutboxItem{
		{Kind: "later", NextAttempt: t0.Add(time.Hour)},
		{Kind: "after"},
	}})
	wantKinds(t, "before NextAttempt", claim(t, s, "w", t0, 10))
	wantKinds(t, "just before NextAttempt", claim(t, s, "w", t0.Add(time.Hour-time.Millisecond), 10))
	wantKinds(t, "at NextAttempt", claim(t, s, "w", t0.Add(time.Hour), 10), "later")
}

func testLease(t *testing.T, s store.Store) {
	withOutbox(t, s, "A", "a1", "a2")
	got, err := s.ClaimOutbox(ctx(t), "w1", t0, 30*time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantKinds(t, "w1 claims", got, "a1")
	if got[0].Claims != 1 {
		t.Fatalf("Claims = %d on the first lease, want 1", got[0].Claims)
	}
	if !got[0].LeaseUntil.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("LeaseUntil = %v, want %v", got[0].LeaseUntil, t0.Add(30*time.Second))
	}
	id := got[0].ID
	again, err := s.ClaimOutbox(ctx(t), "w2", t0.Add(29*time.Second), 30*time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantKinds(t, "w2 before lease expiry", again)
	// w1 crashed: once its lease is over, w2 takes the item (and still
	// not a2).
	again, err = s.ClaimOutbox(ctx(t), "w2", t0.Add(30*time.Second), 30*time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantKinds(t, "w2 after lease expiry", again, "a1")
	if again[0].ID != id || again[0].LeaseOwner != "w2" || !again[0].LeaseUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("reclaimed item = %+v", again[0])
	}
	// The lease w1 lost is counted: a sender can tell its request may have
	// gone out before.
	if again[0].Claims != 2 || again[0].Attempts != 0 {
		t.Fatalf("reclaimed item: Claims %d, Attempts %d; want 2, 0", again[0].Claims, again[0].Attempts)
	}
	if items, err := s.Outbox(ctx(t), "A"); err != nil || items[0].Claims != 2 {
		t.Fatalf("Outbox lists Claims %v (err %v), want 2", items, err)
	}
	if err := s.MarkSent(ctx(t), id, "w1", nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("MarkSent by old owner = %v, want ErrConflict", err)
	}
	if err := s.MarkSent(ctx(t), id, "w2", []byte(`{}`)); err != nil {
		t.Fatalf("MarkSent by owner: %v", err)
	}
	if err := s.MarkSent(ctx(t), id, "w2", nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("MarkSent twice = %v, want ErrConflict", err)
	}
	// An owner whose lease ran out but was not taken over still holds it.
	next := claim(t, s, "w1", t0.Add(time.Hour), 10)
	wantKinds(t, "a2", next, "a2")
	if err := s.MarkSent(ctx(t), next[0].ID, "w1", nil); err != nil {
		t.Fatalf("MarkSent after unclaimed lease expiry: %v", err)
	}
}

func testOwnerChecks(t *testing.T, s store.Store) {
	withOutbox(t, s, "A", "a1")
	withOutbox(t, s, "B", "b1")
	items := claim(t, s, "w1", time.Now(), 10)
	wantKinds(t, "claim", items, "a1", "b1")
	id := items[0].ID
	for name, err := range map[string]error{
		"MarkSent":   s.MarkSent(ctx(t), id, "w2", nil),
		"Retry":      s.Retry(ctx(t), id, "w2", t0, "x"),
		"MarkFailed": s.MarkFailed(ctx(t), id, "w2", "x", nil),
		"empty":      s.MarkSent(ctx(t), id, "", nil),
	} {
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s by non-owner = %v, want ErrConflict", name, err)
		}
	}
	for name, err := range map[string]error{
		"MarkSent":   s.MarkSent(ctx(t), 1<<40, "w1", nil),
		"Retry":      s.Retry(ctx(t), 1<<40, "w1", t0, "x"),
		"MarkFailed": s.MarkFailed(ctx(t), 1<<40, "w1", "x", nil),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of unknown id = %v, want ErrNotFound", name, err)
		}
	}
	// A never-claimed item has no owner to match.
	withOutbox(t, s, "C", "c1")
	c1 := outbox(t, s, "C")[0]
	if err := s.MarkSent(ctx(t), c1.ID, "", nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("MarkSent of unclaimed item with empty owner = %v, want ErrConflict", err)
	}
	if o := outbox(t, s, "A"); o[0].Status != store.OutboxPending || o[0].LeaseOwner != "w1" {
		t.Fatalf("item changed by rejected calls: %+v", o[0])
	}
}

func testRetry(t *testing.T, s store.Store) {
	withOutbox(t, s, "A", "a1", "a2")
	items := claim(t, s, "w1", t0, 10)
	wantKinds(t, "claim", items, "a1")
	if err := s.Retry(ctx(t), items[0].ID, "w1", t0.Add(time.Minute), "503 busy"); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	o := outbox(t, s, "A")[0]
	if o.Status != store.OutboxPending || o.Attempts != 1 || o.LastError != "503 busy" || o.LeaseOwner != "" ||
		!o.LeaseUntil.IsZero() || !o.NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after Retry: %+v", o)
	}
	// Not claimable before NextAttempt, and a2 stays blocked behind it.
	wantKinds(t, "before NextAttempt", claim(t, s, "w2", t0.Add(59*time.Second), 10))
	items = claim(t, s, "w2", t0.Add(time.Minute), 10)
	wantKinds(t, "at NextAttempt", items, "a1")
	if err := s.Retry(ctx(t), items[0].ID, "w2", t0.Add(2*time.Minute), "timeout"); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx(t), items[0].ID, "w2", t0.Add(2*time.Minute), "again"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Retry after releasing the lease = %v, want ErrConflict", err)
	}
	items = claim(t, s, "w3", t0.Add(2*time.Minute), 10)
	wantKinds(t, "second retry", items, "a1")
	if items[0].Attempts != 2 || items[0].LastError != "timeout" {
		t.Fatalf("after two retries: %+v", items[0])
	}
}

func testMarkFailed(t *testing.T, s store.Store) {
	withOutbox(t, s, "A", "a1", "a2")
	items := claim(t, s, "w1", t0, 10)
	wantKinds(t, "claim", items, "a1")
	if err := s.MarkFailed(ctx(t), items[0].ID, "w1", "404 not found", []byte(`{"status":404}`)); err != nil {
		t.Fatalf("MarkFailed: %v", err)
	}
	o := outbox(t, s, "A")[0]
	if o.Status != store.OutboxFailed || o.LastError != "404 not found" || string(o.Result) != `{"status":404}` || o.LeaseOwner != "" {
		t.Fatalf("failed item: %+v", o)
	}
	wantKinds(t, "after failure", claim(t, s, "w1", t0, 10), "a2")
	if err := s.MarkFailed(ctx(t), items[0].ID, "w1", "x", nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("MarkFailed twice = %v, want ErrConflict", err)
	}
}

func count(t *testing.T, what string, f func(context.Context) (int, error), want int) {
	t.Helper()
	n, err := f(ctx(t))
	if err != nil || n != want {
		t.Fatalf("%s = %d, %v; want %d", what, n, err, want)
	}
}

// testLiveSessions: live sessions only, in ID order, filtered by flow and
// state, page by page after the last ID, with what was committed last.
func testLiveSessions(t *testing.T, s store.Store) {
	ids := func(f store.LiveFilter) []string {
		t.Helper()
		got, err := s.LiveSessions(ctx(t), f)
		if err != nil {
			t.Fatalf("LiveSessions(%+v): %v", f, err)
		}
		out := []string{}
		for _, ss := range got {
			if ss.Final {
				t.Errorf("LiveSessions(%+v) returned final session %s", f, ss.ID)
			}
			out = append(out, ss.ID)
		}
		return out
	}
	want := func(f store.LiveFilter, w ...string) {
		t.Helper()
		if w == nil {
			w = []string{}
		}
		if got := ids(f); !slices.Equal(got, w) {
			t.Errorf("LiveSessions(%+v) = %v, want %v", f, got, w)
		}
	}
	want(store.LiveFilter{})
	for _, id := range []string{"CA3", "CA1", "CA2", "CA5"} {
		ss := newSession(id)
		if id == "CA2" {
			ss.Flow, ss.State = "sales", "queued"
		}
		create(t, s, store.Commit{Session: ss})
	}
	ended := newSession("CA4")
	ended.Final = true
	create(t, s, store.Commit{Session: ended})

	want(store.LiveFilter{}, "CA1", "CA2", "CA3", "CA5")
	want(store.LiveFilter{Limit: 2}, "CA1", "CA2")
	want(store.LiveFilter{After: "CA2", Limit: 2}, "CA3", "CA5")
	want(store.LiveFilter{After: "CA5"})
	want(store.LiveFilter{Flow: "sales"}, "CA2")
	want(store.LiveFilter{State: "start"}, "CA1", "CA3", "CA5")
	want(store.LiveFilter{Flow: "support", State: "queued"})

	// A session that moves on is listed as it is now; one that ends is not
	// listed any more.
	a, _ := s.Get(ctx(t), "CA1")
	a.State, a.Data = "talking", []byte(`{"n":1}`)
	if _, err := s.Commit(ctx(t), store.Commit{Session: a}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LiveSessions(ctx(t), store.LiveFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].State != "talking" || string(got[0].Data) != `{"n":1}` || got[0].Version != 2 || got[0].Flow != "support" {
		t.Errorf("LiveSessions after an update = %+v, want CA1 in talking, version 2, data {\"n\":1}", got)
	}
	c, _ := s.Get(ctx(t), "CA3")
	c.Final = true
	if _, err := s.Commit(ctx(t), store.Commit{Session: c}); err != nil {
		t.Fatal(err)
	}
	want(store.LiveFilter{}, "CA1", "CA2", "CA5")
}

func testCounts(t *testing.T, s store.Store) {
	count(t, "Live", s.Live, 0)
	count(t, "Pending", s.Pending, 0)
	withOutbox(t, s, "A", "a1", "a2")
	withOutbox(t, s, "B", "b1")
	ended := newSession("C")
	ended.Final = true
	create(t, s, store.Commit{Session: ended})
	count(t, "Live", s.Live, 2)
	count(t, "Pending", s.Pending, 3)

	items := claim(t, s, "w", t0.Add(time.Hour), 10)
	wantKinds(t, "claim", items, "a1", "b1")
	count(t, "Pending while leased", s.Pending, 3)
	if err := s.MarkSent(ctx(t), items[0].ID, "w", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx(t), items[1].ID, "w", "x", nil); err != nil {
		t.Fatal(err)
	}
	count(t, "Pending", s.Pending, 1)

	// A commit that keeps the call live, then the one that ends it, then
	// one after the end: each counts by what it wrote.
	a, _ := s.Get(ctx(t), "A")
	a.State = "talking"
	if _, err := s.Commit(ctx(t), store.Commit{Session: a}); err != nil {
		t.Fatal(err)
	}
	count(t, "Live", s.Live, 2)
	a, _ = s.Get(ctx(t), "A")
	a.Final = true
	if _, err := s.Commit(ctx(t), store.Commit{Session: a}); err != nil {
		t.Fatal(err)
	}
	count(t, "Live", s.Live, 1)
	a, _ = s.Get(ctx(t), "A")
	if !a.Final {
		t.Fatal("Final not stored")
	}
	a.State = "late callback"
	if _, err := s.Commit(ctx(t), store.Commit{Session: a}); err != nil {
		t.Fatal(err)
	}
	count(t, "Live", s.Live, 1)
	a, _ = s.Get(ctx(t), "A")
	a.Final = false // the store keeps what it is given
	if _, err := s.Commit(ctx(t), store.Commit{Session: a}); err != nil {
		t.Fatal(err)
	}
	count(t, "Live", s.Live, 2)
}

// testConcurrentCommits: read-modify-write loops on one session; optimistic
// concurrency must serialize them without losing an increment.
func testConcurrentCommits(t *testing.T, s store.Store) {
	const n = 16
	create(t, s, store.Commit{Session: newSession("CA1"), History: []store.HistoryEntry{{Kind: "create"}}})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			for attempt := 0; ; attempt++ {
				if attempt > 10000 {
					errs <- fmt.Errorf("worker %d: too many conflicts", i)
					return
				}
				ss, err := s.Get(context.Background(), "CA1")
				if err != nil {
					errs <- err
					return
				}
				var d struct{ N int }
				if err := json.Unmarshal(ss.Data, &d); err != nil {
					errs <- err
					return
				}
				d.N++
				ss.Data, _ = json.Marshal(d)
				_, err = s.Commit(context.Background(), store.Commit{
					Session:        ss,
					History:        []store.HistoryEntry{{Kind: "inc"}},
					Outbox:         []store.OutboxItem{{Kind: fmt.Sprint(i)}},
					Aliases:        []string{fmt.Sprintf("alias-%d", i)},
					IdempotencyKey: fmt.Sprintf("ev-%d", i),
				})
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				if err != nil {
					errs <- err
				}
				return
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.Get(ctx(t), "CA1")
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ N int }
	if err := json.Unmarshal(got.Data, &d); err != nil {
		t.Fatal(err)
	}
	if got.Version != n+1 || d.N != n {
		t.Fatalf("version %d, counter %d; want %d, %d", got.Version, d.N, n+1, n)
	}
	h := history(t, s, "CA1", 0, 0)
	if len(h) != n+1 {
		t.Fatalf("%d history entries, want %d", len(h), n+1)
	}
	for i, e := range h {
		if e.Seq != int64(i+1) {
			t.Fatalf("history seqs not contiguous: %v", seqs(h))
		}
	}
	if o := outbox(t, s, "CA1"); len(o) != n {
		t.Fatalf("%d outbox items, want %d", len(o), n)
	}
	for i := range n {
		if resolve(t, s, fmt.Sprintf("alias-%d", i)) != "CA1" {
			t.Fatal("alias lost")
		}
	}
}

// testConcurrentClaims: several dispatchers drain the outbox at once. No
// item may be leased to two owners, every item is sent once, and each
// session's items are sent in ID order.
func testConcurrentClaims(t *testing.T, s store.Store) {
	const (
		sessions = 12
		perSess  = 5
		owners   = 4
	)
	for i := range sessions {
		kinds := make([]string, perSess)
		for j := range kinds {
			kinds[j] = fmt.Sprintf("%d-%d", i, j)
		}
		withOutbox(t, s, fmt.Sprintf("S%02d", i), kinds...)
	}
	var (
		mu      sync.Mutex
		claimed = map[int64]string{}   // item -> owner
		sent    = map[string][]int64{} // session -> item IDs in send order
		wg      sync.WaitGroup
		errs    = make(chan error, owners)
	)
	now := time.Now()
	for w := range owners {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			idle := 0
			for idle < 50 {
				items, err := s.ClaimOutbox(context.Background(), owner, now, time.Hour, 3)
				if err != nil {
					errs <- err
					return
				}
				if len(items) == 0 {
					idle++
					time.Sleep(time.Millisecond)
					continue
				}
				idle = 0
				for _, it := range items {
					mu.Lock()
					if prev, dup := claimed[it.ID]; dup {
						mu.Unlock()
						errs <- fmt.Errorf("item %d leased to %s and %s", it.ID, prev, owner)
						return
					}
					claimed[it.ID] = owner
					sent[it.Session] = append(sent[it.Session], it.ID)
					mu.Unlock()
					if err := s.MarkSent(context.Background(), it.ID, owner, nil); err != nil {
						errs <- fmt.Errorf("MarkSent %d by %s: %w", it.ID, owner, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claimed) != sessions*perSess {
		t.Fatalf("%d items claimed, want %d", len(claimed), sessions*perSess)
	}
	for sess, ids := range sent {
		if !slices.IsSorted(ids) || len(ids) != perSess {
			t.Fatalf("session %s sent %v, want %d IDs in increasing order", sess, ids, perSess)
		}
	}
	count(t, "Pending", s.Pending, 0)
}

// testConcurrentMixed: many events for different calls arrive at once and
// some of them must fail (a redelivered webhook, a stale version). Every
// failure writes nothing and every other event is saved whole: a store that
// writes concurrent commits together must not let one failure undo or leak
// into the others.
func testConcurrentMixed(t *testing.T, s store.Store) {
	const n = 48
	for i := range n {
		create(t, s, store.Commit{Session: newSession(fmt.Sprintf("S%02d", i)), IdempotencyKey: fmt.Sprintf("first-%d", i)})
	}
	outcome := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ss := newSession(fmt.Sprintf("S%02d", i))
			ss.Version, ss.State = 1, "next"
			key := fmt.Sprintf("second-%d", i)
			switch i % 3 {
			case 1:
				key = fmt.Sprintf("first-%d", i) // redelivered
			case 2:
				ss.Version = 7 // stale
			}
			_, outcome[i] = s.Commit(context.Background(), store.Commit{
				Session:        ss,
				Aliases:        []string{fmt.Sprintf("WT%02d", i)},
				History:        []store.HistoryEntry{{Kind: "event"}},
				Outbox:         []store.OutboxItem{{Kind: "op"}},
				IdempotencyKey: key,
				Reply:          []byte(`"second"`),
			})
		})
	}
	wg.Wait()
	for i := range n {
		id := fmt.Sprintf("S%02d", i)
		got, err := s.Get(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		_, aliasErr := s.Resolve(ctx(t), fmt.Sprintf("WT%02d", i))
		h, o := history(t, s, id, 0, 0), outbox(t, s, id)
		switch i % 3 {
		case 0:
			if outcome[i] != nil || got.Version != 2 || got.State != "next" || aliasErr != nil || len(h) != 1 || len(o) != 1 {
				t.Fatalf("%s: commit %v; version %d state %q alias %v, %d history, %d outbox; want it saved whole", id, outcome[i], got.Version, got.State, aliasErr, len(h), len(o))
			}
		default:
			want := store.ErrDuplicate
			if i%3 == 2 {
				want = store.ErrConflict
			}
			if !errors.Is(outcome[i], want) {
				t.Fatalf("%s: commit %v, want %v", id, outcome[i], want)
			}
			if got.Version != 1 || aliasErr == nil || len(h) != 0 || len(o) != 0 {
				t.Fatalf("%s: failed commit left version %d alias %v, %d history, %d outbox; want nothing written", id, got.Version, aliasErr, len(h), len(o))
			}
			if i%3 == 2 {
				if r, found, _ := s.Reply(ctx(t), fmt.Sprintf("second-%d", i)); found {
					t.Fatalf("%s: failed commit recorded its idempotency key (reply %s)", id, r)
				}
			}
		}
	}
}

// finished creates a session in a final state last updated at when, with
// an alias, two history entries and the given outbox items.
func finished(t *testing.T, s store.Store, id string, final bool, when time.Time, outboxKinds ...string) {
	t.Helper()
	ss := newSession(id)
	ss.Final, ss.CreatedAt, ss.UpdatedAt = final, when, when
	c := store.Commit{Session: ss, Aliases: []string{"WT-" + id},
		History: []store.HistoryEntry{{Kind: "event", At: when}, {Kind: "transition", At: when}}}
	for _, k := range outboxKinds {
		c.Outbox = append(c.Outbox, store.OutboxItem{Kind: k, Payload: []byte(`{}`)})
	}
	create(t, s, c)
}

func prune(t *testing.T, s store.Store, r store.Retention) store.Pruned {
	t.Helper()
	p, err := s.Prune(ctx(t), r)
	if err != nil {
		t.Fatalf("Prune(%+v): %v", r, err)
	}
	return p
}

// testPruneSessions: a finished session older than the cut-off goes with
// its aliases, history and outbox items; a live one, a recent one and one
// whose REST call is still pending stay; Limit bounds each call.
func testPruneSessions(t *testing.T, s store.Store) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	old, cut := now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	finished(t, s, "old-done", true, old, "sent-item")
	items := claim(t, s, "w1", t0, 10)
	wantKinds(t, "claim", items, "sent-item")
	if err := s.MarkSent(ctx(t), items[0].ID, "w1", nil); err != nil {
		t.Fatal(err)
	}
	finished(t, s, "old-pending", true, old, "pending-item")
	finished(t, s, "old-live", false, old)
	finished(t, s, "new-done", true, now)

	if p := prune(t, s, store.Retention{}); p != (store.Pruned{}) {
		t.Fatalf("Prune with no cut-offs deleted %+v", p)
	}
	if p := prune(t, s, store.Retention{FinishedBefore: cut}); p.Sessions != 1 || p.Keys != 0 {
		t.Fatalf("Prune = %+v, want 1 session", p)
	}
	if _, err := s.Get(ctx(t), "old-done"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(old-done) after prune: %v, want ErrNotFound", err)
	}
	if _, err := s.Resolve(ctx(t), "WT-old-done"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Resolve(its alias) after prune: %v, want ErrNotFound", err)
	}
	if h := history(t, s, "old-done", 0, 0); len(h) != 0 {
		t.Fatalf("history after prune: %d entries", len(h))
	}
	if o := outbox(t, s, "old-done"); len(o) != 0 {
		t.Fatalf("outbox after prune: %d items", len(o))
	}
	for _, id := range []string{"old-pending", "old-live", "new-done"} {
		if _, err := s.Get(ctx(t), id); err != nil {
			t.Fatalf("Get(%s): %v (must stay)", id, err)
		}
		if got := resolve(t, s, "WT-"+id); got != id {
			t.Fatalf("Resolve(WT-%s) = %s", id, got)
		}
		if h := history(t, s, id, 0, 0); len(h) != 2 {
			t.Fatalf("history of %s: %d entries, want 2", id, len(h))
		}
	}
	count(t, "Pending", s.Pending, 1)

	// Once its REST call is settled, the pending one goes too.
	items = claim(t, s, "w1", t0, 10)
	wantKinds(t, "claim", items, "pending-item")
	if err := s.MarkFailed(ctx(t), items[0].ID, "w1", "gave up", nil); err != nil {
		t.Fatal(err)
	}
	// (A store may keep the session holding the newest outbox item until a
	// newer one exists: testPruneOutboxIDs.)
	withOutbox(t, s, "later", "l1")
	if p := prune(t, s, store.Retention{FinishedBefore: cut}); p.Sessions != 1 {
		t.Fatalf("Prune after settling = %+v, want 1 session", p)
	}

	for i := range 3 {
		finished(t, s, fmt.Sprint("batch-", i), true, old)
	}
	for _, want := range []int{2, 1, 0} {
		if p := prune(t, s, store.Retention{FinishedBefore: cut, Limit: 2}); p.Sessions != want {
			t.Fatalf("Prune(limit 2) = %+v, want %d sessions", p, want)
		}
	}
	count(t, "Live", s.Live, 2) // old-live and later
	if _, err := s.Get(ctx(t), "new-done"); err != nil {
		t.Fatalf("Get(new-done): %v", err)
	}
}

// testPruneKeys: keys written before the cut-off go (at most Limit per
// call), later ones stay, and a pruned key no longer refuses a commit.
func testPruneKeys(t *testing.T, s store.Store) {
	before := time.Now().Add(-time.Hour)
	ss := create(t, s, store.Commit{Session: newSession("CA1"), IdempotencyKey: "k0", Reply: []byte(`"r0"`)})
	for i := 1; i < 3; i++ {
		v, err := s.Commit(ctx(t), store.Commit{Session: ss, IdempotencyKey: fmt.Sprint("k", i), Reply: []byte(`"r"`)})
		if err != nil {
			t.Fatal(err)
		}
		ss.Version = v
	}
	if p := prune(t, s, store.Retention{KeysBefore: before}); p.Keys != 0 {
		t.Fatalf("Prune(keys before an hour ago) = %+v, want none", p)
	}
	if r, found, err := s.Reply(ctx(t), "k0"); err != nil || !found || string(r) != `"r0"` {
		t.Fatalf("Reply(k0) = %s, %v, %v", r, found, err)
	}
	after := time.Now().Add(time.Minute)
	for _, want := range []int{2, 1, 0} {
		if p := prune(t, s, store.Retention{KeysBefore: after, Limit: 2}); p.Keys != want || p.Sessions != 0 {
			t.Fatalf("Prune(keys, limit 2) = %+v, want %d keys", p, want)
		}
	}
	for i := range 3 {
		if _, found, err := s.Reply(ctx(t), fmt.Sprint("k", i)); err != nil || found {
			t.Fatalf("Reply(k%d) after prune: found=%v, %v", i, found, err)
		}
	}
	if _, err := s.Get(ctx(t), "CA1"); err != nil {
		t.Fatalf("the live session went with its keys: %v", err)
	}
	if _, err := s.Commit(ctx(t), store.Commit{Session: ss, IdempotencyKey: "k0"}); err != nil {
		t.Fatalf("commit reusing a pruned key: %v", err)
	}
}

// testPruneOutboxIDs: after pruning, a new outbox item never gets the ID of
// a deleted one (the dispatcher's idempotency keys for action.failed
// events name the item's ID). A store may keep a session longer to ensure
// it.
func testPruneOutboxIDs(t *testing.T, s store.Store) {
	old := time.Now().Add(-48 * time.Hour)
	finished(t, s, "A", true, old, "a1")
	items := claim(t, s, "w1", t0, 10)
	wantKinds(t, "claim", items, "a1")
	first := items[0].ID
	if err := s.MarkSent(ctx(t), first, "w1", nil); err != nil {
		t.Fatal(err)
	}
	prune(t, s, store.Retention{FinishedBefore: time.Now().Add(-time.Hour)})
	withOutbox(t, s, "B", "b1")
	if got := outbox(t, s, "B")[0].ID; got <= first {
		t.Fatalf("new item ID %d after pruning item %d: IDs must only grow", got, first)
	}
	// Once a newer item exists, A goes.
	prune(t, s, store.Retention{FinishedBefore: time.Now().Add(-time.Hour)})
	if _, err := s.Get(ctx(t), "A"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(A) = %v, want ErrNotFound once a newer outbox item exists", err)
	}
}
