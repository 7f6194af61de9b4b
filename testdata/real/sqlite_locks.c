/*
 * sqlite_locks: SQLite (the Debian libsqlite3.a, linked statically) on a
 * database file under /tmp, shared by two processes. The parent creates
 * a table and holds a write transaction while the child, with its own
 * connection, tries to write (SQLITE_BUSY: SQLite's fcntl record locks
 * conflict), then writes again after the commit; a second round has the
 * child wait in sqlite3_busy_timeout until the parent commits. Both print
 * query results. The child forks before any connection is opened (SQLite
 * forbids carrying a connection across fork).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void out(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0 && write(1, buf, (size_t)n) < 0)
		_exit(98);
}

static char path[64];
static int to_child[2], to_parent[2];

static void put(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(97);
}

static void get(int fd)
{
	char c;
	if (read(fd, &c, 1) != 1)
		_exit(96);
}

static int row(void *who, int n, char **vals, char **names)
{
	(void)names;
	char line[256] = "";
	for (int i = 0; i < n; i++) {
		strncat(line, vals[i] ? vals[i] : "NULL", sizeof line - strlen(line) - 2);
		if (i + 1 < n)
			strcat(line, "|");
	}
	out("%s: %s\n", (const char *)who, line);
	return 0;
}

static const char *rcname(int rc)
{
	switch (rc) {
	case SQLITE_OK: return "OK";
	case SQLITE_BUSY: return "BUSY";
	case SQLITE_LOCKED: return "LOCKED";
	default: return sqlite3_errstr(rc);
	}
}

static int exec(sqlite3 *db, const char *who, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, row, (void *)who, &err);
	out("%s: [%s] -> %s\n", who, sql, rcname(rc));
	sqlite3_free(err);
	return rc;
}

/* Runs a statement that prints nothing, without printing its result (the
 * caller prints it once the other process is known to be done). */
static int quiet(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	sqlite3_free(err);
	return rc;
}

static sqlite3 *open_db(const char *who)
{
	sqlite3 *db;
	int rc = sqlite3_open(path, &db);
	out("%s: open -> %s\n", who, rcname(rc));
	if (rc != SQLITE_OK)
		_exit(2);
	return db;
}

static void child(void)
{
	get(to_child[0]);
	sqlite3 *db = open_db("child");
	exec(db, "child", "SELECT count(*) FROM t");
	/* The parent holds a write transaction. */
	exec(db, "child", "INSERT INTO t VALUES (100, 'from the child')");
	put(to_parent[1], 'b');
	get(to_child[0]);
	/* Committed: now it goes through. */
	exec(db, "child", "INSERT INTO t VALUES (101, 'from the child, after commit')");
	/* Round two: wait in the busy handler while the parent writes. */
	put(to_parent[1], 'c');
	get(to_child[0]);
	sqlite3_busy_timeout(db, 10000);
	exec(db, "child", "INSERT INTO t VALUES (102, 'after waiting')");
	exec(db, "child", "SELECT x, y FROM t ORDER BY x");
	sqlite3_close(db);
	_exit(0);
}

int main(void)
{
	snprintf(path, sizeof path, "/tmp/sqlite_locks.%d.db", (int)getpid());
	if (pipe(to_child) || pipe(to_parent))
		return 3;
	pid_t c = fork();
	if (c < 0)
		return 4;
	if (c == 0)
		child();
	sqlite3 *db = open_db("parent");
	exec(db, "parent", "CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT)");
	exec(db, "parent", "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')");
	exec(db, "parent", "BEGIN IMMEDIATE");
	exec(db, "parent", "INSERT INTO t VALUES (4, 'four')");
	put(to_child[1], 'a');
	get(to_parent[0]);
	exec(db, "parent", "COMMIT");
	put(to_child[1], 'b');
	get(to_parent[0]);
	exec(db, "parent", "BEGIN EXCLUSIVE");
	exec(db, "parent", "UPDATE t SET y = upper(y) WHERE x < 4");
	put(to_child[1], 'c');
	struct timespec ts = {0, 300000000};
	nanosleep(&ts, NULL);
	out("parent: commits\n");
	int rc = quiet(db, "COMMIT");
	int st;
	waitpid(c, &st, 0);
	out("parent: [COMMIT] -> %s\n", rcname(rc));
	out("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	exec(db, "parent", "SELECT x, y FROM t ORDER BY x");
	exec(db, "parent", "PRAGMA integrity_check");
	sqlite3_close(db);
	unlink(path);
	char j[80];
	snprintf(j, sizeof j, "%s-journal", path);
	unlink(j);
	return 0;
}
