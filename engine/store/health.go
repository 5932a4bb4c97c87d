package store

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// WriteHealth is what a store saw of its own recent writes. A store can
// answer Ping and still refuse every write (a read-only SQLite file or
// mount, a full disk, a PostgreSQL standby after a failover): then every
// webhook fails, and readiness should say so.
type WriteHealth struct {
	// LastOK is when a write that changed something last committed.
	// Writes that may change nothing (on SQLite a claim that found no
	// item, a revision already saved) do not count: on a full disk they
	// succeed, having nothing to write. PostgreSQL's claim counts even
	// when empty: a standby refuses its UPDATE all the same.
	LastOK time.Time
	// LastFailed is when a write last failed, and LastError its error.
	// A version conflict, a duplicate idempotency key, an unknown item
	// and the caller's own context ending are answers, not failures.
	LastFailed time.Time
	LastError  string
}

// Failing reports whether the last write failed less than window before
// now and none has succeeded since. The window lets an idle store be
// ready again: the next write tells.
func (h WriteHealth) Failing(now time.Time, window time.Duration) bool {
	return !h.LastFailed.IsZero() && !h.LastFailed.Before(h.LastOK) && now.Sub(h.LastFailed) < window
}

// WriteHealthReporter is a store that keeps its WriteHealth (SQLite and
// PostgreSQL; the memory store cannot fail to write).
type WriteHealthReporter interface {
	WriteHealth() WriteHealth
}

// writeHealth records outcomes with two atomic stores: nothing a webhook
// would wait for.
type writeHealth struct {
	ok, failed atomic.Int64 // UnixNano; 0: never
	lastErr    atomic.Pointer[string]
}

// note records the outcome of a write and returns err. wrote says that a
// success changed something (see WriteHealth.LastOK).
func (h *writeHealth) note(err error, wrote bool) error {
	switch {
	case err == nil:
		if wrote {
			h.ok.Store(time.Now().UnixNano())
		}
	case errors.Is(err, ErrConflict), errors.Is(err, ErrDuplicate), errors.Is(err, ErrNotFound),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, errClosed), errors.Is(err, errPoolClosed):
	default:
		msg := err.Error()
		h.lastErr.Store(&msg)
		h.failed.Store(time.Now().UnixNano())
	}
	return err
}

func (h *writeHealth) snapshot() WriteHealth {
	var w WriteHealth
	if n := h.ok.Load(); n != 0 {
		w.LastOK = time.Unix(0, n).UTC()
	}
	if n := h.failed.Load(); n != 0 {
		w.LastFailed = time.Unix(0, n).UTC()
	}
	if p := h.lastErr.Load(); p != nil {
		w.LastError = *p
	}
	return w
}

// IsReadOnly reports an error that says the database accepts no writes:
// SQLite's SQLITE_READONLY (a file, directory or mount flowd may not
// write, or a file SQLite itself will only read) or SQLITE_CANTOPEN, and
// PostgreSQL's read_only_sql_transaction (25006: a hot standby, or
// default_transaction_read_only) or insufficient_privilege (42501).
func IsReadOnly(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteReadOnly, sqliteCantOpen, sqlitePerm:
			return true
		}
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "25006" || pe.Code == "42501")
}

// SQLite primary result codes (sqlite3.h).
const (
	sqlitePerm     = 3
	sqliteReadOnly = 8
	sqliteCantOpen = 14
)
