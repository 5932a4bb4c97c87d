// Package store persists flowd's call sessions and everything that must change
// together with them.
//
// A session is the durable state of one call: the customer's call and the
// TaskRouter Tasks it creates. Every event runs the session's state machine and
// the outcome is saved by a single [Store.Commit], which writes in ONE
// transaction:
//
//   - the new session state, guarded by an optimistic version check
//     (ErrConflict when another writer got there first),
//   - history rows (what happened, for audit and debugging),
//   - outbox rows (REST calls to send to Twilio after the commit),
//   - aliases (CallSids, TaskSids, ... that resolve to the session),
//   - the event's idempotency key and the reply that was given, so a
//     redelivered webhook gets the same reply and changes nothing
//     (ErrDuplicate).
//
// Either all of it is written or none of it. The outbox is drained by a
// dispatcher that leases items with [Store.ClaimOutbox], sends them, and
// settles them with MarkSent, Retry or MarkFailed. Items of one session are
// handed out strictly one at a time in ID order, so Twilio sees a call's
// requests in the order the state machine produced them; leases expire, so a
// crashed dispatcher's items are picked up again (at-least-once delivery).
// Beside sessions, the store keeps the source of every flow revision a
// session may be pinned to ([Store.SaveFlowRevision]), so a call keeps its
// flow across restarts and replicas; revisions are never pruned.
// [Store.Prune] is the only delete: finished sessions past their retention
// with all of their rows, and idempotency keys past theirs, in small
// batches.
//
// Three implementations share one contract, checked by package storetest:
//
//   - memory ("memory:"): maps behind a mutex, for tests and single-process
//     development; nothing survives a restart.
//   - SQLite ("sqlite:PATH"): pure Go (modernc.org/sqlite), WAL mode, for
//     single-replica deployments. One writer goroutine owns the write
//     connection and commits the writes that arrive together in one
//     transaction, a savepoint each (group commit, sqlite_writer.go); WAL
//     checkpoints run beside it; a small reader pool serves reads, and what
//     this process committed is cached so the webhook path reads nothing
//     from disk (sqlite_cache.go).
//   - PostgreSQL ("postgres://..."): pgx with a small connection pool;
//     several flowd replicas may share one database (conditional updates
//     under row locks, SKIP LOCKED claims, migrations under an advisory
//     lock).
//
// Nothing else is deleted: sessions, history, settled outbox items and
// idempotency keys stay until Prune's retention takes them.
//
// The SQLite and PostgreSQL stores note when their last write went through
// and when one last failed ([WriteHealthReporter]): a store that answers
// Ping but cannot write (a read-only file, a full disk, a standby) fails
// every event, and readiness should say so.
//
// Times are returned in UTC. PostgreSQL keeps microseconds, the other two
// nanoseconds; callers that compare times should not depend on more than
// microsecond precision.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Sentinel errors; compare with errors.Is.
var (
	ErrNotFound  = errors.New("store: not found")
	ErrConflict  = errors.New("store: version conflict") // optimistic concurrency lost
	ErrDuplicate = errors.New("store: duplicate idempotency key")
)

// errClosed is returned by the memory store after Close, mirroring the
// "database is closed" errors of the SQL implementations.
var errClosed = errors.New("store: closed")

// Session is the durable state of one call.
type Session struct {
	ID        string    // internal id (the first CallSid or TaskSid seen)
	Flow      string    // flow name
	Revision  string    // flow revision (content hash) the session is pinned to
	State     string    // current FSM state
	Final     bool      // reached a final state
	Version   int64     // incremented by every successful Commit; 0 = does not exist yet
	Data      []byte    // opaque JSON owned by the engine (facts, vars, roles ...)
	CreatedAt time.Time // set on create (now when zero); never changed by later commits
	UpdatedAt time.Time // set by every commit (now when zero)
}

// HistoryEntry is one line of a session's audit trail.
type HistoryEntry struct {
	Session string
	Seq     int64     // assigned by the store, strictly increasing per session, starting at 1
	At      time.Time // now when zero
	Kind    string    // "event", "guard", "transition", "action", "reply", "rest", "unhandled", ...
	Data    []byte    // opaque JSON
}

// OutboxStatus is the lifecycle state of an outbox item.
type OutboxStatus string

// Outbox statuses. Only pending items are ever claimed; sent and failed are
// final.
const (
	OutboxPending OutboxStatus = "pending"
	OutboxSent    OutboxStatus = "sent"
	OutboxFailed  OutboxStatus = "failed"
)

// OutboxItem is one REST call to make after a commit.
type OutboxItem struct {
	ID      int64 // assigned by the store, increasing
	Session string
	Kind    string // e.g. "participant.update"
	// Lane orders items: those of one session in one lane are sent
	// strictly in ID order, and lanes do not wait for each other. The
	// engine uses one lane per Twilio API, so a TaskRouter call that keeps
	// failing does not hold up a call's voice requests. The empty lane is
	// what a flowd from before lanes writes (during a rolling upgrade, or
	// after a rollback): its items keep that version's strict order, waiting
	// for and holding back every item of their session, in any lane.
	Lane     string
	Payload  []byte // opaque JSON
	Status   OutboxStatus
	Attempts int // number of Retry calls so far
	// Claims counts the leases ClaimOutbox gave out, this one included.
	// Every settled attempt ends one lease, so Claims > Attempts+1 means an
	// earlier lease ended with nothing recorded: a sender that died or lost
	// its lease mid-send, whose request Twilio may have carried out.
	Claims      int
	NextAttempt time.Time // not to be claimed before this
	LeaseOwner  string
	LeaseUntil  time.Time
	LastError   string
	Result      []byte // opaque JSON of the answer, set when sent / failed
	CreatedAt   time.Time
}

// Commit is everything one event changes, written atomically by Store.Commit.
type Commit struct {
	// Session is the new state. Session.Version must equal the stored
	// version (0 = create); on success the stored version becomes
	// Version+1. All fields except ID, Version and CreatedAt are
	// overwritten.
	Session Session
	// Aliases are extra keys that resolve to Session.ID (CallSids,
	// TaskSids, ConferenceSids...). Adding an alias the session already
	// has is a no-op. An alias owned by ANOTHER session is moved to this
	// one: last writer wins, because the newest event knows best where a
	// Sid belongs now (e.g. a Task transferred to a new call).
	Aliases []string
	// History is appended in order; Seq and Session are assigned by the
	// store.
	History []HistoryEntry
	// Outbox is queued in order; ID, Session, Status (pending), Attempts
	// and the lease are assigned by the store. NextAttempt zero = now.
	Outbox []OutboxItem
	// IdempotencyKey is optional; if it was already recorded Commit
	// returns ErrDuplicate and writes NOTHING.
	IdempotencyKey string
	// Reply is stored with the key and returned by Store.Reply.
	Reply []byte
}

// Retention says what Prune deletes.
type Retention struct {
	// FinishedBefore: sessions in a final state last updated before this
	// time, with their aliases, history and outbox items, unless one of
	// their outbox items is still pending. Zero: none.
	FinishedBefore time.Time
	// KeysBefore: idempotency keys (and the replies stored with them)
	// written before this time, whatever their session's state; a
	// redelivery that late runs as a new event. Zero: none. Stores may
	// take keys in write order and stop at the first one too young, so a
	// key written out of clock order can outlive the cut-off a little.
	KeysBefore time.Time
	// Limit bounds each kind per call (<= 0: 500).
	Limit int
}

// FlowRevision is the source of one revision of a flow file. Revisions are
// never pruned: there are a few per deploy, and a session may be pinned to
// any of them.
type FlowRevision struct {
	Revision  string // hex sha256 of Source (the engine's flow revision)
	Name      string // flow name
	File      string // the file it was loaded from, for diagnostics
	Source    []byte
	CreatedAt time.Time // set by the store when first saved
}

func (r FlowRevision) validate() error {
	if r.Revision == "" || r.Name == "" || len(r.Source) == 0 {
		return errors.New("store: a flow revision needs a revision, a name and a source")
	}
	return nil
}

// LiveFilter selects the sessions LiveSessions returns.
type LiveFilter struct {
	Flow  string // only this flow's sessions; "" any flow
	State string // only sessions in this state; "" any state
	After string // only IDs after this one: the last ID of the previous page
	Limit int    // at most this many (<= 0: 100)
}

func (f LiveFilter) limit() int {
	if f.Limit <= 0 {
		return 100
	}
	return f.Limit
}

// Pruned counts what one Prune call deleted.
type Pruned struct {
	Sessions, Keys int
}

func (r Retention) limit() int {
	if r.Limit <= 0 {
		return 500
	}
	return r.Limit
}

// Store is the persistence contract shared by all implementations. All
// methods are safe for concurrent use.
type Store interface {
	// Get returns the session by ID or ErrNotFound.
	Get(ctx context.Context, id string) (Session, error)
	// Resolve maps an alias (or a session ID itself) to a session ID, or
	// ErrNotFound. An alias takes precedence over a session of the same ID.
	Resolve(ctx context.Context, alias string) (string, error)
	// Commit writes everything in one transaction; ErrConflict when
	// Session.Version != stored version (or a create of an existing ID),
	// ErrDuplicate when the idempotency key was already used (checked
	// first, so a redelivered event gets ErrDuplicate rather than
	// ErrConflict). Returns the new version.
	Commit(ctx context.Context, c Commit) (int64, error)
	// Reply returns the reply stored with an idempotency key (found=false if unknown).
	Reply(ctx context.Context, key string) (reply []byte, found bool, err error)
	// AppendHistory adds entries outside a transition (e.g. the REST result
	// the dispatcher got). It does not change the session's version.
	// ErrNotFound if the session does not exist.
	AppendHistory(ctx context.Context, session string, entries ...HistoryEntry) error
	// History returns entries with Seq > after, in Seq order, at most limit
	// (limit<=0: all). An unknown session has no entries (no error).
	History(ctx context.Context, session string, after int64, limit int) ([]HistoryEntry, error)
	// ClaimOutbox leases up to limit (limit<=0: no limit) pending items
	// whose NextAttempt <= now and whose lease is absent or expired, in ID
	// order, taking per session and lane ONLY the oldest unfinished item
	// (items of one session and lane are sent strictly in ID order: an item
	// is claimable only if no lower-ID item of the same session and lane,
	// nor of the session's empty lane, is still pending; an item of the
	// empty lane only if no lower-ID item of its session is). Sets
	// LeaseOwner/LeaseUntil=now+lease. Safe for several replicas at once;
	// no item is leased to two owners at once.
	ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]OutboxItem, error)
	// MarkSent sets status sent + Result and clears the lease, only if
	// owner still holds it (an expired lease nobody else took is still
	// held); else ErrConflict. ErrNotFound for an unknown id.
	MarkSent(ctx context.Context, id int64, owner string, result []byte) error
	// Retry releases the lease, increments Attempts, sets NextAttempt and
	// LastError (owner check as above). The item keeps blocking later
	// items of its session.
	Retry(ctx context.Context, id int64, owner string, next time.Time, lastErr string) error
	// MarkFailed sets status failed, LastError, Result (owner check as
	// above). A failed item no longer blocks later items of its session.
	MarkFailed(ctx context.Context, id int64, owner string, lastErr string, result []byte) error
	// Outbox lists a session's items in ID order (for tests, the API and admins).
	Outbox(ctx context.Context, session string) ([]OutboxItem, error)
	// Pending counts pending outbox items (a metric: outbox depth).
	Pending(ctx context.Context) (int, error)
	// Live counts sessions not Final (a metric: live calls).
	Live(ctx context.Context) (int, error)
	// LiveSessions returns the sessions not in a final state that f
	// selects, in ID order, for listing live calls page by page.
	LiveSessions(ctx context.Context, f LiveFilter) ([]Session, error)
	// Prune deletes what is no longer needed (see Retention), at most
	// r.Limit sessions and r.Limit keys per call, and reports how many it
	// deleted: a caller that wants everything gone calls again while the
	// counts reach the limit. Small calls keep the store free for events.
	Prune(ctx context.Context, r Retention) (Pruned, error)
	// SaveFlowRevision keeps a flow revision's source so that sessions
	// pinned to it can run it after a restart. Saving a revision that is
	// already stored changes nothing.
	SaveFlowRevision(ctx context.Context, r FlowRevision) error
	// FlowRevision returns a saved revision, or ErrNotFound.
	FlowRevision(ctx context.Context, revision string) (FlowRevision, error)
	// Ping checks that the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// Open opens a store from a DSN:
//
//   - "memory:" for the in-memory store,
//   - "sqlite:PATH" (e.g. "sqlite:flowd.db", "sqlite:///var/lib/flowd.db"):
//     a plain path, without "?" options or a "file:" URI (refused, rather
//     than creating a file named after them; OpenSQLite takes any name),
//   - "postgres://..." or "postgresql://..." (any pgx connection URL; extra
//     query parameters such as search_path=myschema become session settings).
//
// SQL schemas are created or migrated as needed.
func Open(ctx context.Context, dsn string) (Store, error) {
	switch {
	case dsn == "memory:" || dsn == "memory":
		return NewMemory(), nil
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		// "sqlite://rel" and "sqlite:///abs" are common URL spellings.
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return nil, errors.New(`store: DSN "sqlite:" needs a path, e.g. "sqlite:flowd.db"`)
		}
		// A SQLite URI's parts would be taken as the file's name
		// (OpenSQLite escapes them): b.db?cache=shared would be created.
		if plain, ok := strings.CutPrefix(path, "file:"); ok {
			plain, _, _ = strings.Cut(strings.TrimPrefix(plain, "//"), "?")
			return nil, fmt.Errorf(`store: DSN %q: give a plain file path after "sqlite:" (e.g. "sqlite:%s"), not a SQLite URI; flowd sets the options it needs`,
				dsn, plain)
		}
		if p, query, ok := strings.Cut(path, "?"); ok {
			return nil, fmt.Errorf(`store: DSN %q: "sqlite:PATH" takes a plain file path (e.g. "sqlite:%s"); options after "?" (%s) are not supported, flowd sets the ones it needs`,
				dsn, p, query)
		}
		return OpenSQLite(ctx, path)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return OpenPostgres(ctx, dsn)
	}
	// Only the scheme is echoed: the rest of a DSN may hold a password.
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || len(scheme) > 20 {
		scheme = "(none)"
	}
	return nil, fmt.Errorf(`store: unsupported DSN scheme %q: want "memory:", "sqlite:PATH", "postgres://..." or "postgresql://..."`, scheme)
}

// Redact returns dsn fit for a log line or a usage text: a PostgreSQL
// URL with its password (in the user info or a password parameter)
// replaced by xxxxx, memory: and sqlite:PATH as they are (they hold no
// secret), and of anything else only its scheme.
func Redact(dsn string) string {
	switch {
	case dsn == "" || dsn == "memory:" || dsn == "memory" || strings.HasPrefix(dsn, "sqlite:"):
		return dsn
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		scheme, _, _ := strings.Cut(dsn, ":")
		u, err := url.Parse(dsn)
		if err != nil {
			return scheme + "://…" // where the password is cannot be told
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || len(scheme) > 20 {
		return "…"
	}
	return scheme + ":…"
}

// validate rejects commits that can never succeed; version mismatches are
// left to the backends (they are ErrConflict, not a caller bug).
func validate(c *Commit) error {
	if c.Session.ID == "" {
		return errors.New("store: commit: empty session ID")
	}
	if c.Session.Version < 0 {
		return fmt.Errorf("store: commit: negative version %d", c.Session.Version)
	}
	return nil
}

// dedupe returns the aliases without empty strings and repeats, in first
// seen order; PostgreSQL's ON CONFLICT DO UPDATE refuses to touch a row twice
// in one statement.
func dedupe(aliases []string) []string {
	if len(aliases) == 0 {
		return nil
	}
	out := make([]string, 0, len(aliases))
	seen := make(map[string]struct{}, len(aliases))
	for _, a := range aliases {
		if a == "" {
			continue
		}
		if _, ok := seen[a]; ok {
			continue
		}
		seen[a] = struct{}{}
		out = append(out, a)
	}
	return out
}

// clone copies b so that callers and the store never share memory; empty is
// normalized to nil so all implementations return the same thing.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// orNow returns t in UTC, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now.UTC()
	}
	return t.UTC()
}

// utc normalizes a time read back from a backend (and drops the monotonic
// reading of values supplied by callers).
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
