/* store.c — opening the SQLite database, migrations, the statement cache
 * and the helpers shared by the table families (keys.c, streams.c,
 * targets.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store_int.h"

#define STORE_BUSY_TIMEOUT_MS 5000

#define STORE__SQL(name, sql) sql,
static const char *const store_sql[STORE__N_STMT] = {STORE__STATEMENTS(STORE__SQL)};
#undef STORE__SQL

/* Bumped after every committed write by any store_t of this process. */
static atomic_uint_fast64_t store_write_gen;

/* ---- shared helpers ---- */

void store__done(sqlite3_stmt *s) {
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
}

int store__bind(sqlite3_stmt *s, const char *fmt, ...) {
  va_list ap;
  int rc = SQLITE_OK;
  va_start(ap, fmt);
  int i = 1;
  for (; *fmt && rc == SQLITE_OK; fmt++, i++) {
    switch (*fmt) {
      case 't': {
        const char *t = va_arg(ap, const char *);
        rc = t ? sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
        break;
      }
      case 'i':
        rc = sqlite3_bind_int(s, i, va_arg(ap, int));
        break;
      case 'l':
        rc = sqlite3_bind_int64(s, i, (sqlite3_int64)va_arg(ap, int64_t));
        break;
      default:
        rc = SQLITE_MISUSE;
    }
  }
  va_end(ap);
  /* A format that does not cover every ?N of the statement is a bug. */
  if (rc == SQLITE_OK && i - 1 != sqlite3_bind_parameter_count(s)) rc = SQLITE_RANGE;
  return rc;
}

int store__prepare(store_t *st, const char *sql, sqlite3_stmt **out, const char *op) {
  int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
  if (rc != SQLITE_OK) {
    *out = NULL;
    return store__fail(st, rc, op);
  }
  return 0;
}

int store__fail(store_t *st, int rc, const char *op) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      log_debug("store_conflict op=%s", op);
      return ERR_EXISTS;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      log_debug("store_missing_parent op=%s", op);
      return ERR_NOT_FOUND;
    case SQLITE_NOMEM:
      log_error("store_error op=%s rc=%d msg=\"out of memory\"", op, rc);
      return ERR_NOMEM;
    default:
      /* SQLite messages name tables and columns, never bound values. */
      log_error("store_error op=%s rc=%d msg=\"%s\"", op, rc, sqlite3_errmsg(st->db));
      return ERR_DB;
  }
}

int store__exec(store_t *st, sqlite3_stmt *s, const char *op, int *changes) {
  /* Safety net: a write must never run inside a read snapshot, where it
   * would stay uncommitted. (BEGIN/COMMIT count as read-only here.) */
  if (st->snapshot && !sqlite3_stmt_readonly(s)) store__snapshot_end(st);
  int rc = sqlite3_step(s);
  int ret = 0;
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
    if (changes) *changes = sqlite3_changes(st->db);
  } else {
    ret = store__fail(st, rc, op);
  }
  store__done(s);
  return ret;
}

static uint64_t store_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A write just committed: no snapshot of this process may serve reads now. */
static void store_wrote(void) {
  atomic_fetch_add(&store_write_gen, 1);
}

void store__snapshot_end(store_t *st) {
  if (!st->snapshot) return;
  st->snapshot = 0;
  /* SQLite may have ended it already (an error rolls back). */
  if (!sqlite3_get_autocommit(st->db)) {
    if (store__exec(st, st->stmt[STORE__COMMIT], "snapshot_end", NULL) != 0 &&
        !sqlite3_get_autocommit(st->db))
      store__exec(st, st->stmt[STORE__ROLLBACK], "snapshot_rollback", NULL);
  }
}

void store__read(store_t *st) {
  if (!st->snapshot && !sqlite3_get_autocommit(st->db)) return; /* inside a write transaction */
  uint64_t now = store_mono_us();
  uint64_t gen = atomic_load(&store_write_gen);
  if (st->snapshot) {
    if (!sqlite3_get_autocommit(st->db) && now - st->snapshot_us < STORE__SNAPSHOT_US &&
        gen == st->snapshot_gen)
      return;
    store__snapshot_end(st);
  }
  /* gen is read before the snapshot is taken (at the first SELECT), so a
   * write that lands in between only makes the snapshot end early. If BEGIN
   * fails the read simply runs in autocommit mode. */
  if (store__exec(st, st->stmt[STORE__BEGIN_READ], "snapshot_begin", NULL) == 0) {
    st->snapshot = 1;
    st->snapshot_us = now;
    st->snapshot_gen = gen;
  }
}

int store__run(store_t *st, sqlite3_stmt *s, int brc, const char *op, int *changes) {
  store__snapshot_end(st);
  if (brc != SQLITE_OK) {
    store__done(s);
    return store__fail(st, brc, op);
  }
  int rc = store__exec(st, s, op, changes);
  /* Outside a write transaction the statement committed on its own. */
  if (rc == 0 && sqlite3_get_autocommit(st->db)) store_wrote();
  return rc;
}

int store__begin(store_t *st) {
  store__snapshot_end(st);
  return store__exec(st, st->stmt[STORE__BEGIN_WRITE], "begin", NULL);
}

void store__rollback(store_t *st) {
  /* Harmless if SQLite already rolled back on its own (e.g. after
   * SQLITE_FULL). */
  if (!sqlite3_get_autocommit(st->db)) store__exec(st, st->stmt[STORE__ROLLBACK], "rollback", NULL);
}

int store__commit(store_t *st) {
  int rc = store__exec(st, st->stmt[STORE__COMMIT], "commit", NULL);
  if (rc)
    store__rollback(st);
  else
    store_wrote();
  return rc;
}

int store__end(store_t *st, int rc) {
  if (rc == 0) return store__commit(st);
  store__rollback(st);
  return rc;
}

void store__col_copy(sqlite3_stmt *s, int col, char *buf, size_t cap) {
  const unsigned char *t = sqlite3_column_text(s, col);
  size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
  if (n >= cap) n = cap - 1;
  if (n) memcpy(buf, t, n);
  buf[n] = '\0';
}

char *store__col_dup(sqlite3_stmt *s, int col, int *err) {
  if (sqlite3_column_type(s, col) == SQLITE_NULL) return NULL;
  const unsigned char *t = sqlite3_column_text(s, col);
  size_t n = (size_t)sqlite3_column_bytes(s, col);
  char *d = t ? malloc(n + 1) : NULL;
  if (!d) {
    *err = ERR_NOMEM;
    return NULL;
  }
  memcpy(d, t, n);
  d[n] = '\0';
  return d;
}

int store__fits(const char *buf, size_t cap) {
  size_t n = strnlen(buf, cap);
  return n > 0 && n < cap;
}

/* ---- open, migrate, close ---- */

static int store_exec_sql(store_t *st, const char *sql, const char *op) {
  char *msg = NULL;
  int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    log_error("store_error op=%s rc=%d msg=\"%s\"", op, rc, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc == SQLITE_NOMEM ? ERR_NOMEM : ERR_DB;
  }
  return 0;
}

static int store_read_version(store_t *st, int *version) {
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
  if (rc != SQLITE_OK) return store__fail(st, rc, "user_version");
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) *version = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  return rc == SQLITE_ROW ? 0 : store__fail(st, rc, "user_version");
}

/* Reads the version inside the write transaction, so two processes opening
 * a fresh database at once cannot both apply the same migration. */
static int store_migrate(store_t *st) {
  int rc = store_exec_sql(st, "BEGIN IMMEDIATE", "migrate_begin");
  if (rc) return rc;
  int from = 0;
  rc = store_read_version(st, &from);
  if (rc == 0 && from > store__n_migrations) {
    log_error("store_schema_too_new version=%d known=%d", from, store__n_migrations);
    rc = ERR_DB;
  }
  for (int v = from; rc == 0 && v < store__n_migrations; v++)
    rc = store_exec_sql(st, store__migrations[v], "migrate");
  if (rc == 0 && from < store__n_migrations) {
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store__n_migrations);
    rc = store_exec_sql(st, sql, "migrate_version");
  }
  if (rc == 0) rc = store_exec_sql(st, "COMMIT", "migrate_commit");
  if (rc) {
    if (!sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  if (from < store__n_migrations)
    log_info("store_migrated from=%d to=%d", from, store__n_migrations);
  return 0;
}

static int store_configure(store_t *st) {
  sqlite3_extended_result_codes(st->db, 1);
  sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
  /* journal_mode answers with the mode in effect; anything but "wal" means
   * WAL is unavailable here (e.g. a filesystem without shared memory). */
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
  if (rc != SQLITE_OK) return store__fail(st, rc, "journal_mode");
  rc = sqlite3_step(s);
  const unsigned char *mode = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
  int wal = mode && strcmp((const char *)mode, "wal") == 0;
  sqlite3_finalize(s);
  if (!wal) {
    if (rc != SQLITE_ROW) return store__fail(st, rc, "journal_mode");
    log_error("store_error op=journal_mode msg=\"WAL not available\"");
    return ERR_DB;
  }
  /* FULL: with WAL, every commit fsyncs the log, so a write that returned
   * survives a power cut (NORMAL would only protect against a crash). */
  return store_exec_sql(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", "pragmas");
}

static int store_prepare_all(store_t *st) {
  for (int i = 0; i < STORE__N_STMT; i++) {
    int rc =
        sqlite3_prepare_v3(st->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL);
    if (rc != SQLITE_OK) {
      log_error("store_error op=prepare index=%d rc=%d msg=\"%s\"", i, rc, sqlite3_errmsg(st->db));
      return rc == SQLITE_NOMEM ? ERR_NOMEM : ERR_DB;
    }
  }
  return 0;
}

/* The database holds key hashes and stream keys: create it 0600 before
 * SQLite does (SQLite gives -wal and -shm the mode of the database file). */
static int store_create_file(const char *path) {
  /* O_EXCL: never open+close an existing database. close() drops every
   * POSIX lock this process holds on the file, including those of the
   * store_t handles already open (a second handle, e.g. the webhook
   * thread's): another process would then think it is the last user,
   * checkpoint and delete the WAL under us, and our reads go stale. */
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno == EEXIST ? 0 : ERR_IO;
  close(fd);
  return 0;
}

int store_open(const char *data_dir, store_t **out) {
  *out = NULL;
  if (!data_dir || !*data_dir) return ERR_INVALID;
  int rc = util_mkdirs(data_dir);
  if (rc) {
    log_error("store_open_failed dir=%s err=%s", data_dir, err_str(rc));
    return rc;
  }
  char path[4096];
  if ((size_t)snprintf(path, sizeof(path), "%s/onair.db", data_dir) >= sizeof(path))
    return ERR_INVALID;
  if ((rc = store_create_file(path)) != 0) {
    log_error("store_open_failed path=%s err=%s", path, err_str(rc));
    return rc;
  }
  store_t *st = calloc(1, sizeof(*st));
  if (!st) return ERR_NOMEM;
  /* NOMUTEX: a store_t is used by one thread at a time (see store.h). */
  int src = sqlite3_open_v2(path, &st->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (src != SQLITE_OK) {
    log_error("store_open_failed path=%s rc=%d msg=\"%s\"", path, src,
              st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(src));
    store_close(st);
    return src == SQLITE_NOMEM ? ERR_NOMEM : ERR_DB;
  }
  if ((rc = store_configure(st)) != 0 || (rc = store_migrate(st)) != 0 ||
      (rc = store_prepare_all(st)) != 0) {
    store_close(st);
    return rc;
  }
  *out = st;
  return 0;
}

void store_close(store_t *st) {
  if (!st) return;
  if (st->db && st->stmt[STORE__COMMIT]) store__snapshot_end(st);
  for (int i = 0; i < STORE__N_STMT; i++) sqlite3_finalize(st->stmt[i]);
  if (st->db) {
    int rc = sqlite3_close(st->db);
    if (rc != SQLITE_OK) log_error("store_error op=close rc=%d msg=\"%s\"", rc, sqlite3_errstr(rc));
  }
  free(st);
}

int store_schema_version(store_t *st) {
  sqlite3_stmt *s = st->stmt[STORE__USER_VERSION];
  int v = -1;
  if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int(s, 0);
  store__done(s);
  return v;
}

int store_relax_durability(store_t *st) {
  return store_exec_sql(st, "PRAGMA synchronous = NORMAL;", "relax_durability");
}
