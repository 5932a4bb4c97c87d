package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}

func openSQLite(t testing.TB) store.Store {
	s, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "flowd.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openSQLite(t) })
}

// TestSQLiteDurable: what was committed is there after Close and reopen,
// and reopening does not re-run migrations.
func TestSQLiteDurable(t *testing.T) {
	ctx := t.Context()
	// OpenSQLite takes any file name (Open refuses '?': TestOpenDSN).
	path := filepath.Join(t.TempDir(), "dir with space", "f?#%.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Commit(ctx, store.Commit{
		Session:        store.Session{ID: "CA1", Flow: "f", Revision: "r", State: "s", Data: []byte(`{"a":1}`)},
		Aliases:        []string{"WT1"},
		History:        []store.HistoryEntry{{Kind: "event"}},
		Outbox:         []store.OutboxItem{{Kind: "x", Payload: []byte(`{}`)}},
		IdempotencyKey: "k1",
		Reply:          []byte(`"ok"`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not at the literal path: %v", err)
	}

	s, err = store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Get(ctx, "CA1")
	if err != nil || got.Version != 1 || string(got.Data) != `{"a":1}` {
		t.Fatalf("Get after reopen = %+v, %v", got, err)
	}
	if id, err := s.Resolve(ctx, "WT1"); err != nil || id != "CA1" {
		t.Fatalf("Resolve after reopen = %q, %v", id, err)
	}
	if h, err := s.History(ctx, "CA1", 0, 0); err != nil || len(h) != 1 {
		t.Fatalf("History after reopen = %+v, %v", h, err)
	}
	if o, err := s.Outbox(ctx, "CA1"); err != nil || len(o) != 1 || o[0].Status != store.OutboxPending {
		t.Fatalf("Outbox after reopen = %+v, %v", o, err)
	}
	if r, found, err := s.Reply(ctx, "k1"); err != nil || !found || string(r) != `"ok"` {
		t.Fatalf("Reply after reopen = %q, %v, %v", r, found, err)
	}
	// Seqs and IDs continue where they were.
	got.State = "next"
	if _, err := s.Commit(ctx, store.Commit{Session: got, History: []store.HistoryEntry{{Kind: "event"}},
		Outbox: []store.OutboxItem{{Kind: "y"}}}); err != nil {
		t.Fatal(err)
	}
	h, _ := s.History(ctx, "CA1", 0, 0)
	o, _ := s.Outbox(ctx, "CA1")
	if len(h) != 2 || h[1].Seq != 2 || len(o) != 2 || o[1].ID <= o[0].ID {
		t.Fatalf("after reopen and commit: history %+v outbox %+v", h, o)
	}
}

func TestOpenDSN(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, "memory:")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, dsn := range []string{"", "mysql://user:secret@host/db", "sqlite:", "foo"} {
		_, err := store.Open(ctx, dsn)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("Open(%q) error leaks the DSN: %v", dsn, err)
		}
		if dsn != "sqlite:" && !strings.Contains(err.Error(), "postgres://") {
			t.Fatalf("Open(%q) error does not name the accepted forms: %v", dsn, err)
		}
	}
}

// TestOpenSQLiteDSN: a SQLite URI or "?" options after "sqlite:" are
// refused with what to write instead, and no file is created (the path
// used to be taken literally: b.db?cache=shared).
func TestOpenSQLiteDSN(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ dsn, want string }{
		{"sqlite:" + dir + "/b.db?cache=shared", `"sqlite:` + dir + `/b.db"`},
		{"sqlite:" + dir + "/b.db?_pragma=busy_timeout(1)&mode=rwc", "not supported"},
		{"sqlite:file:" + dir + "/x.db", `"sqlite:` + dir + `/x.db"`},
		{"sqlite:file://" + dir + "/x.db?mode=ro", "not a SQLite URI"},
	} {
		s, err := store.Open(t.Context(), tc.dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", tc.dsn)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "plain") {
			t.Errorf("Open(%q) = %v; want it to ask for a plain path (%s)", tc.dsn, err, tc.want)
		}
	}
	if files, _ := os.ReadDir(dir); len(files) > 0 {
		t.Errorf("refused DSNs left files: %v", files)
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://flowd:hunter2@db/flowd", "postgres://flowd:xxxxx@db/flowd"},
		{"postgresql://flowd:hunter2@db:5433/flowd?sslmode=require&search_path=flowd", "postgresql://flowd:xxxxx@db:5433/flowd?sslmode=require&search_path=flowd"},
		{"postgres://flowd@db/flowd?password=hunter2", "postgres://flowd@db/flowd?password=xxxxx"},
		{"postgres://flowd@db/flowd", "postgres://flowd@db/flowd"},
		{"postgres://flowd:hunter2@db/%zz", "postgres://…"},
		{"sqlite:flowd.db", "sqlite:flowd.db"},
		{"memory:", "memory:"},
		{"mysql://u:hunter2@h/db", "mysql:…"},
		{"hunter2", "…"},
	} {
		if got := store.Redact(tc.dsn); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}

func TestMemoryClosed(t *testing.T) {
	s := store.NewMemory()
	s.Close()
	if _, err := s.Get(t.Context(), "x"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Close = %v, want an error", err)
	}
}

// postgresDSN returns a DSN for a fresh schema that is dropped when the test
// ends, or skips the test.
func postgresDSN(t testing.TB) string {
	base := os.Getenv("FLOWD_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("FLOWD_TEST_POSTGRES_DSN not set: e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "flowd_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", base, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("FLOWD_TEST_POSTGRES_DSN must be a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestPostgres(t *testing.T) {
	postgresDSN(t) // skip early, before any subtest
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.Open(t.Context(), postgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestPostgresSurvivesKilledSessions: after the server ends the pool's
// sessions (a restart, pg_terminate_backend), the next reads and commits
// go through on new connections instead of failing once per dead one.
func TestPostgresSurvivesKilledSessions(t *testing.T) {
	dsn := postgresDSN(t)
	u, _ := url.Parse(dsn)
	app := "flowd_kill_" + strings.TrimPrefix(u.Query().Get("search_path"), "flowd_test_")
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	ctx := t.Context()
	s, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Commit(ctx, store.Commit{Session: store.Session{ID: "CA1", Flow: "f", Revision: "r", State: "s"}}); err != nil {
		t.Fatal(err)
	}
	// Several connections in the pool, all idle.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := s.Get(ctx, "CA1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	admin, err := pgx.Connect(ctx, os.Getenv("FLOWD_TEST_POSTGRES_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("no session of the store's pool to end")
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping after %d sessions were ended: %v", killed, err)
	}
	ss, err := s.Get(ctx, "CA1")
	if err != nil {
		t.Fatalf("get after the sessions were ended: %v", err)
	}
	if _, err := s.Commit(ctx, store.Commit{Session: ss}); err != nil {
		t.Errorf("commit after the sessions were ended: %v", err)
	}
}

// TestPostgresForeignMigrationsTable: a schema that holds another tool's
// schema_migrations is refused with what to do, not with a type error.
func TestPostgresForeignMigrationsTable(t *testing.T) {
	dsn := postgresDSN(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, dsn)
	if err == nil {
		s.Close()
		t.Fatal("flowd migrated a schema holding another tool's schema_migrations")
	}
	if !strings.Contains(err.Error(), "not flowd's") || !strings.Contains(err.Error(), "search_path") {
		t.Errorf("open: %v; want it to say the table is another tool's and how to give flowd its own schema", err)
	}
}

// TestPostgresMissingSchema: search_path naming a schema nobody created is
// refused with the CREATE SCHEMA to run, not with PostgreSQL's "no schema
// has been selected to create in", and nothing is created elsewhere.
func TestPostgresMissingSchema(t *testing.T) {
	base := os.Getenv("FLOWD_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("FLOWD_TEST_POSTGRES_DSN not set")
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "flowd_missing_" + hex.EncodeToString(b[:])
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := store.Open(t.Context(), u.String())
	if err == nil {
		s.Close()
		t.Fatalf("opened a store in schema %s, which does not exist", schema)
	}
	for _, want := range []string{"CREATE SCHEMA " + schema, `search_path "` + schema + `"`, "3F000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("open: %v\nwant it to say %q", err, want)
		}
	}
}

// TestPostgresReadOnlyServer: a server that accepts no writes (a hot
// standby; here default_transaction_read_only) is refused at open with
// what to point FLOWD_STORE at.
func TestPostgresReadOnlyServer(t *testing.T) {
	dsn := postgresDSN(t)
	s, err := store.Open(t.Context(), dsn) // migrated while writable
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("default_transaction_read_only", "on")
	u.RawQuery = q.Encode()
	s, err = store.Open(t.Context(), u.String())
	if err == nil {
		s.Close()
		t.Fatal("opened a store on a read-only server")
	}
	if !strings.Contains(err.Error(), "primary") || !store.IsReadOnly(err) {
		t.Errorf("open: %v; want it to say to use the primary, as an error IsReadOnly knows", err)
	}
}

// TestPostgresConcurrentOpen: replicas starting together migrate once.
func TestPostgresConcurrentOpen(t *testing.T) {
	dsn := postgresDSN(t)
	var wg sync.WaitGroup
	stores := make([]store.Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = store.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	// One replica writes, another reads.
	if _, err := stores[0].Commit(t.Context(), store.Commit{Session: store.Session{ID: "CA1", State: "s"}}); err != nil {
		t.Fatal(err)
	}
	if s, err := stores[3].Get(t.Context(), "CA1"); err != nil || s.Version != 1 {
		t.Fatalf("Get from another replica = %+v, %v", s, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Each migration recorded once, however many replicas raced to apply it.
	files, err := filepath.Glob("migrations/postgres/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v, %v", files, err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(files) {
		t.Fatalf("schema_migrations rows = %d, %v; want %d", n, err, len(files))
	}
}

// TestWriteHealth: a store that answers but cannot write says so in its
// WriteHealth, for readiness; a version conflict or a duplicate key is
// not a failure, a success clears the failure, and an old failure with
// nothing since does not count.
func TestWriteHealth(t *testing.T) {
	for _, tc := range []struct {
		name       string
		open       func(t *testing.T) (s store.Store, admin func(q string))
		block, fix string
	}{
		{"sqlite", func(t *testing.T) (store.Store, func(string)) {
			path := filepath.Join(t.TempDir(), "h.db")
			s, err := store.Open(t.Context(), "sqlite:"+path)
			if err != nil {
				t.Fatal(err)
			}
			shell, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { shell.Close() })
			return s, func(q string) {
				if _, err := shell.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
		}, `CREATE TRIGGER refuse BEFORE UPDATE ON sessions BEGIN SELECT RAISE(ABORT, 'writes refused'); END;
			CREATE TRIGGER refuse_new BEFORE INSERT ON sessions BEGIN SELECT RAISE(ABORT, 'writes refused'); END`,
			`DROP TRIGGER refuse; DROP TRIGGER refuse_new`},
		{"postgres", func(t *testing.T) (store.Store, func(string)) {
			dsn := postgresDSN(t)
			s, err := store.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close(context.Background()) })
			return s, func(q string) {
				if _, err := conn.Exec(t.Context(), q); err != nil {
					t.Fatal(err)
				}
			}
		}, `ALTER TABLE sessions ADD CONSTRAINT writes_refused CHECK (false) NOT VALID`,
			`ALTER TABLE sessions DROP CONSTRAINT writes_refused`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, admin := tc.open(t)
			defer s.Close()
			wh, ok := s.(store.WriteHealthReporter)
			if !ok {
				t.Fatalf("%T keeps no write health", s)
			}
			ctx := t.Context()
			const window = 30 * time.Second
			failing := func() bool { return wh.WriteHealth().Failing(time.Now(), window) }
			ss := store.Session{ID: "CA1", Flow: "f", Revision: "r", State: "s"}
			v, err := s.Commit(ctx, store.Commit{Session: ss, IdempotencyKey: "k1"})
			if err != nil {
				t.Fatal(err)
			}
			if h := wh.WriteHealth(); h.LastOK.IsZero() || failing() {
				t.Fatalf("after a commit: %+v", h)
			}
			// Answers, not failures.
			if _, err := s.Commit(ctx, store.Commit{Session: ss}); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("stale commit: %v", err)
			}
			ss.Version = v
			if _, err := s.Commit(ctx, store.Commit{Session: ss, IdempotencyKey: "k1"}); !errors.Is(err, store.ErrDuplicate) {
				t.Fatalf("repeated key: %v", err)
			}
			if err := s.MarkSent(ctx, 12345, "me", nil); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown item: %v", err)
			}
			if h := wh.WriteHealth(); failing() || !h.LastFailed.IsZero() {
				t.Fatalf("a conflict, a duplicate or an unknown item counted as a failure: %+v", h)
			}

			admin(tc.block)
			if _, err := s.Commit(ctx, store.Commit{Session: ss}); err == nil {
				t.Fatal("a commit went through the refusal")
			}
			h := wh.WriteHealth()
			if !failing() || h.LastError == "" {
				t.Fatalf("after a failed commit: %+v", h)
			}
			if h.Failing(h.LastFailed.Add(window), window) {
				t.Fatalf("a failure %s old with nothing since still counts", window)
			}
			// On SQLite a claim that finds nothing succeeds even on a full
			// disk: it does not clear the failure. PostgreSQL runs the
			// claim's UPDATE even with no row to change, and a standby
			// refuses it: there, it shows the store writes again (the
			// dispatcher's poll readies a replica no webhook reaches).
			if _, err := s.ClaimOutbox(ctx, "me", time.Now(), time.Minute, 10); err != nil {
				t.Fatal(err)
			}
			if clears := tc.name == "postgres"; failing() == clears {
				t.Fatalf("an empty claim: failing %v, want %v", failing(), !clears)
			}
			if tc.name == "postgres" {
				admin(tc.fix)
				return
			}

			admin(tc.fix)
			if _, err := s.Commit(ctx, store.Commit{Session: ss}); err != nil {
				t.Fatal(err)
			}
			if failing() {
				t.Fatalf("still failing after a commit went through: %+v", wh.WriteHealth())
			}
		})
	}
}

// TestSQLiteReadOnlyFile: a SQLite file flowd may not write opens (there
// is nothing to migrate) and fails every write with an error IsReadOnly
// knows, which WriteHealth shows. The file is made read-only the way
// SQLite itself honours whoever runs the test, root included: a file
// format write version above 2 in its header (byte 18).
func TestSQLiteReadOnlyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.db")
	s, err := store.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	makeReadOnly(t, path)
	s, err = store.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	_, err = s.ClaimOutbox(t.Context(), "me", time.Now(), time.Minute, 10)
	if err == nil || !store.IsReadOnly(err) {
		t.Fatalf("claim on a read-only file: %v; want an error IsReadOnly knows", err)
	}
	if h := s.(store.WriteHealthReporter).WriteHealth(); !h.Failing(time.Now(), time.Minute) || !strings.Contains(h.LastError, "readonly") {
		t.Fatalf("write health: %+v", h)
	}
	if store.IsReadOnly(errors.New("attempt to write a readonly database")) || store.IsReadOnly(store.ErrConflict) {
		t.Fatal("IsReadOnly goes by SQLite's and PostgreSQL's codes, not by words")
	}
}

// makeReadOnly sets a SQLite file's format write version to 3, which
// SQLite opens for reading only.
func makeReadOnly(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{3}, 18); err != nil {
		t.Fatal(err)
	}
}

// TestSQLiteOneProcess: a SQLite file serves one store at a time; a second
// open fails and says why, and the file is free again once the first store
// is closed.
func TestSQLiteOneProcess(t *testing.T) {
	ctx := t.Context()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "one.db")
	a, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := store.Open(ctx, dsn); err == nil {
		b.Close()
		t.Fatal("a second store opened the same SQLite file")
	} else if !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("second open: %v; want it to say the file is in use and what to use instead", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open after the first store closed: %v", err)
	}
	b.Close()
}

// TestSQLiteOneProcessThroughALink: the same file reached through a
// symbolic link to it, or to its directory, is the same file.
func TestSQLiteOneProcessThroughALink(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "dirlink")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	// The first store creates the file through the directory's link.
	a, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "dirlink", "one.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := os.Symlink(filepath.Join(real, "one.db"), filepath.Join(dir, "filelink.db")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(real, "one.db"), filepath.Join(dir, "filelink.db")} {
		if b, err := store.Open(ctx, "sqlite:"+path); err == nil {
			b.Close()
			t.Errorf("a second store opened the file through %s", path)
		} else if !strings.Contains(err.Error(), "in use by another process") {
			t.Errorf("second open through %s: %v", path, err)
		}
	}
}

// TestSQLiteEditedBehindItsBack: the SQLite store caches what it committed;
// when something else writes the file (an operator's sqlite3 shell), a
// session read stale from the cache loses its commit with ErrConflict and
// the next read is fresh, and the writer's next transaction drops the
// whole cache (aliases included).
func TestSQLiteEditedBehindItsBack(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	shell, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer shell.Close()

	for _, c := range []store.Commit{
		{Session: store.Session{ID: "CA1", Flow: "f", Revision: "r", State: "one"}, Aliases: []string{"WT1"}},
		{Session: store.Session{ID: "CA2", Flow: "f", Revision: "r", State: "s"}},
	} {
		if _, err := a.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := a.Get(ctx, "CA1"); err != nil || got.State != "one" {
		t.Fatalf("a.Get = %+v, %v", got, err)
	}
	for _, q := range []string{
		`UPDATE sessions SET state = 'two', version = 2 WHERE id = 'CA1'`,
		`UPDATE aliases SET session = 'CA2' WHERE alias = 'WT1'`,
	} {
		if _, err := shell.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	stale, err := a.Get(ctx, "CA1")
	if err != nil {
		t.Fatal(err)
	}
	if stale.Version != 1 {
		t.Fatalf("a.Get = version %d; the test expects the cached (stale) version 1", stale.Version)
	}
	stale.State = "three"
	if _, err := a.Commit(ctx, store.Commit{Session: stale}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("commit on a stale read: %v, want ErrConflict", err)
	}
	fresh, err := a.Get(ctx, "CA1")
	if err != nil || fresh.State != "two" || fresh.Version != 2 {
		t.Fatalf("a.Get after the conflict = %+v, %v; want state two, version 2", fresh, err)
	}
	if id, err := a.Resolve(ctx, "WT1"); err != nil || id != "CA2" {
		t.Fatalf("a.Resolve(WT1) after its writer saw the edit = %q, %v; want CA2", id, err)
	}
}
