package store

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// pgStore is the PostgreSQL Store, safe for several flowd replicas sharing
// one database: versions are checked with conditional UPDATEs (which wait on
// the row lock, so a loser sees the winner's version), and outbox claims use
// FOR UPDATE SKIP LOCKED.
type pgStore struct {
	pool   *connPool
	health writeHealth // see health.go
}

// WriteHealth says how the last writes went (readiness).
func (s *pgStore) WriteHealth() WriteHealth { return s.health.snapshot() }

// with runs fn on a pooled connection. If the session turned out ended
// before fn's statement ran (the server restarted, or an administrator
// ended the session, while the connection sat in the pool) fn runs again
// on another connection. A connection lost while a statement was under
// way is not retried: the statement may have committed.
func (s *pgStore) with(ctx context.Context, fn func(c *pgx.Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := s.pool.acquire(ctx)
		if err != nil {
			return err
		}
		err = fn(c)
		s.pool.release(c) // a closed connection is dropped, not pooled
		if err == nil || !sessionEnded(err) || attempt >= s.pool.max() || ctx.Err() != nil {
			return err
		}
	}
}

// begin starts a transaction on a pooled connection, passing over
// connections that turn out dead on BEGIN, before anything ran on them.
func (s *pgStore) begin(ctx context.Context) (*pgx.Conn, pgx.Tx, error) {
	for attempt := 0; ; attempt++ {
		c, err := s.pool.acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		tx, err := c.Begin(ctx)
		if err == nil {
			return c, tx, nil
		}
		s.pool.release(c)
		// BEGIN changes nothing: whatever broke the connection, run it
		// again on another.
		if !(c.IsClosed() || sessionEnded(err)) || attempt >= s.pool.max() || ctx.Err() != nil {
			return nil, nil, err
		}
	}
}

// sessionEnded reports an error that says the statement did not run: it
// failed before anything was sent, or the server had ended the session
// (SQLSTATE class 57P: admin_shutdown, crash_shutdown, cannot_connect_now;
// a session ended mid-statement rolls the statement back).
func sessionEnded(err error) bool {
	if pgconn.SafeToRetry(err) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "57P")
}

// pgRow defers acquiring a connection to Scan, so single-row queries read
// like pgx's QueryRow.
type pgRow struct {
	s    *pgStore
	ctx  context.Context
	sql  string
	args []any
}

func (r pgRow) Scan(dest ...any) error {
	return r.s.with(r.ctx, func(c *pgx.Conn) error {
		return c.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	})
}

func (s *pgStore) queryRow(ctx context.Context, sql string, args ...any) pgRow {
	return pgRow{s: s, ctx: ctx, sql: sql, args: args}
}

func (s *pgStore) exec(ctx context.Context, sql string, args ...any) (tag pgconn.CommandTag, err error) {
	err = s.with(ctx, func(c *pgx.Conn) error {
		tag, err = c.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}

// queryItems runs an outbox query and returns its rows in ID order
// (RETURNING order is unspecified).
func (s *pgStore) queryItems(ctx context.Context, sql string, args ...any) (items []OutboxItem, err error) {
	err = s.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		items, err = scanPgItems(rows)
		return err
	})
	slices.SortFunc(items, func(a, b OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
	return items, err
}

// OpenPostgres connects to PostgreSQL and applies pending migrations.
// Unknown URL query parameters are sent as session settings, so
// "?search_path=myschema" isolates a deployment (or a test) in its own
// schema; the schema must exist. pool_max_conns=N bounds the connections
// (default max(4, NumCPU)), as with pgxpool.
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	pool, err := newConnPool(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres config: %w", err)
	}
	s := &pgStore{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.close()
		return nil, err
	}
	return s, nil
}

// migrate applies pending migrations while holding a session-level advisory
// lock keyed by the current schema, so replicas starting together take turns
// and each migration runs exactly once.
func (s *pgStore) migrate(ctx context.Context) error {
	ms, err := loadMigrations(postgresMigrations, "migrations/postgres")
	if err != nil {
		return err
	}
	conn, err := s.pool.acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: postgres connect: %w", err)
	}
	defer s.pool.release(conn)
	const lockKey = `hashtextextended('flowd.store.migrate:' || coalesce(current_schema(), ''), 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		return fmt.Errorf("store: postgres migration lock: %w", err)
	}
	defer func() {
		// Unlock even if ctx is done; if this fails the connection is
		// broken and the server drops the lock with the session.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+lockKey+`)`)
	}()
	// Another tool's schema_migrations (golang-migrate's, Rails') in the
	// same schema would mix its versions with flowd's: refuse, and say so.
	var foreign string
	err = conn.QueryRow(ctx, `SELECT coalesce(string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position), '')
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'schema_migrations'`).Scan(&foreign)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store: postgres migrations table: %w", err)
	}
	if foreign != "" && foreign != "version text, applied_at timestamp with time zone" {
		return fmt.Errorf("store: postgres: the schema already has a table schema_migrations that is not flowd's (%s), probably another application's; give flowd a schema of its own (add search_path=flowd to FLOWD_STORE after CREATE SCHEMA flowd)", foreign)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    text        PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		if msg := noSchema(ctx, conn, err); msg != "" {
			return errors.New(msg)
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "25006" {
			return fmt.Errorf("store: postgres accepts no writes on this connection (a hot standby, or default_transaction_read_only): point FLOWD_STORE at the primary: %w", err)
		}
		if errors.As(err, &pe) && pe.Code == "42501" {
			return fmt.Errorf("store: postgres: flowd's user may not create its tables in the schema: GRANT USAGE, CREATE ON SCHEMA … TO it, or give it a schema of its own (search_path=flowd after CREATE SCHEMA flowd): %w", err)
		}
		return fmt.Errorf("store: postgres migrations table: %w", err)
	}
	for _, m := range ms {
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&done); err != nil {
			return fmt.Errorf("store: postgres migration %s: %w", m.version, err)
		}
		if done {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: postgres migration %s: %w", m.version, err)
		}
	}
	return nil
}

// noSchema explains SQLSTATE 3F000 (invalid_schema_name: "no schema has
// been selected to create in"), which is what PostgreSQL says when no
// schema of the search_path exists, typically search_path=flowd in
// FLOWD_STORE before anyone ran CREATE SCHEMA flowd. "" for another error.
func noSchema(ctx context.Context, conn *pgx.Conn, err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "3F000" {
		return ""
	}
	var path, db string
	if qerr := conn.QueryRow(context.WithoutCancel(ctx), `SELECT current_setting('search_path'), current_database()`).Scan(&path, &db); qerr != nil {
		path, db = conn.Config().RuntimeParams["search_path"], conn.Config().Database
	}
	schema := "flowd"
	for _, p := range strings.Split(path, ",") {
		if p = strings.TrimSpace(p); p != "" && p != `"$user"` && p != "$user" {
			schema = p
			break
		}
	}
	return fmt.Sprintf("store: postgres: no schema to create flowd's tables in: none of search_path %q exists in database %q; "+
		"run CREATE SCHEMA %s first (and grant flowd's user USAGE and CREATE on it), or point search_path at an existing schema (SQLSTATE 3F000)",
		path, db, schema)
}

const (
	pgSessionCols = `id, flow, revision, state, final, version, data, created_at, updated_at`
	pgOutboxCols  = `id, session, kind, payload, status, attempts, next_attempt, lease_owner, lease_until, last_error, result, created_at, claims, lane`
)

func (s *pgStore) Get(ctx context.Context, id string) (Session, error) {
	var ss Session
	err := s.queryRow(ctx, `SELECT `+pgSessionCols+` FROM sessions WHERE id = $1`, id).Scan(
		&ss.ID, &ss.Flow, &ss.Revision, &ss.State, &ss.Final, &ss.Version, &ss.Data, &ss.CreatedAt, &ss.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: get %s: %w", id, err)
	}
	ss.Data = nilIfEmpty(ss.Data)
	ss.CreatedAt, ss.UpdatedAt = utc(ss.CreatedAt), utc(ss.UpdatedAt)
	return ss, nil
}

func (s *pgStore) Resolve(ctx context.Context, alias string) (string, error) {
	var id *string
	err := s.queryRow(ctx, `SELECT COALESCE(
		(SELECT session FROM aliases WHERE alias = $1),
		(SELECT id FROM sessions WHERE id = $1))`, alias).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("store: resolve %s: %w", alias, err)
	}
	if id == nil {
		return "", ErrNotFound
	}
	return *id, nil
}

func (s *pgStore) Commit(ctx context.Context, c Commit) (int64, error) {
	if err := validate(&c); err != nil {
		return 0, err
	}
	v, err := s.commit(ctx, &c)
	if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrDuplicate) {
		err = fmt.Errorf("store: commit %s: %w", c.Session.ID, err)
	}
	return v, s.health.note(err, true)
}

// commit sends every statement in one batch (one round trip inside the
// transaction) and then inspects the results in order: the key insert and the
// session write decide; anything after a failed decision is rolled back.
func (s *pgStore) commit(ctx context.Context, c *Commit) (int64, error) {
	now := time.Now().UTC()
	ss := &c.Session
	nh := int64(len(c.History))

	b := &pgx.Batch{}
	if c.IdempotencyKey != "" {
		b.Queue(`INSERT INTO idempotency (key, session, reply, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (key) DO NOTHING`, c.IdempotencyKey, ss.ID, c.Reply, now)
	}
	updated := orNow(ss.UpdatedAt, now)
	if ss.Version == 0 {
		b.Queue(`INSERT INTO sessions (id, flow, revision, state, final, version, data, last_seq, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
			ss.ID, ss.Flow, ss.Revision, ss.State, ss.Final, ss.Data, nh, orNow(ss.CreatedAt, now), updated)
	} else {
		b.Queue(`UPDATE sessions SET flow = $2, revision = $3, state = $4, final = $5, data = $6, updated_at = $7,
			version = version + 1, last_seq = last_seq + $8 WHERE id = $1 AND version = $9`,
			ss.ID, ss.Flow, ss.Revision, ss.State, ss.Final, ss.Data, updated, nh, ss.Version)
	}
	if aliases := dedupe(c.Aliases); len(aliases) > 0 {
		// Sorted so concurrent commits moving the same aliases lock them
		// in the same order and cannot deadlock.
		slices.Sort(aliases)
		b.Queue(`INSERT INTO aliases (alias, session) SELECT a, $1 FROM unnest($2::text[]) AS a
			ON CONFLICT (alias) DO UPDATE SET session = EXCLUDED.session WHERE aliases.session <> EXCLUDED.session`,
			ss.ID, aliases)
	}
	if nh > 0 {
		queueHistory(b, ss.ID, nh, c.History, now)
	}
	if len(c.Outbox) > 0 {
		kinds := make([]string, len(c.Outbox))
		lanes := make([]string, len(c.Outbox))
		payloads := make([][]byte, len(c.Outbox))
		next := make([]time.Time, len(c.Outbox))
		created := make([]time.Time, len(c.Outbox))
		for i, it := range c.Outbox {
			kinds[i], lanes[i], payloads[i] = it.Kind, it.Lane, it.Payload
			next[i], created[i] = orNow(it.NextAttempt, now), orNow(it.CreatedAt, now)
		}
		// ORDER BY ordinality: IDs follow the order of c.Outbox.
		b.Queue(`INSERT INTO outbox (session, kind, lane, payload, next_attempt, created_at)
			SELECT $1, u.k, u.l, u.p, u.n, u.c
			FROM unnest($2::text[], $3::text[], $4::bytea[], $5::timestamptz[], $6::timestamptz[]) WITH ORDINALITY AS u(k, l, p, n, c, o)
			ORDER BY u.o`, ss.ID, kinds, lanes, payloads, next, created)
	}

	conn, tx, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer s.pool.release(conn)
	defer tx.Rollback(context.WithoutCancel(ctx))
	err = func() error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		decided := 1 // statements whose results are inspected below
		if c.IdempotencyKey != "" {
			decided++
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return ErrDuplicate
			}
		}
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrConflict
		}
		for i := decided; i < b.Len(); i++ {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return br.Close()
	}()
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return ss.Version + 1, nil
}

// queueHistory queues one INSERT for all entries. Their seqs are computed in
// SQL from sessions.last_seq, which the session write earlier in the same
// transaction has already raised by n (and whose row lock it holds), so they
// are last_seq-n+1 .. last_seq.
func queueHistory(b *pgx.Batch, session string, n int64, entries []HistoryEntry, now time.Time) {
	at, kinds, data := historyArrays(entries, now)
	b.Queue(`INSERT INTO history (session, seq, at, kind, data)
		SELECT $1, s.last_seq - $2::bigint + u.o, u.a, u.k, u.d
		FROM sessions s, unnest($3::timestamptz[], $4::text[], $5::bytea[]) WITH ORDINALITY AS u(a, k, d, o)
		WHERE s.id = $1`, session, n, at, kinds, data)
}

func historyArrays(entries []HistoryEntry, now time.Time) ([]time.Time, []string, [][]byte) {
	at := make([]time.Time, len(entries))
	kinds := make([]string, len(entries))
	data := make([][]byte, len(entries))
	for i, e := range entries {
		at[i], kinds[i], data[i] = orNow(e.At, now), e.Kind, e.Data
	}
	return at, kinds, data
}

func (s *pgStore) Reply(ctx context.Context, key string) ([]byte, bool, error) {
	var r []byte
	err := s.queryRow(ctx, `SELECT reply FROM idempotency WHERE key = $1`, key).Scan(&r)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: reply: %w", err)
	}
	return nilIfEmpty(r), true, nil
}

// AppendHistory bumps last_seq and inserts the entries in one statement; the
// UPDATE's row lock orders it against commits and other appends.
func (s *pgStore) AppendHistory(ctx context.Context, session string, entries ...HistoryEntry) error {
	if len(entries) == 0 {
		var ok bool
		if err := s.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)`, session).Scan(&ok); err != nil {
			return fmt.Errorf("store: append history %s: %w", session, err)
		}
		if !ok {
			return ErrNotFound
		}
		return nil
	}
	at, kinds, data := historyArrays(entries, time.Now().UTC())
	tag, err := s.exec(ctx, `WITH s AS (
			UPDATE sessions SET last_seq = last_seq + $2::bigint WHERE id = $1 RETURNING last_seq)
		INSERT INTO history (session, seq, at, kind, data)
		SELECT $1, s.last_seq - $2::bigint + u.o, u.a, u.k, u.d
		FROM s, unnest($3::timestamptz[], $4::text[], $5::bytea[]) WITH ORDINALITY AS u(a, k, d, o)`,
		session, int64(len(entries)), at, kinds, data)
	if err != nil {
		return s.health.note(fmt.Errorf("store: append history %s: %w", session, err), false)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	s.health.note(nil, true)
	return nil
}

func (s *pgStore) History(ctx context.Context, session string, after int64, limit int) ([]HistoryEntry, error) {
	lim := int64(math.MaxInt64)
	if limit > 0 {
		lim = int64(limit)
	}
	var out []HistoryEntry
	err := s.with(ctx, func(c *pgx.Conn) error {
		out = out[:0] // from the start again if with runs this twice
		rows, err := c.Query(ctx, `SELECT session, seq, at, kind, data FROM history
			WHERE session = $1 AND seq > $2 ORDER BY seq LIMIT $3`, session, after, lim)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e HistoryEntry
			if err := rows.Scan(&e.Session, &e.Seq, &e.At, &e.Kind, &e.Data); err != nil {
				return err
			}
			e.At, e.Data = utc(e.At), nilIfEmpty(e.Data)
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: history %s: %w", session, err)
	}
	return out, nil
}

func scanPgItems(rows pgx.Rows) ([]OutboxItem, error) {
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var (
			it         OutboxItem
			status     string
			leaseUntil *time.Time
		)
		if err := rows.Scan(&it.ID, &it.Session, &it.Kind, &it.Payload, &status, &it.Attempts, &it.NextAttempt,
			&it.LeaseOwner, &leaseUntil, &it.LastError, &it.Result, &it.CreatedAt, &it.Claims, &it.Lane); err != nil {
			return nil, err
		}
		it.Status = OutboxStatus(status)
		if leaseUntil != nil {
			it.LeaseUntil = utc(*leaseUntil)
		}
		it.NextAttempt, it.CreatedAt = utc(it.NextAttempt), utc(it.CreatedAt)
		it.Payload, it.Result = nilIfEmpty(it.Payload), nilIfEmpty(it.Result)
		out = append(out, it)
	}
	return out, rows.Err()
}

// ClaimOutbox is one statement. The inner SELECT picks session heads (no
// lower pending id in the same session and lane) and locks them, skipping rows another
// replica is claiming right now; a row changed and committed by another
// claimer since our snapshot is re-checked against the lease condition after
// locking, so it is not claimed twice. A later item of a session can only
// qualify once its predecessor is committed as sent/failed, so one session
// never has two items of one lane in flight.
func (s *pgStore) ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]OutboxItem, error) {
	if owner == "" {
		return nil, errors.New("store: claim: empty owner")
	}
	lim := int64(math.MaxInt64)
	if limit > 0 {
		lim = int64(limit)
	}
	items, err := s.queryItems(ctx, `UPDATE outbox SET lease_owner = $1, lease_until = $2, claims = claims + 1
		WHERE id IN (
			SELECT o.id FROM outbox o
			WHERE o.status = 'pending' AND o.next_attempt <= $3
			  AND (o.lease_until IS NULL OR o.lease_until <= $3)
			  AND NOT EXISTS (SELECT 1 FROM outbox p
			                  WHERE p.status = 'pending' AND p.session = o.session AND p.id < o.id
			                    -- the empty lane (a flowd from before lanes) keeps
			                    -- strict order with every lane of its session
			                    AND (p.lane = o.lane OR p.lane = '' OR o.lane = ''))
			ORDER BY o.id
			LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING `+pgOutboxCols, owner, now.Add(lease).UTC(), now.UTC(), lim)
	if err != nil {
		return nil, s.health.note(fmt.Errorf("store: claim outbox: %w", err), false)
	}
	// Even an empty claim is an UPDATE PostgreSQL runs: a standby or a
	// read-only server refuses it with no row to change. So it proves the
	// store writes again, and the dispatcher's poll makes a replica ready
	// again after a blip though no webhook reaches it while unready.
	s.health.note(nil, true)
	return items, nil
}

// settle runs one owner-checked outbox update and tells a vanished item
// (ErrNotFound) from a lost lease (ErrConflict).
func (s *pgStore) settle(ctx context.Context, op string, id int64, query string, args ...any) error {
	tag, err := s.exec(ctx, query, args...)
	if err != nil {
		return s.health.note(fmt.Errorf("store: %s %d: %w", op, id, err), false)
	}
	if tag.RowsAffected() > 0 {
		s.health.note(nil, true)
		return nil
	}
	var ok bool
	if err := s.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE id = $1)`, id).Scan(&ok); err != nil {
		return fmt.Errorf("store: %s %d: %w", op, id, err)
	}
	if !ok {
		return ErrNotFound
	}
	return ErrConflict
}

func (s *pgStore) MarkSent(ctx context.Context, id int64, owner string, result []byte) error {
	return s.settle(ctx, "mark sent", id, `UPDATE outbox SET status = 'sent', result = $3, lease_owner = '', lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND $2 <> '' AND status = 'pending'`, id, owner, result)
}

func (s *pgStore) Retry(ctx context.Context, id int64, owner string, next time.Time, lastErr string) error {
	return s.settle(ctx, "retry", id, `UPDATE outbox SET attempts = attempts + 1, next_attempt = $3, last_error = $4,
		lease_owner = '', lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND $2 <> '' AND status = 'pending'`, id, owner, orNow(next, time.Now()), lastErr)
}

func (s *pgStore) MarkFailed(ctx context.Context, id int64, owner string, lastErr string, result []byte) error {
	return s.settle(ctx, "mark failed", id, `UPDATE outbox SET status = 'failed', last_error = $3, result = $4,
		lease_owner = '', lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND $2 <> '' AND status = 'pending'`, id, owner, lastErr, result)
}

func (s *pgStore) Outbox(ctx context.Context, session string) ([]OutboxItem, error) {
	items, err := s.queryItems(ctx, `SELECT `+pgOutboxCols+` FROM outbox WHERE session = $1 ORDER BY id`, session)
	if err != nil {
		return nil, fmt.Errorf("store: outbox %s: %w", session, err)
	}
	return items, nil
}

func (s *pgStore) Pending(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: pending: %w", err)
	}
	return n, nil
}

func (s *pgStore) Live(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM sessions WHERE NOT final`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: live: %w", err)
	}
	return n, nil
}

func (s *pgStore) LiveSessions(ctx context.Context, f LiveFilter) ([]Session, error) {
	out := []Session{}
	err := s.with(ctx, func(c *pgx.Conn) error {
		out = out[:0] // from the start again if with runs this twice
		rows, err := c.Query(ctx, `SELECT `+pgSessionCols+` FROM sessions
			WHERE NOT final AND id > $1 AND ($2 = '' OR flow = $2) AND ($3 = '' OR state = $3)
			ORDER BY id LIMIT $4`, f.After, f.Flow, f.State, f.limit())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ss Session
			if err := rows.Scan(&ss.ID, &ss.Flow, &ss.Revision, &ss.State, &ss.Final, &ss.Version, &ss.Data, &ss.CreatedAt, &ss.UpdatedAt); err != nil {
				return err
			}
			ss.Data = nilIfEmpty(ss.Data)
			ss.CreatedAt, ss.UpdatedAt = utc(ss.CreatedAt), utc(ss.UpdatedAt)
			out = append(out, ss)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: live sessions: %w", err)
	}
	return out, nil
}

// Prune deletes in two statements of their own; the cascade from sessions
// removes their aliases, history and outbox items. SKIP LOCKED lets
// replicas prune at the same time without waiting on each other.
func (s *pgStore) Prune(ctx context.Context, r Retention) (Pruned, error) {
	var out Pruned
	limit := r.limit()
	if !r.FinishedBefore.IsZero() {
		tag, err := s.exec(ctx, `DELETE FROM sessions WHERE id IN (
			SELECT s.id FROM sessions s WHERE s.final AND s.updated_at < $1
			AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.session = s.id AND o.status = 'pending')
			ORDER BY s.updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, r.FinishedBefore, limit)
		if err != nil {
			return out, s.health.note(fmt.Errorf("store: prune sessions: %w", err), false)
		}
		out.Sessions = int(tag.RowsAffected())
	}
	if !r.KeysBefore.IsZero() {
		tag, err := s.exec(ctx, `DELETE FROM idempotency WHERE key IN (
			SELECT key FROM idempotency WHERE created_at < $1
			ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, r.KeysBefore, limit)
		if err != nil {
			return out, s.health.note(fmt.Errorf("store: prune keys: %w", err), false)
		}
		out.Keys = int(tag.RowsAffected())
	}
	s.health.note(nil, out.Sessions+out.Keys > 0)
	return out, nil
}

func (s *pgStore) Ping(ctx context.Context) error {
	if err := s.with(ctx, func(c *pgx.Conn) error { return c.Ping(ctx) }); err != nil {
		return fmt.Errorf("store: ping postgres: %w", err)
	}
	return nil
}

func (s *pgStore) Close() error {
	s.pool.close()
	return nil
}

func (s *pgStore) SaveFlowRevision(ctx context.Context, r FlowRevision) error {
	if err := r.validate(); err != nil {
		return err
	}
	if _, err := s.exec(ctx, `INSERT INTO flow_revisions (revision, name, file, source, created_at)
		VALUES ($1, $2, $3, $4, now()) ON CONFLICT (revision) DO NOTHING`,
		r.Revision, r.Name, r.File, r.Source); err != nil {
		return s.health.note(fmt.Errorf("store: save flow revision %.12s: %w", r.Revision, err), false)
	}
	return nil
}

func (s *pgStore) FlowRevision(ctx context.Context, revision string) (FlowRevision, error) {
	var r FlowRevision
	err := s.queryRow(ctx, `SELECT revision, name, file, source, created_at FROM flow_revisions WHERE revision = $1`,
		revision).Scan(&r.Revision, &r.Name, &r.File, &r.Source, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return FlowRevision{}, ErrNotFound
	}
	if err != nil {
		return FlowRevision{}, fmt.Errorf("store: flow revision %.12s: %w", revision, err)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}
