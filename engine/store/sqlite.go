package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// sqliteParams: WAL lets readers run beside the single writer; busy_timeout
// covers another process holding the write lock; synchronous=NORMAL in WAL
// survives process crashes (a power loss may drop the last commits);
// _txlock=immediate takes the write lock at BEGIN so a transaction never
// fails half way with SQLITE_BUSY on lock upgrade.
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"

// sqliteBatch is the most rows one prepared INSERT writes; one statement per
// commit instead of one per row saves a VDBE run and a driver round trip
// per row.
const sqliteBatch = 8

// sqliteReaders bounds the reader pool; the machine is small and reads are
// short.
const sqliteReaders = 4

// sqliteStore keeps two pools: w has exactly one connection, used only by the
// writer goroutine (group commit, sqlite_writer.go), so writes queue in Go
// instead of spinning in SQLite's busy handler, and its statements are
// prepared once on that connection; r serves reads, which WAL lets proceed
// while a write is in progress, behind a cache of what this process
// committed (sqlite_cache.go).
type sqliteStore struct {
	w, r *sql.DB
	// cp is the checkpointer's own connection (see sqlite_writer.go).
	cp     *sql.DB
	writer *writer
	cache  *sqliteCache // see sqlite_cache.go
	unlock func() error // releases PATH.lock
	health writeHealth  // see health.go

	// writer statements
	insKey, insSession, updSession, updSessionState, bumpSeq, upsAlias *sql.Stmt
	// multi-row inserts: insHistory[n] inserts n rows (1 <= n <= sqliteBatch)
	insHistory, insOutbox                          [sqliteBatch + 1]*sql.Stmt
	claim, markSent, retry, markFailed, itemExists *sql.Stmt
	// reader statements
	get, resolve, reply, history, outbox, pending, live *sql.Stmt
}

// OpenSQLite opens (creating if needed) the SQLite database at path and
// applies pending migrations.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		// Two pools would see two different databases.
		return nil, errors.New("store: sqlite needs a file path (use \"memory:\" for an in-memory store)")
	}
	unlock, err := lockSQLite(path)
	if err != nil {
		return nil, err
	}
	// In a SQLite URI '?' and '#' end the path and '%' starts an escape.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	base := "file:" + esc + "?" + sqliteParams

	// The writer never checkpoints on commit: the checkpointer does it
	// beside it (sqlite_writer.go).
	w, err := sql.Open("sqlite", base+"&_pragma=wal_autocheckpoint(0)&_pragma=temp_store(MEMORY)")
	if err != nil {
		unlock()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &sqliteStore{w: w, cache: newSQLiteCache(), unlock: unlock}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	// query_only guards against a write slipping onto a reader connection,
	// which would contend with the writer for the lock.
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	s.r = r
	cp, err := sql.Open("sqlite", base)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	cp.SetMaxOpenConns(1)
	s.cp = cp
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startWriter(ctx, cp); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqliteStore) migrate(ctx context.Context) error {
	ms, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: sqlite migrations table: %w", err)
	}
	for _, m := range ms {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration in its own IMMEDIATE transaction; the "already
// applied?" check is inside it so two processes opening the same file
// cannot both run it. Foreign keys are off while it runs, as SQLite's
// procedure for changing a table's shape requires (a new table is filled,
// the old one dropped and the new one renamed: with foreign keys on,
// dropping a parent table would first delete its children's rows through
// ON DELETE CASCADE); the migration must leave no violation behind, which
// foreign_key_check verifies before the commit.
func (s *sqliteStore) apply(ctx context.Context, m migration) (err error) {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: sqlite migration %s: %w", m.version, err)
	}
	defer conn.Close()
	// temp_store=FILE: a migration that copies a table in another order
	// sorts it, and the writer's in-memory temp store would hold the whole
	// table in RAM while it does.
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF; PRAGMA temp_store = FILE`); err != nil {
		return fmt.Errorf("store: sqlite migration %s: %w", m.version, err)
	}
	defer func() {
		if _, onErr := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY`); onErr != nil && err == nil {
			err = fmt.Errorf("store: sqlite migration %s: settings back: %w", m.version, onErr)
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: sqlite migration %s: %w", m.version, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE version = ?`, m.version).Scan(&one)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: sqlite migration %s: %w", m.version, err)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("store: sqlite migration %s: %w", m.version, err)
	}
	if err := foreignKeyCheck(ctx, tx); err != nil {
		return fmt.Errorf("store: sqlite migration %s: %w", m.version, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.version, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("store: sqlite migration %s: %w", m.version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: sqlite migration %s: %w", m.version, err)
	}
	return nil
}

// foreignKeyCheck fails if any row references a parent row that does not
// exist.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		return fmt.Errorf("a row of %s (rowid %v) references a missing row of %s", table, rowid.Int64, parent)
	}
	return rows.Err()
}

const (
	sqliteSessionCols = `id, flow, revision, state, final, version, data, created_at, updated_at`
	sqliteOutboxCols  = `id, session, kind, payload, status, attempts, next_attempt, lease_owner, lease_until, last_error, result, created_at, claims, lane`
)

func (s *sqliteStore) prepare(ctx context.Context) error {
	type prep struct {
		db   *sql.DB
		dst  **sql.Stmt
		text string
	}
	var batch []prep
	for n := 1; n <= sqliteBatch; n++ {
		rows := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", n), ", ")
		outboxRows := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", n), ", ")
		batch = append(batch,
			prep{s.w, &s.insHistory[n], `INSERT INTO history (session, seq, at, kind, data) VALUES ` + rows},
			// Rows get ids in VALUES order.
			prep{s.w, &s.insOutbox[n], `INSERT INTO outbox (session, kind, lane, payload, next_attempt, created_at) VALUES ` + outboxRows})
	}
	for _, p := range append(batch, []prep{
		{s.w, &s.insKey, `INSERT INTO idempotency (key, session, reply, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO NOTHING`},
		{s.w, &s.insSession, `INSERT INTO sessions (id, flow, revision, state, final, version, data, last_seq, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`},
		{s.w, &s.updSession, `UPDATE sessions SET flow = ?, revision = ?, state = ?, final = ?, data = ?, updated_at = ?,
			version = version + 1, last_seq = last_seq + ? WHERE id = ? AND version = ? RETURNING last_seq, created_at`},
		// The same without final, for a commit that leaves it as stored:
		// naming final in SET makes SQLite rewrite the session's entry in
		// the sessions_live index, one more page in every commit.
		{s.w, &s.updSessionState, `UPDATE sessions SET flow = ?, revision = ?, state = ?, data = ?, updated_at = ?,
			version = version + 1, last_seq = last_seq + ? WHERE id = ? AND version = ? RETURNING last_seq, created_at`},
		{s.w, &s.bumpSeq, `UPDATE sessions SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq`},
		{s.w, &s.upsAlias, `INSERT INTO aliases (alias, session) VALUES (?1, ?2)
			ON CONFLICT (alias) DO UPDATE SET session = excluded.session WHERE session <> excluded.session`},
		// The writer is a single connection, so this statement is atomic
		// with respect to every other write: no SKIP LOCKED needed. h is
		// each session's oldest pending item, read off the partial index.
		{s.w, &s.claim, `UPDATE outbox SET lease_owner = ?1, lease_until = ?2, claims = claims + 1
			WHERE id IN (
				SELECT o.id
				FROM (SELECT min(id) AS id FROM outbox WHERE status = 'pending' GROUP BY session, lane) AS h
				JOIN outbox o ON o.id = h.id
				WHERE o.next_attempt <= ?3 AND (o.lease_until IS NULL OR o.lease_until <= ?3)
				  -- The empty lane (a flowd from before lanes) keeps strict
				  -- order with every lane of its session.
				  AND NOT EXISTS (SELECT 1 FROM outbox p
				                  WHERE p.status = 'pending' AND p.session = o.session AND p.id < o.id
				                    AND (p.lane = '' OR o.lane = ''))
				ORDER BY o.id LIMIT ?4)
			RETURNING ` + sqliteOutboxCols},
		{s.w, &s.markSent, `UPDATE outbox SET status = 'sent', result = ?3, lease_owner = '', lease_until = NULL
			WHERE id = ?1 AND lease_owner = ?2 AND ?2 <> '' AND status = 'pending'`},
		{s.w, &s.retry, `UPDATE outbox SET attempts = attempts + 1, next_attempt = ?3, last_error = ?4, lease_owner = '', lease_until = NULL
			WHERE id = ?1 AND lease_owner = ?2 AND ?2 <> '' AND status = 'pending'`},
		{s.w, &s.markFailed, `UPDATE outbox SET status = 'failed', last_error = ?3, result = ?4, lease_owner = '', lease_until = NULL
			WHERE id = ?1 AND lease_owner = ?2 AND ?2 <> '' AND status = 'pending'`},
		{s.w, &s.itemExists, `SELECT 1 FROM outbox WHERE id = ?`},

		{s.r, &s.get, `SELECT ` + sqliteSessionCols + ` FROM sessions WHERE id = ?`},
		{s.r, &s.resolve, `SELECT COALESCE((SELECT session FROM aliases WHERE alias = ?1), (SELECT id FROM sessions WHERE id = ?1))`},
		{s.r, &s.reply, `SELECT reply FROM idempotency WHERE key = ?`},
		{s.r, &s.history, `SELECT session, seq, at, kind, data FROM history WHERE session = ? AND seq > ? ORDER BY seq LIMIT ?`},
		{s.r, &s.outbox, `SELECT ` + sqliteOutboxCols + ` FROM outbox WHERE session = ? ORDER BY id`},
		{s.r, &s.pending, `SELECT count(*) FROM outbox WHERE status = 'pending'`},
		{s.r, &s.live, `SELECT count(*) FROM sessions WHERE final = 0`},
	}...) {
		st, err := p.db.PrepareContext(ctx, p.text)
		if err != nil {
			return fmt.Errorf("store: sqlite prepare %q: %w", firstLine(p.text), err)
		}
		*p.dst = st
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// fromNanos converts an INTEGER time column; NULL is the zero time (only
// lease_until can be NULL).
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (s *sqliteStore) Get(ctx context.Context, id string) (Session, error) {
	if s.closed() {
		return Session{}, errors.New("store: get: sqlite store closed")
	}
	if ss, ok := s.cache.session(id); ok {
		return ss, nil
	}
	gen := s.cache.generation()
	var (
		ss               Session
		created, updated sql.NullInt64
	)
	err := s.get.QueryRowContext(ctx, id).Scan(&ss.ID, &ss.Flow, &ss.Revision, &ss.State, &ss.Final, &ss.Version,
		&ss.Data, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: get %s: %w", id, err)
	}
	ss.Data = nilIfEmpty(ss.Data)
	ss.CreatedAt, ss.UpdatedAt = fromNanos(created), fromNanos(updated)
	s.cache.fillSession(ss, gen)
	return ss, nil
}

func (s *sqliteStore) Resolve(ctx context.Context, alias string) (string, error) {
	if s.closed() {
		return "", errors.New("store: resolve: sqlite store closed")
	}
	if id, ok := s.cache.resolve(alias); ok {
		return id, nil
	}
	gen := s.cache.generation()
	var id sql.NullString
	if err := s.resolve.QueryRowContext(ctx, alias).Scan(&id); err != nil {
		return "", fmt.Errorf("store: resolve %s: %w", alias, err)
	}
	if !id.Valid {
		return "", ErrNotFound
	}
	s.cache.fillResolved(alias, id.String, gen)
	return id.String, nil
}

func (s *sqliteStore) Commit(ctx context.Context, c Commit) (int64, error) {
	if err := validate(&c); err != nil {
		return 0, err
	}
	v, err := s.commit(ctx, &c)
	if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrDuplicate) {
		err = fmt.Errorf("store: commit %s: %w", c.Session.ID, err)
	}
	return v, s.health.note(err, true)
}

// WriteHealth says how the last writes went (readiness).
func (s *sqliteStore) WriteHealth() WriteHealth { return s.health.snapshot() }

func (s *sqliteStore) commit(ctx context.Context, c *Commit) (int64, error) {
	var saved Session
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		saved, err = s.commitTx(ctx, tx, c)
		return err
	}, func() {
		s.cache.publish(saved, c.Aliases)
	})
	if errors.Is(err, ErrConflict) {
		s.cache.drop(c.Session.ID)
	}
	if err != nil {
		return 0, err
	}
	return saved.Version, nil
}

// commitTx writes c inside the writer's transaction and returns the session
// as now stored (with its own copy of Data, for the cache).
func (s *sqliteStore) commitTx(ctx context.Context, tx *sql.Tx, c *Commit) (Session, error) {
	now := time.Now()
	ss := &c.Session
	saved := *ss
	saved.Data = nilIfEmpty(saved.Data)

	// The key goes first so a redelivered event reports ErrDuplicate even
	// though its version is stale too; the rollback undoes it on conflict.
	if c.IdempotencyKey != "" {
		res, err := tx.StmtContext(ctx, s.insKey).ExecContext(ctx, c.IdempotencyKey, ss.ID, c.Reply, now.UnixNano())
		if err != nil {
			return Session{}, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return Session{}, err
		} else if n == 0 {
			return Session{}, ErrDuplicate
		}
	}

	nh := int64(len(c.History))
	updated := orNow(ss.UpdatedAt, now).UnixNano()
	var lastSeq, created int64
	if ss.Version == 0 {
		created = orNow(ss.CreatedAt, now).UnixNano()
		res, err := tx.StmtContext(ctx, s.insSession).ExecContext(ctx, ss.ID, ss.Flow, ss.Revision, ss.State, ss.Final,
			ss.Data, nh, created, updated)
		if err != nil {
			return Session{}, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return Session{}, err
		} else if n == 0 {
			return Session{}, ErrConflict
		}
		lastSeq = nh
	} else {
		var row *sql.Row
		if final, known := s.cache.final(ss.ID, ss.Version); known && final == ss.Final {
			row = tx.StmtContext(ctx, s.updSessionState).QueryRowContext(ctx, ss.Flow, ss.Revision, ss.State, ss.Data,
				updated, nh, ss.ID, ss.Version)
		} else {
			row = tx.StmtContext(ctx, s.updSession).QueryRowContext(ctx, ss.Flow, ss.Revision, ss.State, ss.Final, ss.Data,
				updated, nh, ss.ID, ss.Version)
		}
		err := row.Scan(&lastSeq, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return Session{}, ErrConflict
		}
		if err != nil {
			return Session{}, err
		}
	}

	if len(c.Aliases) > 0 {
		st := tx.StmtContext(ctx, s.upsAlias)
		for _, a := range c.Aliases {
			if a == "" {
				continue
			}
			if _, err := st.ExecContext(ctx, a, ss.ID); err != nil {
				return Session{}, err
			}
		}
	}
	if err := s.insertHistory(ctx, tx, ss.ID, lastSeq-nh, c.History, now); err != nil {
		return Session{}, err
	}
	for rest := c.Outbox; len(rest) > 0; {
		chunk := rest[:min(len(rest), sqliteBatch)]
		rest = rest[len(chunk):]
		args := make([]any, 0, 6*len(chunk))
		for _, it := range chunk {
			args = append(args, ss.ID, it.Kind, it.Lane, it.Payload, orNow(it.NextAttempt, now).UnixNano(), orNow(it.CreatedAt, now).UnixNano())
		}
		if _, err := tx.StmtContext(ctx, s.insOutbox[len(chunk)]).ExecContext(ctx, args...); err != nil {
			return Session{}, err
		}
	}
	saved.Version = ss.Version + 1
	saved.CreatedAt, saved.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	saved.Data = bytes.Clone(saved.Data)
	return saved, nil
}

// begin waits (honouring ctx) for the writer connection and starts an
// IMMEDIATE transaction on it that ctx no longer cancels: a write
// transaction is short and all-or-nothing anyway, and a cancellable context
// costs modernc/sqlite a watcher goroutine per statement, which dominated
// Commit. done rolls back unless committed and returns the connection.
// Only the writer goroutine calls it.
func (s *sqliteStore) begin(ctx context.Context) (tx *sql.Tx, done func(), err error) {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	tx, err = conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return tx, func() { tx.Rollback(); conn.Close() }, nil
}

// insertHistory writes entries with seq = base+1, base+2, ...
func (s *sqliteStore) insertHistory(ctx context.Context, tx *sql.Tx, session string, base int64, entries []HistoryEntry, now time.Time) error {
	for len(entries) > 0 {
		chunk := entries[:min(len(entries), sqliteBatch)]
		entries = entries[len(chunk):]
		args := make([]any, 0, 5*len(chunk))
		for _, e := range chunk {
			base++
			args = append(args, session, base, orNow(e.At, now).UnixNano(), e.Kind, e.Data)
		}
		if _, err := tx.StmtContext(ctx, s.insHistory[len(chunk)]).ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqliteStore) Reply(ctx context.Context, key string) ([]byte, bool, error) {
	var r []byte
	err := s.reply.QueryRowContext(ctx, key).Scan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: reply: %w", err)
	}
	return nilIfEmpty(r), true, nil
}

func (s *sqliteStore) AppendHistory(ctx context.Context, session string, entries ...HistoryEntry) error {
	err := s.appendHistory(ctx, session, entries)
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("store: append history %s: %w", session, err)
	}
	return s.health.note(err, true)
}

func (s *sqliteStore) appendHistory(ctx context.Context, session string, entries []HistoryEntry) error {
	return s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.appendHistoryTx(ctx, tx, session, entries)
	}, nil)
}

func (s *sqliteStore) appendHistoryTx(ctx context.Context, tx *sql.Tx, session string, entries []HistoryEntry) error {
	now := time.Now()
	n := int64(len(entries))
	var lastSeq int64
	err := tx.StmtContext(ctx, s.bumpSeq).QueryRowContext(ctx, n, session).Scan(&lastSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return s.insertHistory(ctx, tx, session, lastSeq-n, entries, now)
}

func (s *sqliteStore) History(ctx context.Context, session string, after int64, limit int) ([]HistoryEntry, error) {
	lim := int64(math.MaxInt64)
	if limit > 0 {
		lim = int64(limit)
	}
	rows, err := s.history.QueryContext(ctx, session, after, lim)
	if err != nil {
		return nil, fmt.Errorf("store: history %s: %w", session, err)
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var (
			e  HistoryEntry
			at sql.NullInt64
		)
		if err := rows.Scan(&e.Session, &e.Seq, &at, &e.Kind, &e.Data); err != nil {
			return nil, fmt.Errorf("store: history %s: %w", session, err)
		}
		e.At = fromNanos(at)
		e.Data = nilIfEmpty(e.Data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: history %s: %w", session, err)
	}
	return out, nil
}

func scanSQLiteItems(rows *sql.Rows) ([]OutboxItem, error) {
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var (
			it                          OutboxItem
			status                      string
			next, leaseUntil, createdAt sql.NullInt64
		)
		if err := rows.Scan(&it.ID, &it.Session, &it.Kind, &it.Payload, &status, &it.Attempts, &next,
			&it.LeaseOwner, &leaseUntil, &it.LastError, &it.Result, &createdAt, &it.Claims, &it.Lane); err != nil {
			return nil, err
		}
		it.Status = OutboxStatus(status)
		it.NextAttempt, it.LeaseUntil, it.CreatedAt = fromNanos(next), fromNanos(leaseUntil), fromNanos(createdAt)
		it.Payload, it.Result = nilIfEmpty(it.Payload), nilIfEmpty(it.Result)
		out = append(out, it)
	}
	return out, rows.Err()
}

func (s *sqliteStore) ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]OutboxItem, error) {
	if owner == "" {
		return nil, errors.New("store: claim: empty owner")
	}
	lim := int64(math.MaxInt64)
	if limit > 0 {
		lim = int64(limit)
	}
	var items []OutboxItem
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.StmtContext(ctx, s.claim).QueryContext(ctx, owner, now.Add(lease).UnixNano(), now.UnixNano(), lim)
		if err != nil {
			return err
		}
		items, err = scanSQLiteItems(rows)
		return err
	}, nil)
	if err != nil {
		return nil, s.health.note(fmt.Errorf("store: claim outbox: %w", err), false)
	}
	s.health.note(nil, len(items) > 0)
	// RETURNING order is unspecified.
	slices.SortFunc(items, func(a, b OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
	return items, nil
}

// settle runs one owner-checked outbox update and tells a vanished item
// (ErrNotFound) from a lost lease (ErrConflict).
func (s *sqliteStore) settle(ctx context.Context, op string, id int64, st *sql.Stmt, args ...any) error {
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var one int
		err = tx.StmtContext(ctx, s.itemExists).QueryRowContext(ctx, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return ErrConflict
	}, nil)
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
		err = fmt.Errorf("store: %s %d: %w", op, id, err)
	}
	return s.health.note(err, true)
}

func (s *sqliteStore) MarkSent(ctx context.Context, id int64, owner string, result []byte) error {
	return s.settle(ctx, "mark sent", id, s.markSent, id, owner, result)
}

func (s *sqliteStore) Retry(ctx context.Context, id int64, owner string, next time.Time, lastErr string) error {
	return s.settle(ctx, "retry", id, s.retry, id, owner, orNow(next, time.Now()).UnixNano(), lastErr)
}

func (s *sqliteStore) MarkFailed(ctx context.Context, id int64, owner string, lastErr string, result []byte) error {
	return s.settle(ctx, "mark failed", id, s.markFailed, id, owner, lastErr, result)
}

func (s *sqliteStore) Outbox(ctx context.Context, session string) ([]OutboxItem, error) {
	rows, err := s.outbox.QueryContext(ctx, session)
	if err != nil {
		return nil, fmt.Errorf("store: outbox %s: %w", session, err)
	}
	items, err := scanSQLiteItems(rows)
	if err != nil {
		return nil, fmt.Errorf("store: outbox %s: %w", session, err)
	}
	return items, nil
}

func (s *sqliteStore) Pending(ctx context.Context) (int, error) {
	var n int
	if err := s.pending.QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: pending: %w", err)
	}
	return n, nil
}

func (s *sqliteStore) Live(ctx context.Context) (int, error) {
	var n int
	if err := s.live.QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: live: %w", err)
	}
	return n, nil
}

// LiveSessions reads the database, not the writer's cache: what it lists
// is committed, and a page of a hundred sessions is an admin's request,
// not a webhook's.
func (s *sqliteStore) LiveSessions(ctx context.Context, f LiveFilter) ([]Session, error) {
	if s.closed() {
		return nil, errors.New("store: live sessions: sqlite store closed")
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteSessionCols+` FROM sessions
		WHERE final = 0 AND id > ?1 AND (?2 = '' OR flow = ?2) AND (?3 = '' OR state = ?3)
		ORDER BY id LIMIT ?4`, f.After, f.Flow, f.State, f.limit())
	if err != nil {
		return nil, fmt.Errorf("store: live sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var (
			ss               Session
			created, updated sql.NullInt64
		)
		if err := rows.Scan(&ss.ID, &ss.Flow, &ss.Revision, &ss.State, &ss.Final, &ss.Version, &ss.Data, &created, &updated); err != nil {
			return nil, fmt.Errorf("store: live sessions: %w", err)
		}
		ss.Data = nilIfEmpty(ss.Data)
		ss.CreatedAt, ss.UpdatedAt = fromNanos(created), fromNanos(updated)
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: live sessions: %w", err)
	}
	return out, nil
}

// Prune runs as one write of the writer: the cascade from sessions removes
// their aliases, history and outbox items (each through its session
// index). A session holding the newest outbox item waits for the next
// one: outbox IDs are max+1 (migration 0001), and the dispatcher's keys
// for action.failed events name the item's ID, so an ID must never come
// back. Keys are taken in write order (rowid), the oldest first, and
// only those written before the cut-off go: that reads at most Limit rows,
// where asking for every old key would read the whole table when none is.
func (s *sqliteStore) Prune(ctx context.Context, r Retention) (Pruned, error) {
	if s.closed() {
		return Pruned{}, errors.New("store: prune: sqlite store closed")
	}
	var out Pruned
	var deleted []string
	limit := r.limit()
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out, deleted = Pruned{}, nil
		if !r.FinishedBefore.IsZero() {
			rows, err := tx.QueryContext(ctx, `DELETE FROM sessions WHERE rowid IN (
				SELECT s.rowid FROM sessions s WHERE s.final = 1 AND s.updated_at < ?1
				AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.session = s.id AND o.status = 'pending')
				AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.session = s.id AND o.id = (SELECT max(id) FROM outbox))
				ORDER BY s.updated_at LIMIT ?2) RETURNING id`, r.FinishedBefore.UnixNano(), limit)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				deleted = append(deleted, id)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			out.Sessions = len(deleted)
		}
		if !r.KeysBefore.IsZero() {
			res, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE rowid IN (
				SELECT rowid FROM idempotency ORDER BY rowid LIMIT ?2) AND created_at < ?1`,
				r.KeysBefore.UnixNano(), limit)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			out.Keys = int(n)
		}
		return nil
	}, func() {
		s.cache.forget(deleted)
	})
	if err != nil {
		return Pruned{}, s.health.note(fmt.Errorf("store: prune: %w", err), false)
	}
	s.health.note(nil, out.Sessions+out.Keys > 0)
	return out, nil
}

// closed reports whether Close has stopped the writer (the cache must not
// answer for a closed store).
func (s *sqliteStore) closed() bool {
	select {
	case <-s.writer.stopped:
		return true
	default:
		return false
	}
}

func (s *sqliteStore) Ping(ctx context.Context) error {
	if s.closed() {
		return errors.New("store: ping sqlite: store closed")
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping sqlite: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping sqlite: %w", err)
	}
	return nil
}

// Close waits for the write in progress, then closes the pools (which also
// closes their prepared statements). Writes still waiting get an error.
func (s *sqliteStore) Close() error {
	if s.writer != nil {
		s.writer.close()
	}
	var errs []error
	for _, db := range []*sql.DB{s.r, s.cp} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	errs = append(errs, s.w.Close())
	if s.unlock != nil {
		errs = append(errs, s.unlock())
		s.unlock = nil
	}
	return errors.Join(errs...)
}

func (s *sqliteStore) SaveFlowRevision(ctx context.Context, r FlowRevision) error {
	if err := r.validate(); err != nil {
		return err
	}
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO flow_revisions (revision, name, file, source, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (revision) DO NOTHING`,
			r.Revision, r.Name, r.File, r.Source, time.Now().UnixNano())
		return err
	}, nil)
	if err != nil {
		return s.health.note(fmt.Errorf("store: save flow revision %.12s: %w", r.Revision, err), false)
	}
	return nil
}

func (s *sqliteStore) FlowRevision(ctx context.Context, revision string) (FlowRevision, error) {
	if s.closed() {
		return FlowRevision{}, errors.New("store: flow revision: sqlite store closed")
	}
	var (
		r       FlowRevision
		created int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT revision, name, file, source, created_at FROM flow_revisions WHERE revision = ?`,
		revision).Scan(&r.Revision, &r.Name, &r.File, &r.Source, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return FlowRevision{}, ErrNotFound
	}
	if err != nil {
		return FlowRevision{}, fmt.Errorf("store: flow revision %.12s: %w", revision, err)
	}
	r.CreatedAt = time.Unix(0, created).UTC()
	return r, nil
}
