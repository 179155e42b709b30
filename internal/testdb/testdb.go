// Package testdb opens the databases the SQL tests run against: SQLite in
// a temporary file always (the pure-Go modernc.org/sqlite), and PostgreSQL
// when CONVEYOR_TEST_POSTGRES holds a DSN. .ci/postgres starts a server and
// prints one, and .ci/run always sets it, so CI tests both.
package testdb

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	_ "modernc.org/sqlite"             // the "sqlite" driver
)

// PostgresEnv names the variable that holds the PostgreSQL DSN.
const PostgresEnv = "CONVEYOR_TEST_POSTGRES"

// DB is one database to test against.
type DB struct {
	Name string // "sqlite" or "postgres"
	*sql.DB
	Dollar bool // placeholders are $1, $2, ... rather than ?
}

// Open returns the databases to test against, closed when t ends.
func Open(t testing.TB) []DB {
	t.Helper()
	lite, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	dbs := []DB{{Name: "sqlite", DB: lite}}
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		t.Logf("%s is not set: PostgreSQL is not tested (.ci/run sets it)", PostgresEnv)
		return dbs
	}
	pg, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	if err := pg.Ping(); err != nil {
		t.Fatalf("PostgreSQL at %s: %v", PostgresEnv, err)
	}
	return append(dbs, DB{Name: "postgres", DB: pg, Dollar: true})
}

// Exec runs statements on db, failing t on the first error.
func (db DB) Exec(t testing.TB, statements ...string) {
	t.Helper()
	for _, s := range statements {
		if _, err := db.DB.Exec(s); err != nil {
			t.Fatalf("%s: %s: %v", db.Name, s, err)
		}
	}
}

// Count returns the number of rows of table.
func (db DB) Count(t testing.TB, table string) (n int) {
	t.Helper()
	if err := db.QueryRow(`SELECT COUNT(*) FROM "` + table + `"`).Scan(&n); err != nil {
		t.Fatalf("%s: count %s: %v", db.Name, table, err)
	}
	return n
}
