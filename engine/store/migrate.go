package store

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// migration is one embedded schema change. Files are named NNNN_what.sql and
// applied in name order; the name without ".sql" is the version recorded in
// schema_migrations, so a file must never be renamed or edited once released.
type migration struct {
	version string
	sql     string
}

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := make([]migration, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", name, err)
		}
		out = append(out, migration{
			version: strings.TrimSuffix(path.Base(name), ".sql"),
			sql:     string(b),
		})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("store: no migrations in %s", dir)
	}
	return out, nil
}
