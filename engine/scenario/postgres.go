package scenario

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

var schemaSeq atomic.Int64

// PostgresSchema returns an Options.StoreDSN that gives each scenario a
// schema of its own on the PostgreSQL server at base (its search_path), and
// drops it afterwards, so runs on one database never see each other.
func PostgresSchema(base, prefix string) func() (string, func(), error) {
	return func() (string, func(), error) {
		ctx := context.Background()
		schema := fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano(), schemaSeq.Add(1))
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return "", nil, err
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			return "", nil, err
		}
		u, err := url.Parse(base)
		if err != nil {
			return "", nil, err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		drop := func() {
			if c, err := pgx.Connect(ctx, base); err == nil {
				_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
				c.Close(ctx)
			}
		}
		return u.String(), drop, nil
	}
}
